//! Certificates: for ACME, whether certbot must ask for one (missing, expiring within 14
//! days, or not covering every name) and the reload that makes the challenge reachable
//! first; for certificate files, what the facts say of them (findings are preflight's). Pure.

use super::Inputs;
use crate::facts::cert::CertState;
use crate::plan::{Action, Change, Op};
use crate::resource_id::ResourceId;

/// One change per certificate. `reload_first`: Apache's configuration changes earlier in this
/// plan, so the plain-HTTP vhost is live only after a reload.
pub fn plan(i: &Inputs<'_>, reload_first: bool) -> anyhow::Result<Vec<Change>> {
    let mut out = Vec::new();
    for c in &i.desired.certificates {
        let state = super::known(i.facts.certificates.get(&c.certificate), &c.certificate)?;
        let id = ResourceId::Certificate(c.app.clone());
        let Some(acme) = &c.acme else {
            let reason = match state {
                CertState::Present(cert) => format!("{}: {}", c.certificate, cert.describe()),
                CertState::Missing => format!("{} is missing (see the findings)", c.certificate),
                CertState::Unreadable { reason } => format!("{}: {reason}", c.certificate),
            };
            out.push(super::noop(id, reason));
            continue;
        };
        let (action, why, renew) = match state {
            CertState::Present(cert) => {
                let uncovered = cert.uncovered(&c.names);
                if cert.expired {
                    (Action::Update, format!("expired {}", cert.not_after), true)
                } else if !uncovered.is_empty() {
                    (
                        Action::Update,
                        format!("does not cover {}", uncovered.join(", ")),
                        true,
                    )
                } else if cert.expires_soon {
                    (
                        Action::Update,
                        format!(
                            "expires {} (within 14 days; certbot's timer should have renewed it: is certbot.timer active?)",
                            cert.not_after
                        ),
                        true,
                    )
                } else {
                    out.push(super::noop(
                        id,
                        format!(
                            "valid until {}, covers {}; certbot's timer renews it ({})",
                            cert.not_after,
                            c.names.join(", "),
                            cert.describe()
                        ),
                    ));
                    continue;
                }
            }
            CertState::Missing => (Action::Create, "none yet".to_string(), false),
            CertState::Unreadable { reason } => (Action::Update, reason.clone(), true),
        };
        let mut ops = Vec::new();
        if reload_first {
            ops.push(Op::ReloadApache);
        }
        ops.push(Op::RequestCertificate {
            app: c.app.clone(),
            lineage: acme.lineage.clone(),
            names: c.names.clone(),
            email: acme.email.clone(),
            directory: acme.directory.clone(),
            trust: acme.trust.clone(),
            webroot: acme.webroot.clone(),
            http_port: acme.http_port,
            deploy_hook: acme.deploy_hook.clone(),
            renew,
        });
        out.push(Change {
            id,
            action,
            reason: format!(
                "request a certificate for {} from {} with certbot ({why}){}",
                c.names.join(", "),
                acme.directory,
                if reload_first {
                    "; Apache is reloaded first so the HTTP vhost answers the challenge"
                } else {
                    ""
                }
            ),
            before: None,
            details: vec![format!("lineage {}", acme.lineage)],
            diff: None,
            ops,
        });
    }
    Ok(out)
}

/// Django's settings checked as the daemon user before each app's hooks run.
pub fn settings(i: &Inputs<'_>, earlier: &[Change]) -> Vec<Change> {
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
