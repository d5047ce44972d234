//! Enablement (Debian): mod_wsgi, the host-wide file, each app's vhost, judged by the links
//! `a2enmod`/`a2enconf`/`a2ensite` make. Pure.

use super::{Inputs, known, noop};
use crate::facts::PathState;
use crate::plan::{Action, Change, Fingerprint, Op, SeenKind};
use crate::resource_id::ResourceId;

pub fn plan(i: &Inputs<'_>) -> anyhow::Result<Vec<Change>> {
    let mut out = Vec::new();
    for l in &i.desired.links {
        let id = ResourceId::Link(l.path.clone());
        let state = known(i.facts.paths.get(&l.path), &l.path)?;
        let op = || {
            vec![Op::Enable {
                tool: l.tool,
                name: l.name.clone(),
                confdir: l.confdir.clone(),
            }]
        };
        out.push(match state {
            PathState::Link { target } if *target == l.target => {
                noop(id, format!("enabled ({})", l.target))
            }
            PathState::Missing => Change {
                id,
                action: Action::Create,
                reason: format!("not enabled: link to {}", l.target),
                before: Some(Fingerprint::seen(SeenKind::Link, &l.path, "missing")),
                details: Vec::new(),
                diff: None,
                ops: op(),
            },
            PathState::Link { target } => Change {
                id,
                action: Action::Update,
                reason: format!("links to {target}, not {}", l.target),
                before: Some(Fingerprint::seen(
                    SeenKind::Link,
                    &l.path,
                    &format!("symlink to {target}"),
                )),
                details: Vec::new(),
                diff: None,
                ops: op(),
            },
            other => anyhow::bail!(
                "{} exists but is not a link ({other:?}); move it away so it can be enabled",
                l.path
            ),
        });
    }
    Ok(out)
}
