//! Templates: the built-in modules (compiled in from `modules/`) and the manifest's overrides.
//!
//! Stage: render (no I/O but reading the override directory once, at construction). A built-in
//! is named `<module>/<file>` (its path under `modules/` without `.tera`); a file at the same
//! relative path in the manifest's `templates` directory replaces it. Files there that match no
//! built-in are listed as ignored rather than silently dropped. Autoescaping is off (these are
//! config and Python files, not HTML): values go through the explicit `apache`, `py` and `sh`
//! filters instead.

use anyhow::{Context as _, bail};
use serde::Serialize;
use std::path::{Path, PathBuf};
use tera::{Kwargs, State, Tera, TeraResult};

/// A built-in template.
pub struct Builtin {
    pub name: &'static str,
    pub source: &'static str,
    /// What apply writes from it, for `templates list`.
    pub about: &'static str,
}

pub const VHOST: &str = "apache/vhost.conf";
pub const HOST_CONF: &str = "apache/wsgictl.conf";
pub const WSGI_SCRIPT: &str = "wsgi/app.wsgi";
pub const ENV_FILE: &str = "wsgi/app.env";
pub const REDIRECT: &str = "apache/redirect.conf";
pub const OVERLAY: &str = "django/wsgictl_settings.py";
pub const DEPLOY_HOOK: &str = "certbot/deploy-hook.sh";
pub const USER_HTTPD: &str = "apache/httpd.conf";
pub const USER_CTL: &str = "rootless/apachectl";
pub const USER_ENVVARS: &str = "rootless/envvars";
pub const USER_WATCHDOG: &str = "rootless/watchdog";
pub const USER_UNIT: &str = "rootless/wsgictl-apache.service";

pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: VHOST,
        source: include_str!("../modules/apache/vhost.conf.tera"),
        about: "one Apache vhost per app, mod_wsgi daemon mode",
    },
    Builtin {
        name: REDIRECT,
        source: include_str!("../modules/apache/redirect.conf.tera"),
        about: "with tls: the plain-HTTP vhost (301 to https, ACME challenges), one per app",
    },
    Builtin {
        name: HOST_CONF,
        source: include_str!("../modules/apache/wsgictl.conf.tera"),
        about: "host-wide Apache settings and Listen lines, one per host",
    },
    Builtin {
        name: WSGI_SCRIPT,
        source: include_str!("../modules/wsgi/app.wsgi.tera"),
        about: "the .wsgi script mod_wsgi loads, one per app",
    },
    Builtin {
        name: OVERLAY,
        source: include_str!("../modules/django/wsgictl_settings.py.tera"),
        about: "with django { overlay #true }: the project's settings with the manifest's on top",
    },
    Builtin {
        name: DEPLOY_HOOK,
        source: include_str!("../modules/certbot/deploy-hook.sh.tera"),
        about: "with acme: certbot's deploy hook (configtest, then reload this Apache instance), one per instance",
    },
    Builtin {
        name: USER_HTTPD,
        source: include_str!("../modules/apache/httpd.conf.tera"),
        about: "rootless: the account's whole Apache configuration (Listen, modules, logs), one per host",
    },
    Builtin {
        name: USER_CTL,
        source: include_str!("../modules/rootless/apachectl.tera"),
        about: "rootless: runs the host's Apache binary on the account's server root, one per host",
    },
    Builtin {
        name: USER_ENVVARS,
        source: include_str!("../modules/rootless/envvars.tera"),
        about: "rootless: the environment the account's Apache starts with, one per host",
    },
    Builtin {
        name: USER_WATCHDOG,
        source: include_str!("../modules/rootless/watchdog.tera"),
        about: "rootless with cron: starts the account's Apache when it is down, one per host",
    },
    Builtin {
        name: USER_UNIT,
        source: include_str!("../modules/rootless/wsgictl-apache.service.tera"),
        about: "rootless with systemd --user: the account's Apache as a user service, one per host",
    },
    Builtin {
        name: ENV_FILE,
        source: include_str!("../modules/wsgi/app.env.tera"),
        about: "the app's environment and secrets, one per app",
    },
];

/// Where a template's text came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Builtin,
    Override(PathBuf),
}

#[derive(Debug)]
pub struct Entry {
    pub name: &'static str,
    pub about: &'static str,
    pub origin: Origin,
    pub source: String,
}

pub struct Templates {
    tera: Tera,
    entries: Vec<Entry>,
    ignored: Vec<PathBuf>,
}

impl Templates {
    /// The built-ins, with the overrides found in `dir` (if any) taking their place.
    pub fn load(dir: Option<&Path>) -> anyhow::Result<Self> {
        let mut tera = Tera::new();
        tera.autoescape_on(Vec::<&str>::new());
        tera.register_filter(
            "apache",
            |s: &str, _: Kwargs, _: &State| -> TeraResult<String> {
                crate::quote::apache(s).map_err(tera::Error::message)
            },
        );
        tera.register_filter("py", |s: &str, _: Kwargs, _: &State| {
            crate::quote::python(s)
        });
        tera.register_filter(
            "sh",
            |s: &str, _: Kwargs, _: &State| -> TeraResult<String> {
                crate::shell::quote(s)
                    .map(|q| q.into_owned())
                    .map_err(tera::Error::message)
            },
        );

        let mut entries = Vec::new();
        for b in BUILTINS {
            let (origin, source) = match dir.map(|d| d.join(b.name)).filter(|p| p.is_file()) {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading template override {}", path.display()))?;
                    (Origin::Override(path), text)
                }
                None => (Origin::Builtin, b.source.to_string()),
            };
            tera.add_raw_template(b.name, &source)
                .map_err(|e| match &origin {
                    Origin::Override(p) => {
                        anyhow::anyhow!("parsing template override {}: {e}", p.display())
                    }
                    Origin::Builtin => anyhow::anyhow!("parsing built-in template {}: {e}", b.name),
                })?;
            entries.push(Entry {
                name: b.name,
                about: b.about,
                origin,
                source,
            });
        }
        let ignored = match dir {
            Some(d) => unknown_files(d)?,
            None => Vec::new(),
        };
        Ok(Templates {
            tera,
            entries,
            ignored,
        })
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// Files in the override directory that replace no built-in.
    pub fn ignored(&self) -> &[PathBuf] {
        &self.ignored
    }

    /// Render template `name` with a typed context.
    pub fn render(&self, name: &str, ctx: &impl Serialize) -> anyhow::Result<String> {
        let Some(entry) = self.get(name) else {
            bail!("no template named {name}")
        };
        let ctx = tera::Context::from_serialize(ctx).map_err(|e| anyhow::anyhow!("{e}"))?;
        self.tera
            .render(name, &ctx)
            .map_err(|e| match &entry.origin {
                Origin::Override(p) => anyhow::anyhow!("{e} (in the override {})", p.display()),
                Origin::Builtin => anyhow::anyhow!("{e}"),
            })
    }
}

/// Every file below `dir` (dotfiles and `*.md` aside) that is not a built-in's name.
fn unknown_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d)
            .with_context(|| format!("reading template directory {}", d.display()))?;
        for entry in rd {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') || name.ends_with(".md") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .into_owned();
                if !BUILTINS.iter().any(|b| b.name == rel) {
                    out.push(path);
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses() {
        let t = Templates::load(None).unwrap();
        assert_eq!(t.entries().len(), BUILTINS.len());
        assert!(t.entries().iter().all(|e| e.origin == Origin::Builtin));
    }

    #[test]
    fn filters_quote_and_refuse() {
        let mut t = Templates::load(None).unwrap();
        t.tera
            .add_raw_template("t", "{{ v | apache }} {{ v | py }} {{ v | sh }}")
            .unwrap();
        let mut ctx = tera::Context::new();
        ctx.insert("v", "a \"b\" 'c'");
        assert_eq!(
            t.tera.render("t", &ctx).unwrap(),
            r#""a \"b\" 'c'" "a \"b\" 'c'" "a \"b\" 'c'""#
        );
        ctx.insert("v", "${X}");
        assert!(t.tera.render("t", &ctx).is_err());
    }
}
