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

/// Whether change `c` must wait for an ACME certificate: the app's TLS vhost and its link.
pub fn waits_for_certificate(i: &Inputs<'_>, c: &Change) -> bool {
    let acme = |app: &str| {
        i.desired
            .certificates
            .iter()
            .any(|cert| cert.app == app && cert.acme.is_some())
    };
    match &c.id {
        ResourceId::TlsVhost(a) => acme(a),
        ResourceId::Link(path) => i.desired.links.iter().any(|l| {
            l.path == *path && l.name.ends_with(".tls") && l.app.as_deref().is_some_and(acme)
        }),
        _ => false,
    }
}

/// Whether certbot's challenge needs a reload first: Apache is down, owes a reload, or its
/// configuration changes in `before` (what runs ahead of the certificates).
pub fn reload_first(i: &Inputs<'_>, before: &[Change]) -> anyhow::Result<bool> {
    let down = i
        .facts
        .apache
        .known()
        .and_then(|a| a.as_ref())
        .is_none_or(|a| !a.running);
    Ok(down
        || super::owed(i, &i.desired.reload_marker)?
        || before
            .iter()
            .any(|c| c.action != Action::NoOp && c.id.reloads_apache()))
}
