//! Preflight of what the site itself serves: its certificates (files on the host) and
//! Django's own settings, from the facts of the plan's round trip.
//!
//! Stage: plan (pure). A settings problem found now is an error only when this plan leaves
//! the code, venv, env file and overlay as they are; otherwise it describes what is deployed
//! today and is a warning (apply checks the new settings again before any hook runs).

use crate::desired::DesiredState;
use crate::facts::Facts;
use crate::facts::cert::{CertState, KeyState};
use crate::plan::{Action, Change};
use crate::preflight::{Finding, Severity};
use crate::resource_id::ResourceId;

pub fn check(desired: &DesiredState, facts: &Facts, changes: &[Change]) -> Vec<Finding> {
    let mut out = certificates(desired, facts);
    out.extend(settings(desired, facts, changes));
    out
}

fn finding(
    severity: Severity,
    scenario: &str,
    app: &str,
    evidence: String,
    fix: String,
    span: Option<miette::SourceSpan>,
) -> Finding {
    Finding {
        severity,
        scenario: scenario.into(),
        app: Some(app.to_string()),
        evidence,
        fix,
        span,
    }
}

/// Certificate files the manifest names: there, readable, in date, for every name, with
/// their key. (ACME certificates are requested by the plan instead.)
fn certificates(desired: &DesiredState, facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for c in desired.certificates.iter().filter(|c| c.acme.is_none()) {
        let Some(crate::facts::Fact::Known(state)) = facts.certificates.get(&c.certificate) else {
            continue;
        };
        let f = |sev, scenario: &str, evidence: String, fix: String| {
            finding(sev, scenario, &c.app, evidence, fix, c.span)
        };
        let cert = match state {
            CertState::Missing => {
                out.push(f(
                    Severity::Error,
                    "tls-certificate-unreadable",
                    format!("the certificate {} does not exist on the host", c.certificate),
                    "put the full chain there (and its key at `key`), or use `acme { email \"...\" }` so that certbot obtains one".into(),
                ));
                continue;
            }
            CertState::Unreadable { reason } => {
                out.push(f(
                    Severity::Error,
                    "tls-certificate-unreadable",
                    format!("{} is not a readable certificate: {reason}", c.certificate),
                    "give the PEM full chain (certificate first, then the intermediates)".into(),
                ));
                continue;
            }
            CertState::Present(cert) => cert,
        };
        if cert.expired {
            out.push(f(
                Severity::Error,
                "tls-certificate-expired",
                format!(
                    "{} expired on {} ({})",
                    c.certificate, cert.not_after, cert.subject
                ),
                "renew it and put the new one at the same path, or use `acme`".into(),
            ));
        } else if cert.expires_soon {
            out.push(f(
                Severity::Warning,
                "tls-certificate-expired",
                format!(
                    "{} expires on {}, within 14 days",
                    c.certificate, cert.not_after
                ),
                "renew it soon (then apply again, or reload Apache)".into(),
            ));
        }
        let uncovered = cert.uncovered(&c.names);
        if !uncovered.is_empty() {
            out.push(f(
                Severity::Error,
                "tls-name-mismatch",
                format!(
                    "{} does not cover {} (SAN: {})",
                    c.certificate,
                    uncovered.join(", "),
                    cert.sans.join(" ")
                ),
                "use a certificate issued for the server name and every alias, or drop the aliases it lacks".into(),
            ));
        }
        match cert.key {
            KeyState::Match => {}
            KeyState::Mismatch => out.push(f(
                Severity::Error,
                "tls-key-mismatch",
                format!("{} is not the key of {}", c.key, c.certificate),
                "point `key` at the key the certificate was issued for".into(),
            )),
            KeyState::Missing => out.push(f(
                Severity::Error,
                "tls-certificate-unreadable",
                format!("the key {} does not exist on the host", c.key),
                "put the certificate's private key there (root-owned, mode 0600)".into(),
            )),
            KeyState::Unreadable => out.push(f(
                Severity::Error,
                "tls-certificate-unreadable",
                format!("{} is not a readable private key", c.key),
                "give the PEM private key of the certificate (unencrypted: Apache cannot ask for a passphrase at a graceful reload)".into(),
            )),
        }
    }
    out
}

/// Django's settings as deployed now, against the manifest.
fn settings(desired: &DesiredState, facts: &Facts, changes: &[Change]) -> Vec<Finding> {
    let mut out = Vec::new();
    for c in &desired.settings_checks {
        let app = &c.expect.app;
        let Some(crate::facts::Fact::Known(Some(report))) = facts.settings.get(app) else {
            continue;
        };
        let changing = changes.iter().any(|ch| {
            ch.action != Action::NoOp
                && match &ch.id {
                    ResourceId::Source(a)
                    | ResourceId::Venv(a)
                    | ResourceId::PipPackages(a)
                    | ResourceId::EnvFile(a)
                    | ResourceId::Overlay(a) => a == app,
                    _ => false,
                }
        });
        let later = if changing {
            " (as deployed now; this plan changes the app, and apply checks its settings again before any hook runs)"
        } else {
            ""
        };
        if let Some(err) = &report.error {
            out.push(finding(
                Severity::Warning,
                "wsgi-import-exception",
                app,
                format!(
                    "{} does not load as {}: {err}{later}",
                    c.expect.settings, c.user
                ),
                "fix the settings (run `wsgictl doctor` for the traceback)".into(),
                c.span,
            ));
            continue;
        }
        for p in &report.problems {
            let (msg, fix) = crate::settings_check::explain(&c.expect, p);
            let scenario = match p.code.as_str() {
                "ssl-redirect-without-tls" | "proxy-header" | "csrf-origin-scheme" => {
                    "django-https-misdetected"
                }
                _ => "django-settings-contradict-manifest",
            };
            let span = match p.code.as_str() {
                "static-root" => c.spans.static_files,
                "media-root" => c.spans.media,
                "sqlite-in-source" | "sqlite-served" => c.spans.data,
                _ => None,
            }
            .or(c.span);
            let severity = if p.is_error() && !changing {
                Severity::Error
            } else {
                Severity::Warning
            };
            out.push(finding(
                severity,
                scenario,
                app,
                format!("{msg}{later}"),
                fix,
                span,
            ));
        }
    }
    out
}
