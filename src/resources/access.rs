//! Traversal: the Apache user must reach each app's root, static and media directories, and
//! each daemon user its root and venv, through every directory from `/` down. Pure.
//!
//! A directory is traversable by a user when its mode grants `x` to others, to its owner (and
//! the user owns it) or to its group (and the user is in it), or when an ACL entry for the
//! user or one of its groups grants `x` under the mask. Directories this plan creates or
//! changes are judged by their desired state. What is missing is granted with the least:
//! `setfacl -m u:USER:x` where the host has ACL tools, else `chmod o+x`; the plan says which.

use super::{Inputs, known, noop};
use crate::facts::{Fact, PathState};
use crate::plan::{Action, Change, Op};
use crate::resource_id::ResourceId;

pub fn plan(i: &Inputs<'_>) -> anyhow::Result<Vec<Change>> {
    let acl_tools = i.facts.system.known().is_some_and(|s| s.acl);
    let mut out: Vec<Change> = Vec::new();
    for a in &i.desired.access {
        // The account's groups; a daemon account apply is about to create has just its own.
        let groups: Vec<String> = match i.facts.accounts.get(&a.user) {
            Some(Fact::Known(Some(acc))) => acc.groups.clone(),
            Some(Fact::Known(None)) => vec![a.group.clone()],
            other => {
                known(other, &format!("account {}", a.user))?;
                Vec::new()
            }
        };
        for dir in super::ancestors(&a.path) {
            let id = ResourceId::Access {
                user: a.user.clone(),
                path: dir.clone(),
            };
            if out.iter().any(|c| c.id == id) {
                continue;
            }
            let state = match i.desired.dirs.iter().find(|d| d.path == dir) {
                Some(d) => (d.mode, d.owner.clone(), d.group.clone(), Vec::new()),
                None => match known(i.facts.paths.get(&dir), &dir)? {
                    PathState::Dir {
                        mode,
                        owner,
                        group,
                        acl,
                    } => (*mode, owner.clone(), group.clone(), acl.clone()),
                    // Created by this apply (mkdir -p: 0755), or not a directory: nothing to grant.
                    _ => continue,
                },
            };
            if traversable(&a.user, &groups, &state) {
                continue;
            }
            let how = if acl_tools {
                format!("ACL u:{}:x", a.user)
            } else {
                "chmod o+x".to_string()
            };
            out.push(Change {
                id,
                action: Action::Update,
                reason: format!(
                    "{} cannot traverse {dir} ({:04o} {}:{}); grant it with {how}",
                    a.user, state.0, state.1, state.2
                ),
                before: None,
                details: Vec::new(),
                diff: None,
                ops: vec![Op::GrantTraverse {
                    path: dir.clone(),
                    user: a.user.clone(),
                    acl: acl_tools,
                }],
            });
        }
    }
    if out.is_empty() && !i.desired.access.is_empty() {
        out.push(noop(
            ResourceId::Reachable,
            "every app directory is reachable by the Apache and daemon users".into(),
        ));
    }
    Ok(out)
}

fn traversable(
    user: &str,
    groups: &[String],
    (mode, owner, group, acl): &(u32, String, String, Vec<String>),
) -> bool {
    if user == "root" || mode & 0o001 != 0 || (owner == user && mode & 0o100 != 0) {
        return true;
    }
    if groups.iter().any(|g| g == group) && mode & 0o010 != 0 && acl.is_empty() {
        return true;
    }
    // With an ACL, the group class and named entries are limited by the mask.
    let mask_x = acl
        .iter()
        .find_map(|e| e.strip_prefix("mask::"))
        .is_none_or(|p| p.ends_with('x'));
    let grants = |e: &String| {
        let mut f = e.splitn(3, ':');
        match (f.next(), f.next(), f.next()) {
            (Some("user"), Some(u), Some(p)) => u == user && p.ends_with('x'),
            (Some("group"), Some(""), Some(p)) => {
                groups.iter().any(|g| g == group) && p.ends_with('x')
            }
            (Some("group"), Some(g), Some(p)) => groups.iter().any(|x| x == g) && p.ends_with('x'),
            _ => false,
        }
    };
    mask_x && acl.iter().any(grants)
}

#[cfg(test)]
mod tests {
    use super::traversable;

    fn dir(
        mode: u32,
        owner: &str,
        group: &str,
        acl: &[&str],
    ) -> (u32, String, String, Vec<String>) {
        (
            mode,
            owner.into(),
            group.into(),
            acl.iter().map(|s| s.to_string()).collect(),
        )
    }

    #[test]
    fn modes_owners_groups_and_acls() {
        let www = vec!["www-data".to_string()];
        assert!(traversable(
            "www-data",
            &www,
            &dir(0o755, "root", "root", &[])
        ));
        assert!(!traversable(
            "www-data",
            &www,
            &dir(0o700, "alice", "alice", &[])
        ));
        assert!(traversable(
            "alice",
            &["alice".into()],
            &dir(0o700, "alice", "alice", &[])
        ));
        assert!(traversable(
            "www-data",
            &www,
            &dir(0o710, "alice", "www-data", &[])
        ));
        assert!(traversable(
            "www-data",
            &www,
            &dir(0o700, "alice", "alice", &["user:www-data:--x", "mask::--x"])
        ));
        assert!(!traversable(
            "www-data",
            &www,
            &dir(0o700, "alice", "alice", &["user:www-data:--x", "mask::r--"])
        ));
        assert!(!traversable(
            "www-data",
            &www,
            &dir(0o700, "alice", "alice", &["user:blog:--x", "mask::--x"])
        ));
        assert!(traversable("root", &[], &dir(0o700, "alice", "alice", &[])));
    }
}
