//! Hand-written Apache files an app takes over (`replaces`, written by `import`). Pure.
//!
//! While such a file is where Apache reads it (or its `sites-enabled` link is), the host
//! would serve two vhosts for one name and define the old daemon process group next to the
//! new one. The first apply moves it into a root-only backup directory (and removes the
//! link), in the same run as the app's own vhost; the whole tree is configtested, and a
//! failure puts the file and the link back. Once it is gone the change is a no-op: a file
//! put back by hand is taken over again.

use super::{Inputs, known, noop};
use crate::facts::PathState;
use crate::plan::{Action, Change, Fingerprint, Op};
use crate::resource_id::ResourceId;

pub fn plan(i: &Inputs<'_>) -> anyhow::Result<Vec<Change>> {
    let mut out = Vec::new();
    for r in &i.desired.replaced {
        let id = ResourceId::Replaced(r.path.clone());
        let state = known(i.facts.paths.get(&r.path), &r.path)?;
        let link = match &r.enabled {
            Some(l) => match known(i.facts.paths.get(l), l)? {
                PathState::Link { target } if points_at(l, target, &r.path) => Some(l.clone()),
                _ => None,
            },
            None => None,
        };
        let apps = r.apps.join(", ");
        let before = match state {
            PathState::Missing => None,
            PathState::File {
                mode,
                owner,
                group,
                sha256,
                ..
            } => Some(Fingerprint {
                exists: true,
                sha256: Some(sha256.clone()),
                mode: Some(format!("{:04o}", mode & 0o7777)),
                owner: Some(format!("{owner}:{group}")),
                seen: None,
            }),
            PathState::Link { .. } => None,
            other => anyhow::bail!(
                "{} (replaced by app {apps}) is not a file ({other:?}); `replaces` names Apache files",
                r.path
            ),
        };
        let present = !matches!(state, PathState::Missing);
        if !present && link.is_none() {
            out.push(noop(
                id,
                format!("no longer read by Apache (taken over by {apps})"),
            ));
            continue;
        }
        let mut what = Vec::new();
        if link.is_some() {
            what.push("disable it".to_string());
        }
        if present {
            what.push(format!("move it to {} (root only)", r.backup));
        }
        out.push(Change {
            id,
            action: Action::Delete,
            reason: format!(
                "hand-written, taken over by app {apps}: {}",
                what.join(", ")
            ),
            before,
            details: Vec::new(),
            diff: None,
            ops: vec![Op::Retire {
                path: present.then(|| r.path.clone()),
                link,
                backup: r.backup.clone(),
            }],
        });
    }
    Ok(out)
}

/// Whether the link at `link` (reading `target`) points at `path`.
fn points_at(link: &str, target: &str, path: &str) -> bool {
    if target.starts_with('/') {
        return target == path;
    }
    let dir = std::path::Path::new(link)
        .parent()
        .unwrap_or(std::path::Path::new("/"));
    let mut parts: Vec<&str> = dir.to_str().unwrap_or("/").split('/').collect();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.len() > 1 {
                    parts.pop();
                }
            }
            c => parts.push(c),
        }
    }
    parts.join("/") == path
}

#[cfg(test)]
mod tests {
    use super::points_at;

    #[test]
    fn a2ensite_links_are_relative() {
        let p = "/etc/apache2/sites-available/old.conf";
        assert!(points_at(
            "/etc/apache2/sites-enabled/old.conf",
            "../sites-available/old.conf",
            p
        ));
        assert!(points_at("/etc/apache2/sites-enabled/old.conf", p, p));
        assert!(!points_at(
            "/etc/apache2/sites-enabled/old.conf",
            "../sites-available/other.conf",
            p
        ));
    }
}
