//! `wsgictl render`: print every file apply would write, or write them under a directory.
//!
//! Secret values are resolved (so a missing one fails here) but only their redacted form is
//! ever printed or written.

use crate::cli::{Cli, RenderArgs};
use crate::desired::{DesiredState, mode_string};
use crate::exit::ExitStatus;
use crate::render::{Selection, render_all};
use anyhow::Context as _;
use std::io::Write as _;
use std::path::Path;

pub fn run(cli: &Cli, args: &RenderArgs) -> anyhow::Result<ExitStatus> {
    let (m, templates) = super::load(cli)?;
    let sel = Selection {
        host: args.host.clone(),
        app: args.app.clone(),
        limit: None,
    };
    let states = render_all(&m, &templates, &sel, &|v| std::env::var(v).ok())?;
    match &args.out {
        Some(dir) => {
            let n = write_tree(&states, dir)?;
            println!("wrote {n} files under {}", dir.display());
        }
        None => print(&states, &templates)?,
    }
    Ok(ExitStatus::Success)
}

fn print(states: &[DesiredState], templates: &crate::templates::Templates) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for s in states {
        for d in &s.dirs {
            writeln!(
                out,
                "--- {}:{}/ (directory, {}:{} {})",
                s.host,
                d.path,
                d.owner,
                d.group,
                mode_string(d.mode)
            )?;
        }
        writeln!(out)?;
        for f in &s.files {
            let origin = match templates.get(f.template).map(|e| &e.origin) {
                Some(crate::templates::Origin::Override(p)) => format!("override {}", p.display()),
                _ => format!("built-in {}", f.template),
            };
            writeln!(
                out,
                "--- {}:{} ({}:{} {}, from {origin})",
                s.host,
                f.path,
                f.owner,
                f.group,
                mode_string(f.mode)
            )?;
            let text = f.content.shown();
            write!(out, "{text}")?;
            if !text.ends_with('\n') {
                writeln!(out)?;
            }
            writeln!(out)?;
        }
    }
    Ok(())
}

/// Write each file under `dir/<host>/<remote path>` with its mode (not its owner); directories
/// are created. Returns the number of files written.
fn write_tree(states: &[DesiredState], dir: &Path) -> anyhow::Result<usize> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut n = 0;
    for s in states {
        let base = dir.join(&s.host);
        for d in &s.dirs {
            let p = base.join(d.path.trim_start_matches('/'));
            std::fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
        }
        for f in &s.files {
            let p = base.join(f.path.trim_start_matches('/'));
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(&p, f.content.shown())
                .with_context(|| format!("writing {}", p.display()))?;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(f.mode))
                .with_context(|| format!("setting the mode of {}", p.display()))?;
            n += 1;
        }
    }
    Ok(n)
}
