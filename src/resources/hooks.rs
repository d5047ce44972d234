//! Django management commands (`collectstatic`, `migrate`): planned only when the app's code,
//! venv or packages change in this plan. Pure.

use super::Inputs;
use crate::plan::{Action, Change, Op};
use crate::resource_id::ResourceId;

pub fn plan(i: &Inputs<'_>, earlier: &[Change]) -> Vec<Change> {
    let mut out = Vec::new();
    for h in &i.desired.hooks {
        let why: Vec<&str> = earlier
            .iter()
            .filter(|c| c.action != Action::NoOp && c.id.needs_hooks(&h.app))
            .map(|c| c.id.kind())
            .collect();
        if why.is_empty() {
            continue;
        }
        out.push(Change {
            id: ResourceId::Hook {
                hook: h.name,
                app: h.app.clone(),
            },
            action: Action::Update,
            reason: format!(
                "run manage.py {} as {} ({} changed)",
                h.name.name(),
                h.user,
                why.join(", ")
            ),
            before: None,
            details: Vec::new(),
            diff: None,
            ops: vec![Op::Manage {
                app: h.app.clone(),
                name: h.name.name().to_string(),
                user: h.user.clone(),
                venv: h.venv.clone(),
                src: h.src.clone(),
                env_file: h.env_file.clone(),
                settings: h.settings.clone(),
            }],
        });
    }
    out
}
