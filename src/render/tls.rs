//! Render's TLS part: the certificate paths Apache reads (the manifest's files, or certbot's
//! lineage), the certificate each app needs, and certbot's deploy hook of the instance.
//!
//! Stage: render (pure).

use super::{AppCtx, HostEnv, TlsCtx};
use crate::desired::{Content, DesiredFile, FileRole};
use crate::manifest::{App, TlsSource};
use crate::templates::{self, Templates};
use anyhow::Context as _;
use serde::Serialize;

/// certbot's lineage of app `app` on this Apache instance: `wsgictl-APP`, with the instance's
/// name after it for any confdir but the layout's own (`/etc/apache2-web` → `wsgictl-APP-web`).
pub fn lineage(env: &HostEnv, app: &str) -> String {
    let instance = match env.confdir.as_str() {
        "/etc/apache2" | "/etc/httpd" => String::new(),
        c => {
            let base = c.rsplit('/').next().unwrap_or(c);
            let base = base
                .strip_prefix("apache2-")
                .or_else(|| base.strip_prefix("httpd-"))
                .unwrap_or(base);
            format!(
                "-{}",
                base.replace(|ch: char| !ch.is_ascii_alphanumeric() && ch != '-', "_")
            )
        }
    };
    format!("wsgictl-{app}{instance}")
}

/// `/etc/letsencrypt/live/NAME`: where certbot keeps the current certificate of a lineage.
pub fn live_dir(lineage: &str) -> String {
    format!("/etc/letsencrypt/live/{lineage}")
}

pub(super) fn tls_ctx(app: &App, env: &HostEnv) -> Option<TlsCtx> {
    let tls = app.tls.as_ref()?;
    Some(match &tls.source {
        TlsSource::Files { certificate, key } => TlsCtx {
            certificate: certificate.clone(),
            key: key.clone(),
            hsts: tls.hsts,
            acme: false,
            lineage: None,
        },
        TlsSource::Acme(_) => {
            let lineage = lineage(env, &app.name);
            let live = live_dir(&lineage);
            TlsCtx {
                certificate: format!("{live}/fullchain.pem"),
                key: format!("{live}/privkey.pem"),
                hsts: tls.hsts,
                acme: true,
                lineage: Some(lineage),
            }
        }
    })
}

/// The certificate of an app with `tls`: files on the host, or certbot's lineage.
pub(super) fn cert(app: &App, ctx: &AppCtx, env: &HostEnv) -> Option<crate::desired::DesiredCert> {
    let (tls, t) = (app.tls.as_ref()?, ctx.tls.as_ref()?);
    let acme = match &tls.source {
        TlsSource::Acme(a) => Some(crate::desired::DesiredAcme {
            email: a.email.clone(),
            directory: a.directory.clone(),
            trust: a.trust.clone(),
            lineage: t.lineage.clone().unwrap_or_default(),
            webroot: ctx.acme_webroot.clone().unwrap_or_default(),
            http_port: ctx.http_port.unwrap_or(80),
            deploy_hook: env.deploy_hook_path(),
        }),
        TlsSource::Files { .. } => None,
    };
    Some(crate::desired::DesiredCert {
        app: ctx.name.clone(),
        names: app.names().map(str::to_string).collect(),
        certificate: t.certificate.clone(),
        key: t.key.clone(),
        span: Some(tls.span),
        acme,
    })
}

/// certbot's deploy hook of this Apache instance, when an app of the host uses ACME.
pub(super) fn deploy_hook(
    apps: &[&App],
    env: &HostEnv,
    templates: &Templates,
) -> anyhow::Result<Option<DesiredFile>> {
    if !apps.iter().any(|a| a.acme().is_some()) {
        return Ok(None);
    }
    let control = crate::apply::apache_control(env);
    #[derive(Serialize)]
    struct HookCtx<'a> {
        confdir: &'a str,
        ctl: &'a str,
        reload: &'a str,
    }
    let hook = templates
        .render(
            templates::DEPLOY_HOOK,
            &HookCtx {
                confdir: &env.confdir,
                ctl: &control.ctl,
                reload: &control.reload,
            },
        )
        .with_context(|| format!("rendering {}", templates::DEPLOY_HOOK))?;
    Ok(Some(DesiredFile {
        path: env.deploy_hook_path(),
        owner: "root".into(),
        group: "root".into(),
        mode: 0o700,
        role: FileRole::DeployHook,
        app: None,
        template: templates::DEPLOY_HOOK,
        content: Content::plain(hook),
    }))
}
