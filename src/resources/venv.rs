//! The app's virtualenv and the packages in it. Pure.
//!
//! A venv is (re)created when it is missing, its interpreter no longer runs, or it was built
//! from another interpreter than the manifest's `python` (pyvenv.cfg's `home`). Packages are
//! (re)installed when the venv's marker does not hold the hash of what should be installed, and
//! reinstalled by force when site-packages no longer matches the digest apply recorded after
//! its last install (a package deleted or replaced by hand: the next daemon start would fail).

use super::{Inputs, known, noop};
use crate::plan::{Action, Change, Fingerprint, Op, SeenKind};
use crate::resource_id::ResourceId;

pub fn plan(i: &Inputs<'_>) -> anyhow::Result<Vec<Change>> {
    let mut out = Vec::new();
    for v in &i.desired.venvs {
        let seen = i
            .facts
            .fingerprints
            .get(&format!("venv {}", v.path))
            .map(|fp| Fingerprint::seen(SeenKind::Venv, &v.path, fp));
        let state = known(i.facts.venvs.get(&v.path), &format!("venv {}", v.path))?;
        let want_home = std::path::Path::new(&v.python)
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let recreate = match state {
            None => Some((
                Action::Create,
                format!("create {} from {}", v.path, v.python),
            )),
            Some(s) if !s.python.chars().next().is_some_and(|c| c.is_ascii_digit()) => Some((
                Action::Update,
                format!(
                    "its python does not run ({}); recreate from {}",
                    s.python, v.python
                ),
            )),
            Some(s) if s.home.as_deref().is_some_and(|h| h != want_home) => Some((
                Action::Update,
                format!(
                    "built from {} (python {}), not {}; recreate",
                    s.home.as_deref().unwrap_or("?"),
                    s.python,
                    v.python
                ),
            )),
            Some(s) => {
                out.push(noop(
                    ResourceId::Venv(v.app.clone()),
                    format!("{} (python {})", v.path, s.python),
                ));
                None
            }
        };
        let fresh = recreate.is_some();
        if let Some((action, reason)) = recreate {
            out.push(Change {
                id: ResourceId::Venv(v.app.clone()),
                action,
                reason,
                before: seen.clone(),
                details: Vec::new(),
                diff: None,
                ops: vec![Op::CreateVenv {
                    path: v.path.clone(),
                    python: v.python.clone(),
                }],
            });
        }
        let marker = state.as_ref().and_then(|s| s.marker.as_deref());
        let id = ResourceId::PipPackages(v.app.clone());
        let digests = state
            .as_ref()
            .map(|s| (s.recorded.as_deref(), s.installed.as_deref()));
        let same = !fresh && marker == Some(v.requirements_sha256.as_str());
        let install = |action, reason: String, details, force| Change {
            id: id.clone(),
            action,
            reason,
            before: seen.clone(),
            details,
            diff: None,
            ops: vec![Op::PipInstall {
                venv: v.path.clone(),
                requirements_sha256: v.requirements_sha256.clone(),
                force,
            }],
        };
        out.push(
            if same && let Some((None, _)) = digests {
                // Installed by an earlier version: record what is there now.
                install(
                    Action::Update,
                    "no record of what site-packages held after the last install; check and record it".into(),
                    Vec::new(),
                    false,
                )
            } else if same && let Some((Some(was), now)) = digests && Some(was) != now {
                install(
                    Action::Update,
                    format!(
                        "site-packages changed since the last install (a package was removed or replaced by hand): reinstall the requirements into {}",
                        v.path
                    ),
                    vec![format!(
                        "site-packages digest {} → {}",
                        short(was),
                        now.map_or("none", short)
                    )],
                    true,
                )
            } else if same {
                noop(id, "requirements and site-packages unchanged since the last install".into())
            } else {
                let (action, reason) = if fresh {
                    (Action::Create, "install the requirements into the new venv")
                } else if marker.is_none() {
                    (Action::Create, "no record of an install by wsgictl")
                } else {
                    (Action::Update, "requirements changed since the last install")
                };
                install(action, reason.into(), Vec::new(), false)
            },
        );
    }
    Ok(out)
}

/// The first 12 hex digits of a digest, for people.
fn short(d: &str) -> &str {
    &d[..d.len().min(12)]
}
