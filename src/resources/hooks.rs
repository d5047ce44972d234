//! Django management commands (`collectstatic`, `migrate`): planned when the app's code, venv
//! or packages change in this plan, or when an earlier apply owes them (its marker is on the
//! host: it changed the code and then failed or was killed before the command ran). Pure.

use super::Inputs;
use crate::plan::{Action, Change, Op};
use crate::resource_id::ResourceId;

pub fn plan(i: &Inputs<'_>, earlier: &[Change]) -> anyhow::Result<Vec<Change>> {
    let mut out = Vec::new();
    for h in &i.desired.hooks {
        let why: Vec<&str> = earlier
            .iter()
            .filter(|c| c.action != Action::NoOp && c.id.needs_hooks(&h.app))
            .map(|c| c.id.kind())
            .collect();
        let marker = i.desired.owed(&h.app, h.name.name());
        let owed = super::owed(i, &marker)?;
        if why.is_empty() && !owed {
            continue;
        }
        let because = if why.is_empty() {
            format!("an earlier apply did not finish it: {marker}")
        } else {
            format!("{} changed", why.join(", "))
        };
        out.push(Change {
            id: ResourceId::Hook {
                hook: h.name,
                app: h.app.clone(),
            },
            action: Action::Update,
            reason: format!("run manage.py {} as {} ({because})", h.name.name(), h.user),
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
                python_path: Some(h.python_path.clone()),
                static_root: None,
                record: None,
            }],
        });
    }
    Ok(out)
}
