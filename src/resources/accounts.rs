//! Accounts and groups the apps' daemons run as. Pure.

use super::{Inputs, known, noop};
use crate::plan::{Action, Change, Fingerprint, Op, SeenKind};
use crate::resource_id::ResourceId;

pub fn plan(i: &Inputs<'_>) -> anyhow::Result<Vec<Change>> {
    let mut out = Vec::new();
    let mut groups: Vec<&str> = Vec::new();
    for a in &i.desired.accounts {
        if groups.contains(&a.group.as_str()) {
            continue;
        }
        groups.push(&a.group);
        let id = ResourceId::Group(a.group.clone());
        out.push(
            match known(i.facts.groups.get(&a.group), &format!("group {}", a.group))? {
                Some(g) => noop(id, format!("group {} exists (gid {})", g.name, g.gid)),
                None => Change {
                    id,
                    action: Action::Create,
                    reason: format!("group {} does not exist", a.group),
                    before: Some(Fingerprint::seen(SeenKind::Group, &a.group, "missing")),
                    details: Vec::new(),
                    diff: None,
                    ops: vec![Op::CreateGroup {
                        name: a.group.clone(),
                    }],
                },
            },
        );
    }
    for a in &i.desired.accounts {
        let id = ResourceId::Account(a.user.clone());
        out.push(
            match known(
                i.facts.accounts.get(&a.user),
                &format!("account {}", a.user),
            )? {
                Some(acc) => noop(id, format!("account {} exists (uid {})", acc.name, acc.uid)),
                None => Change {
                    id,
                    action: Action::Create,
                    reason: format!(
                        "account {} does not exist: system account, no login shell",
                        a.user
                    ),
                    before: Some(Fingerprint::seen(SeenKind::Account, &a.user, "missing")),
                    details: Vec::new(),
                    diff: None,
                    ops: vec![Op::CreateUser {
                        name: a.user.clone(),
                        group: a.group.clone(),
                        home: a.home.clone(),
                    }],
                },
            },
        );
    }
    Ok(out)
}
