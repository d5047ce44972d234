//! The site manifest: `site.kdl` → a validated [`Manifest`], or every problem at once.
//!
//! Stage: load. Reads the manifest file and checks the local paths it names; nothing here
//! touches a host or resolves a secret value (that is `render`'s job, so `check` never needs
//! the secrets to be present).

mod checks;
mod decode;
pub use decode::app::DAEMON as DAEMON_OPTIONS;
pub mod diag;
mod local;
pub mod model;
pub mod rules;

pub use diag::{ManifestError, Problem};
pub use local::expand_local;
pub use model::*;

use anyhow::Context as _;
use miette::NamedSource;
use std::path::Path;

/// Load and validate the manifest at `path`.
///
/// An unreadable file is an `anyhow` error; an invalid one is a [`ManifestError`] (downcast it
/// to render the diagnostics).
pub fn load(path: &Path) -> anyhow::Result<Manifest> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading manifest {}", path.display()))?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = dir
        .canonicalize()
        .with_context(|| format!("resolving the directory of {}", path.display()))?;
    parse(&text, &path.display().to_string(), &dir).map(|(templates, hosts, apps)| Manifest {
        path: path.to_path_buf(),
        dir,
        templates,
        hosts,
        apps,
    })
}

type Parts = (Option<std::path::PathBuf>, Vec<Host>, Vec<App>);

/// Parse manifest text named `name`, resolving local paths against `dir`.
pub fn parse(text: &str, name: &str, dir: &Path) -> anyhow::Result<Parts> {
    let src = || NamedSource::new(name, text.to_string()).with_language("kdl");
    let doc: kdl::KdlDocument = match text.parse() {
        Ok(doc) => doc,
        Err(e) => {
            let e: kdl::KdlError = e;
            let problems = e
                .diagnostics
                .into_iter()
                .map(|d| Problem {
                    code: "syntax",
                    message: d.message.unwrap_or_else(|| "invalid KDL".into()),
                    span: d.span,
                    label: d.label.unwrap_or_else(|| "here".into()),
                    help: Some(d.help.unwrap_or_else(|| {
                        "wsgictl reads KDL v2: strings are quoted, booleans are #true / #false"
                            .into()
                    })),
                })
                .collect();
            return Err(ManifestError {
                src: src(),
                problems,
            }
            .into());
        }
    };
    let mut decoder = decode::Decoder::new(dir);
    let (templates, hosts, apps) = decoder.document(&doc);
    let mut problems = decoder.problems;
    checks::check(&hosts, &apps, &mut problems);
    if hosts.is_empty() && apps.is_empty() && problems.is_empty() {
        problems.push(Problem {
            code: "empty",
            message: "the manifest declares no host and no app".into(),
            span: (0, 0).into(),
            label: "empty".into(),
            help: Some("start from site.kdl.example: a `host` block and an `app` block".into()),
        });
    }
    if !problems.is_empty() {
        problems.sort_by_key(|p| p.span.offset());
        return Err(ManifestError {
            src: src(),
            problems,
        }
        .into());
    }
    Ok((templates, hosts, apps))
}
