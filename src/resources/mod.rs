//! Planning: desired state × facts → a [`Plan`], one [`Change`] per resource, in apply order.
//!
//! Stage: plan. **Nothing here performs I/O**: every decision is made from the facts of the
//! single gather round trip (and the local source scan, done before). If a decision needs more
//! information, add a probe to [`probes`]. A fact that could not be read makes the plan fail
//! with the reason, rather than guess.

mod access;
mod accounts;
mod files;
mod hooks;
mod links;
pub mod packages;
pub mod release;
mod replaced;
mod settings;
mod source;
mod supervision;
mod tls;
mod venv;

use crate::desired::{DesiredState, FileRole};
use crate::facts::{Fact, Facts, Probe};
use crate::plan::{Action, Change, Handler, Plan};
use crate::resource_id::ResourceId;
use crate::source::SourceFile;
use std::collections::BTreeMap;

/// What the plan needs to know that is not in the desired state.
pub struct Inputs<'a> {
    pub desired: &'a DesiredState,
    /// Local source files per app.
    pub sources: &'a BTreeMap<String, Vec<SourceFile>>,
    pub facts: &'a Facts,
    /// Secret env names per app, so diffs of env files can be redacted.
    pub secrets: &'a BTreeMap<String, Vec<String>>,
    /// Seconds since the epoch, for new release ids (a saved plan's time when applying it).
    pub now: u64,
}

/// The probes a desired state needs, for each candidate Apache layout.
pub fn probes(host: &crate::manifest::Host, states: &[DesiredState]) -> Vec<Probe> {
    let mut p = vec![Probe::System];
    match states.first().and_then(|s| s.rootless.as_ref()) {
        Some(r) => p.push(Probe::UserApache {
            server_root: r.server_root.clone(),
        }),
        None => p.push(Probe::Apache {
            confdir: host.apache.confdir.clone(),
        }),
    }
    if let Some(s) = states.first() {
        p.push(Probe::SumsCache {
            file: format!("{}/{}", s.state_dir, crate::facts::paths::CACHE),
        });
    }
    for s in states {
        p.push(Probe::Leftovers {
            lock: s.lock.clone(),
            prefix: s.backup_prefix.clone(),
            run_dir: s.run_dir.clone(),
        });
        for a in &s.accounts {
            p.push(Probe::Group {
                name: a.group.clone(),
            });
            p.push(Probe::Account {
                name: a.user.clone(),
            });
        }
        for d in &s.dirs {
            // The directory and every ancestor: whether the Apache and daemon users can
            // traverse to the app, its `.wsgi`, static and media files.
            for a in ancestors(&d.path) {
                p.push(Probe::Path {
                    path: a,
                    want_sha256: None,
                });
            }
            p.push(Probe::Path {
                path: d.path.clone(),
                want_sha256: None,
            });
        }
        for src in &s.sources {
            p.push(Probe::Tree {
                path: src.dest.clone(),
            });
        }
        for r in &s.releases {
            p.push(Probe::Releases {
                root: r.root.clone(),
                static_link: r.static_link.clone(),
            });
            // A host deployed before releases: its code is compared with the local source.
            p.push(Probe::Tree {
                path: r.legacy_src(),
            });
        }
        for v in &s.venvs {
            p.push(Probe::Interpreter {
                path: v.python.clone(),
            });
            p.push(Probe::Reach {
                user: v.user.clone(),
                path: v.python.clone(),
            });
            p.push(Probe::Venv {
                path: v.path.clone(),
            });
        }
        for f in &s.files {
            // The host-wide file depends on facts (Listen lines): its hash is not known yet.
            let want = (f.role != FileRole::HostConf)
                .then(|| crate::source::sha256_hex(f.content.secret_text().as_bytes()));
            p.push(Probe::Path {
                path: f.path.clone(),
                want_sha256: want,
            });
        }
        p.push(Probe::Path {
            path: s.reload_marker.clone(),
            want_sha256: None,
        });
        // Steps an earlier apply owes: each hook, and each app's restart.
        let owed = s.hooks.iter().map(|h| s.owed(&h.app, h.name.name())).chain(
            s.files
                .iter()
                .filter(|f| f.role == FileRole::WsgiScript)
                .filter_map(|f| f.app.as_deref())
                .map(|a| s.owed(a, "touch")),
        );
        for path in owed {
            p.push(Probe::Path {
                path,
                want_sha256: None,
            });
        }
        for a in &s.access {
            p.push(Probe::Account {
                name: a.user.clone(),
            });
            for dir in ancestors(&a.path) {
                p.push(Probe::Path {
                    path: dir,
                    want_sha256: None,
                });
            }
        }
        for r in &s.replaced {
            for path in std::iter::once(&r.path).chain(&r.enabled) {
                p.push(Probe::Path {
                    path: path.clone(),
                    want_sha256: None,
                });
            }
        }
        for l in &s.links {
            p.push(Probe::Path {
                path: l.path.clone(),
                want_sha256: None,
            });
        }
        for c in &s.certificates {
            p.push(Probe::Certificate {
                cert: c.certificate.clone(),
                key: c.key.clone(),
            });
        }
        for c in &s.settings_checks {
            p.push(Probe::Settings {
                app: c.expect.app.clone(),
                data: crate::facts::settings::data(&c.expect, &c.user, &c.venv, &c.python_path),
            });
        }
    }
    p
}

/// `/srv/blog/static` → `/`, `/srv`, `/srv/blog`.
pub(crate) fn ancestors(path: &str) -> Vec<String> {
    let p = std::path::Path::new(path);
    let mut out: Vec<String> = p
        .ancestors()
        .skip(1)
        .map(|a| a.display().to_string())
        .collect();
    out.reverse();
    out
}

/// Plan one host. Fails when a fact it needs could not be read.
pub fn plan(i: &Inputs<'_>) -> anyhow::Result<Plan> {
    let mut changes = Vec::new();
    changes.extend(packages::plan(i));
    changes.extend(accounts::plan(i)?);
    changes.extend(files::plan_dirs(i)?);
    // Traversal right after the directories, not after the vhosts: the daemon user must reach
    // its root already for the Django hooks, and nothing is served before the reload anyway.
    changes.extend(access::plan(i)?);
    let mut sources = source::plan(i)?;
    let venvs = venv::plan(i)?;
    // The app's own files, then its Django hooks (they need the env file), then Apache's.
    let (mut app_files, apache_files): (Vec<Change>, Vec<Change>) =
        files::plan_files(i)?.into_iter().partition(|c| {
            matches!(
                c.id,
                ResourceId::WsgiScript(_) | ResourceId::EnvFile(_) | ResourceId::Overlay(_)
            )
        });
    // A new release (its code, `.wsgi` and env file go into it), or a switch back to one.
    let releases = release::plan(i, &mut sources, &venvs, &mut app_files)?;
    changes.extend(releases.iter().filter_map(|d| d.create.clone()));
    changes.extend(sources);
    changes.extend(venvs);
    changes.extend(app_files);
    let mut hooks = hooks::plan(i, &changes)?;
    // The settings check goes right before the app's first hook.
    let mut checks = settings::plan(i, &hooks);
    release::redirect(i, &releases, &mut checks);
    release::redirect(i, &releases, &mut hooks);
    changes.extend(checks);
    changes.extend(hooks);
    // Migrations ran in the new release; now it runs (before Apache's files: a failed
    // configtest switches back).
    changes.extend(releases.iter().filter_map(|d| d.switch.clone()));
    // With ACME, the TLS vhost (and its link) waits for its certificate: the plain-HTTP vhost
    // is written and reloaded first, certbot runs, then the TLS vhost goes in.
    let (later, now): (Vec<Change>, Vec<Change>) = apache_files
        .into_iter()
        .chain(replaced::plan(i)?)
        .chain(links::plan(i)?)
        .partition(|c| tls::waits_for_certificate(i, c));
    let reload_first = tls::reload_first(i, &now)?;
    changes.extend(now);
    changes.extend(tls::plan(i, reload_first)?);
    changes.extend(later);
    settings::annotate_wsgi(i, &mut changes);
    changes.extend(owed_restarts(i)?);
    changes.extend(pending_reload(i)?);
    changes.extend(stopped_apache(i));
    let supervision = supervision::plan(i, &changes)?;
    changes.extend(supervision);
    let mut handlers = handlers(&changes, i.desired);
    for d in releases {
        changes.extend(d.removals);
        handlers.extend(d.handler);
    }
    Ok(Plan {
        host: i.desired.host.clone(),
        findings: Vec::new(),
        changes,
        handlers,
        planned_at: i.now,
        rootless: None,
    })
}

/// A graceful reload when Apache's configuration changes; otherwise touch the `.wsgi` of each
/// app whose code, packages or environment changed (mod_wsgi restarts that daemon group only).
fn handlers(changes: &[Change], desired: &DesiredState) -> Vec<Handler> {
    let changed = |c: &&Change| c.action != Action::NoOp;
    // Apache's configuration changed, an earlier run left a reload pending, or Apache is down.
    let apache = changes
        .iter()
        .filter(changed)
        .any(|c| c.id.reloads_apache());
    if apache {
        return vec![Handler::ConfigtestAndReload];
    }
    let mut out = Vec::new();
    for f in desired
        .files
        .iter()
        .filter(|f| f.role == FileRole::WsgiScript)
    {
        let app = f.app.clone().unwrap_or_default();
        let touched = changes.iter().filter(changed).any(|c| c.id.restarts(&app));
        if touched {
            out.push(Handler::TouchWsgi {
                app,
                path: f.path.clone(),
            });
        }
    }
    out
}

/// Apache installed but not running: the site is down whatever the files say. Apply's
/// configtest-and-graceful handler starts it.
fn stopped_apache(i: &Inputs<'_>) -> Option<Change> {
    let apache = i.facts.apache.known()?.as_ref()?;
    (!apache.running).then(|| Change {
        id: ResourceId::ApacheService,
        action: Action::Update,
        reason: format!(
            "Apache ({}) is not running; apply starts it after a configtest",
            apache.confdir
        ),
        before: None,
        details: Vec::new(),
        diff: None,
        ops: Vec::new(),
    })
}

/// Whether an earlier apply left the marker of a step it owes (`marker` must be probed).
pub(crate) fn owed(i: &Inputs<'_>, marker: &str) -> anyhow::Result<bool> {
    Ok(!matches!(
        known(i.facts.paths.get(marker), marker)?,
        crate::facts::PathState::Missing
    ))
}

/// Daemon restarts an earlier apply owes: it changed the app's code or environment and was
/// stopped (or failed) before it touched the `.wsgi`.
fn owed_restarts(i: &Inputs<'_>) -> anyhow::Result<Vec<Change>> {
    let mut out = Vec::new();
    for f in &i.desired.files {
        let (FileRole::WsgiScript, Some(app)) = (f.role, f.app.as_deref()) else {
            continue;
        };
        let marker = i.desired.owed(app, "touch");
        if owed(i, &marker)? {
            out.push(Change {
                id: ResourceId::Restart(app.to_string()),
                action: Action::Update,
                reason: format!(
                    "an earlier apply changed the app but did not restart its daemon ({marker})"
                ),
                before: None,
                details: Vec::new(),
                diff: None,
                ops: Vec::new(),
            });
        }
    }
    Ok(out)
}

/// A reload that an earlier apply promised (its marker is on the host) but never did.
fn pending_reload(i: &Inputs<'_>) -> anyhow::Result<Option<Change>> {
    let marker = &i.desired.reload_marker;
    Ok(owed(i, marker)?.then(|| Change {
        id: ResourceId::PendingReload,
        action: Action::Update,
        reason: format!(
            "an earlier apply changed Apache's configuration but did not reload it ({marker})"
        ),
        before: None,
        details: Vec::new(),
        diff: None,
        ops: Vec::new(),
    }))
}

/// The known fact, or an error naming what could not be read.
fn known<'a, T>(fact: Option<&'a Fact<T>>, what: &str) -> anyhow::Result<&'a T> {
    match fact {
        Some(Fact::Known(t)) => Ok(t),
        Some(Fact::Unknown { error }) => anyhow::bail!("could not read {what}: {error}"),
        None => anyhow::bail!("{what} was not probed"),
    }
}

fn noop(id: ResourceId, reason: String) -> Change {
    Change {
        id,
        action: Action::NoOp,
        reason,
        before: None,
        details: Vec::new(),
        diff: None,
        ops: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ancestors_from_the_root_down() {
        assert_eq!(
            super::ancestors("/srv/blog/static"),
            vec!["/", "/srv", "/srv/blog"]
        );
        assert!(super::ancestors("/").is_empty());
    }
}
