//! Django's settings in the plan: the check that runs as the daemon user right before an
//! app's first hook (`settings_check`), and which `application` the `.wsgi` loads, said on
//! its change. Pure.

use super::Inputs;
use crate::plan::{Action, Change, Op};
use crate::resource_id::ResourceId;

/// Django's settings checked as the daemon user before each app's hooks run.
pub fn plan(i: &Inputs<'_>, earlier: &[Change]) -> Vec<Change> {
    let mut out = Vec::new();
    for c in &i.desired.settings_checks {
        let app = &c.expect.app;
        let hooks: Vec<&str> = earlier
            .iter()
            .filter_map(|ch| match &ch.id {
                ResourceId::Hook { hook, app: a } if a == app => Some(hook.name()),
                _ => None,
            })
            .collect();
        if hooks.is_empty() {
            continue;
        }
        out.push(Change {
            id: ResourceId::Settings(app.clone()),
            action: Action::Update,
            reason: format!(
                "load {} as {} and compare STATIC_ROOT, MEDIA_ROOT, DATABASES with the manifest before {}",
                c.expect.settings,
                c.user,
                hooks.join(" and ")
            ),
            before: None,
            details: Vec::new(),
            diff: None,
            ops: vec![Op::CheckSettings {
                user: c.user.clone(),
                venv: c.venv.clone(),
                python_path: c.python_path.clone(),
                expect: c.expect.clone(),
            }],
        });
    }
    out
}

/// Which `application` the `.wsgi` loads, said on the app's `.wsgi` change: the manifest's
/// `wsgi`, or what `WSGI_APPLICATION` says in the settings as deployed.
pub fn annotate_wsgi(i: &Inputs<'_>, changes: &mut [Change]) {
    for c in &i.desired.settings_checks {
        let app = &c.expect.app;
        let Some(change) = changes
            .iter_mut()
            .find(|ch| ch.id == ResourceId::WsgiScript(app.clone()) && ch.action != Action::NoOp)
        else {
            continue;
        };
        let said = match (&c.wsgi_module, i.facts.settings.get(app)) {
            (Some(m), _) => format!("application: {m}.application (the manifest's `wsgi`)"),
            (None, Some(crate::facts::Fact::Known(Some(r)))) if r.error.is_none() => {
                match &r.wsgi_application {
                    Some(w) => format!(
                        "application: {w} (WSGI_APPLICATION in {})",
                        c.expect.settings
                    ),
                    None => format!(
                        "application: Django's default handler (WSGI_APPLICATION is not set in {})",
                        c.expect.settings
                    ),
                }
            }
            _ => format!(
                "application: WSGI_APPLICATION of {}, read when the app starts (its settings are not on the host yet)",
                c.expect.settings
            ),
        };
        change.details.push(said);
    }
}
