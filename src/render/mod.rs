//! Manifest × templates → the desired state of each host.
//!
//! Stage: render. Pure but for two reads that belong here: the secret values (from wsgictl's
//! environment through a lookup function, and from `from-file` files), resolved so that a
//! missing secret fails before anything connects. Builds typed template contexts (documented
//! in `modules/README.md`), renders each file twice when it holds secrets (real and redacted),
//! and decides remote paths, owners and modes. What is true of a host but not stated in the
//! manifest (layout, Apache user, ports already listened on) comes in through [`HostEnv`]:
//! assumed from the manifest here, taken from facts by `plan`.

mod host_env;
pub mod limit;
pub mod rootless;
mod tls;

pub use host_env::{HostEnv, Rootless, Supervision, USER_UNIT};
pub use tls::{lineage, live_dir};

use crate::desired::{
    Content, DesiredAccount, DesiredDir, DesiredFile, DesiredSource, DesiredState, DesiredVenv,
    FileRole,
};
use crate::manifest::{App, Daemon, Host, Layout, Manifest, SecretFrom};
use crate::templates::{self, Templates};
use anyhow::{Context as _, bail};
use serde::Serialize;
use std::collections::BTreeSet;

/// The overlay settings module's name (`{root}/overlay/wsgictl_settings.py`).
pub const OVERLAY_MODULE: &str = "wsgictl_settings";

/// Text that stands in for every secret value in anything shown.
pub const REDACTED: &str = "<redacted>";

/// `text` with every secret value in `values` replaced by [`REDACTED`]: output of programs
/// run on the host (pip, `manage.py`, the import test, logs) may echo a setting.
pub fn scrub(text: &str, values: &[String]) -> String {
    let mut values: Vec<&String> = values.iter().filter(|v| !v.is_empty()).collect();
    // The longest first: a secret that contains another is replaced whole.
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    let mut out = text.to_string();
    for v in values {
        out = out.replace(v.as_str(), REDACTED);
    }
    out
}

/// Every secret value of the apps on `host` that can be resolved now, for [`scrub`].
pub fn secret_values(m: &Manifest, host: &Host, lookup: EnvLookup<'_>) -> Vec<String> {
    m.apps_on(&host.name)
        .filter_map(|a| resolve_secrets(a, lookup).ok())
        .flatten()
        .map(|(_, s)| s.0)
        .collect()
}

/// Looks up a variable of wsgictl's own environment (secrets' `from-env`).
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// `{{ host }}` in every template.
#[derive(Debug, Serialize)]
pub struct HostCtx {
    pub name: String,
    pub layout: Layout,
    pub confdir: String,
    pub apache_user: String,
    pub apache_group: String,
    /// Raw Apache text (may hold `${APACHE_RUN_DIR}`): not to be quoted with `apache`.
    pub socket_prefix: String,
    /// Ports that need a `Listen` line.
    pub listen: Vec<u16>,
    /// A rootless host: the account's Apache (`render::rootless`).
    pub rootless: Option<rootless::RootlessCtx>,
}

/// `{{ app }}` in the per-app templates.
#[derive(Debug, Serialize)]
pub struct AppCtx {
    pub name: String,
    pub server_name: String,
    pub aliases: Vec<String>,
    pub port: u16,
    pub root: String,
    pub user: String,
    pub group: String,
    /// `{root}/current/src`: the running release's project (the daemon resolves `current`
    /// once, at start).
    pub src: String,
    /// `{root}/current`: the link to the release that runs.
    pub current: String,
    /// `{root}/releases`: one directory per release.
    pub releases: String,
    pub venv: String,
    pub python: String,
    pub htdocs: String,
    pub wsgi_script: String,
    pub wsgi_script_name: String,
    pub env_file: String,
    /// Raw Apache text (may hold `${APACHE_LOG_DIR}`): not to be quoted with `apache`.
    pub error_log: String,
    /// Raw Apache text, like `error_log`.
    pub access_log: String,
    /// `DJANGO_SETTINGS_MODULE`: the project's, or `wsgictl_settings` with `overlay`.
    pub settings: String,
    /// The project's own settings module (`django { settings }`).
    pub project_settings: String,
    /// The manifest's `wsgi`; `None`: the `.wsgi` loads Django's `WSGI_APPLICATION`.
    pub wsgi_module: Option<String>,
    /// The module path of a process started now: `src`, then the overlay directory with
    /// `overlay` (the `.wsgi` puts the release's `src` first itself).
    pub python_path: String,
    /// `{root}/overlay`, where `wsgictl_settings.py` lives, with `overlay`: then also the
    /// daemon's `python-path` option (the `.wsgi` puts its release's `src` first itself).
    pub overlay_dir: Option<String>,
    /// The private data directory, when the manifest has `data`.
    pub data: Option<String>,
    /// With `tls`: the plain-HTTP vhost's port.
    pub http_port: Option<u16>,
    /// `:PORT` when the HTTPS port is not 443, for the redirect.
    pub https_suffix: String,
    pub tls: Option<TlsCtx>,
    /// With ACME: certbot's webroot, `{root}/acme`.
    pub acme_webroot: Option<String>,
    /// What Django must allow: the server name and aliases (`*.x` as `.x`).
    pub allowed_hosts: Vec<String>,
    /// With `tls`: `https://NAME[:PORT]` of each name that is not a wildcard.
    pub origins: Vec<String>,
    pub static_url: String,
    pub static_dir: String,
    pub static_target: String,
    pub media_url: Option<String>,
    pub media_dir: Option<String>,
    pub media_target: Option<String>,
    pub daemon: DaemonCtx,
    pub health: Option<String>,
    /// `WSGIScriptAlias`'s URL: `/` or a sub-URL (`/blog`).
    pub mount: String,
    /// The manifest's `apache-raw`, each line indented for the vhost.
    pub apache_raw: Option<String>,
}

/// `{{ app.tls }}`: where Apache finds the certificate and key.
#[derive(Debug, Clone, Serialize)]
pub struct TlsCtx {
    pub certificate: String,
    pub key: String,
    pub hsts: Option<u32>,
    pub acme: bool,
    /// certbot's lineage name (`/etc/letsencrypt/live/NAME`) with ACME.
    pub lineage: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DaemonCtx {
    pub processes: u32,
    pub threads: u32,
    pub maximum_requests: Option<u32>,
    pub request_timeout: u32,
    pub graceful_timeout: u32,
    pub queue_timeout: u32,
}

impl From<&Daemon> for DaemonCtx {
    fn from(d: &Daemon) -> Self {
        DaemonCtx {
            processes: d.processes,
            threads: d.threads,
            maximum_requests: d.maximum_requests,
            request_timeout: d.request_timeout,
            graceful_timeout: d.graceful_timeout,
            queue_timeout: d.queue_timeout,
        }
    }
}

/// One line of the env file.
#[derive(Debug, Serialize)]
pub struct EnvEntry<'a> {
    pub name: &'a str,
    pub value: &'a str,
    pub secret: bool,
}

#[derive(Serialize)]
struct FileCtx<'a> {
    host: &'a HostCtx,
    app: &'a AppCtx,
}

#[derive(Serialize)]
struct EnvCtx<'a> {
    host: &'a HostCtx,
    app: &'a AppCtx,
    env: Vec<EnvEntry<'a>>,
}

#[derive(Serialize)]
struct HostFileCtx<'a> {
    host: &'a HostCtx,
    apps: &'a [AppCtx],
}

/// A resolved secret value. `Debug` never shows it.
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Which hosts and apps to render.
#[derive(Debug, Default, Clone)]
pub struct Selection {
    pub host: Option<String>,
    pub app: Option<String>,
    /// `--limit`: globs over host and app names.
    pub limit: Option<limit::Limit>,
}

/// The apps of one host a run is limited to; `None`: all of them, and the host's own
/// housekeeping (apps removed from the manifest) too.
pub type Only<'a> = Option<&'a BTreeSet<String>>;

/// Whether `app` is in `only`.
pub fn keeps(only: Only<'_>, app: &str) -> bool {
    only.is_none_or(|s| s.contains(app))
}

impl Selection {
    /// Whether the app `app` on `host` is selected.
    pub fn selects(&self, host: &str, app: &str) -> bool {
        self.host.as_ref().is_none_or(|h| h == host)
            && self.app.as_ref().is_none_or(|a| a == app)
            && self.limit.as_ref().is_none_or(|l| l.selects(host, app))
    }

    /// The selected hosts that have at least one selected app, in manifest order.
    pub fn hosts<'a>(&self, m: &'a Manifest) -> Vec<&'a Host> {
        m.hosts
            .iter()
            .filter(|h| m.apps_on(&h.name).any(|a| self.selects(&h.name, &a.name)))
            .collect()
    }

    /// The apps of `host` selected, or `None` when every one of them is (no `--app`, and no
    /// limit leaves one out).
    pub fn apps_on(&self, m: &Manifest, host: &str) -> Option<BTreeSet<String>> {
        let all: Vec<&str> = m.apps_on(host).map(|a| a.name.as_str()).collect();
        let kept: BTreeSet<String> = all
            .iter()
            .filter(|a| self.selects(host, a))
            .map(|a| a.to_string())
            .collect();
        (self.app.is_some() || kept.len() < all.len()).then_some(kept)
    }

    /// Refuse names the manifest does not declare, listing the ones it does.
    pub fn validate(&self, m: &Manifest) -> anyhow::Result<()> {
        if let Some(h) = &self.host
            && m.host(h).is_none()
        {
            let known: Vec<_> = m.hosts.iter().map(|h| h.name.as_str()).collect();
            bail!(
                "no host named `{h}` in {} (hosts: {})",
                m.path.display(),
                known.join(", ")
            );
        }
        if let Some(a) = &self.app
            && !m.apps.iter().any(|x| *x.name == *a)
        {
            let known: Vec<_> = m.apps.iter().map(|a| a.name.as_str()).collect();
            bail!(
                "no app named `{a}` in {} (apps: {})",
                m.path.display(),
                known.join(", ")
            );
        }
        if let (Some(h), Some(a)) = (&self.host, &self.app)
            && !m.apps_on(h).any(|x| *x.name == *a)
        {
            bail!("app `{a}` is not deployed on host `{h}`");
        }
        if let Some(l) = &self.limit {
            let hosts: Vec<&str> = m.hosts.iter().map(|h| h.name.as_str()).collect();
            let apps: Vec<&str> = m.apps.iter().map(|a| a.name.as_str()).collect();
            let names: Vec<&str> = hosts.iter().chain(&apps).copied().collect();
            let unmatched = l.unmatched(&names);
            if !unmatched.is_empty() {
                bail!(
                    "--limit {l}: `{}` matches no host or app in {} (hosts: {}; apps: {})",
                    unmatched.join("`, `"),
                    m.path.display(),
                    hosts.join(", "),
                    apps.join(", ")
                );
            }
            if self.hosts(m).is_empty() {
                bail!(
                    "--limit {l} leaves no app on any host in {}",
                    m.path.display()
                );
            }
        }
        Ok(())
    }
}

/// Render every selected host with facts-free assumptions ([`HostEnv::assumed`]).
///
/// All missing secrets of all selected apps are reported together.
pub fn render_all(
    m: &Manifest,
    templates: &Templates,
    sel: &Selection,
    lookup: EnvLookup<'_>,
) -> anyhow::Result<Vec<DesiredState>> {
    sel.validate(m)?;
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for host in sel.hosts(m) {
        match render_host(
            m,
            host,
            templates,
            &HostEnv::assumed(host),
            sel.apps_on(m, &host.name).as_ref(),
            lookup,
        ) {
            Ok(state) => out.push(state),
            // An app on several hosts would report the same missing secret once per host.
            Err(e) => {
                for line in format!("{e:#}").lines() {
                    if !errors.iter().any(|l| l == line) {
                        errors.push(line.to_string());
                    }
                }
            }
        }
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("\n"));
    }
    Ok(out)
}

/// Render one host. `only` limits the per-app files; the host-wide file is always
/// rendered, from every app on the host (its Listen lines depend on all of them).
pub fn render_host(
    m: &Manifest,
    host: &Host,
    templates: &Templates,
    env: &HostEnv,
    only: Only<'_>,
    lookup: EnvLookup<'_>,
) -> anyhow::Result<DesiredState> {
    let apps: Vec<&App> = m.apps_on(&host.name).collect();
    let ctxs: Vec<AppCtx> = apps.iter().map(|a| app_ctx(a, env)).collect();
    let ports: BTreeSet<u16> = apps
        .iter()
        .flat_map(|a| std::iter::once(*a.port).chain(a.http_port.as_ref().map(|p| p.value)))
        .collect();
    let binds: Vec<(String, u16)> = apps
        .iter()
        .map(|a| (a.listen_address().to_string(), *a.port))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if let Some(r) = &env.rootless {
        rootless::check_home(&r.home)?;
    }
    let hctx = HostCtx {
        rootless: env.rootless.as_ref().map(|r| rootless::ctx(r, env, &binds)),
        name: host.name.value.clone(),
        layout: env.layout,
        confdir: env.confdir.clone(),
        apache_user: env.apache_user.clone(),
        apache_group: env.apache_group.clone(),
        socket_prefix: match (&env.rootless, env.layout) {
            (Some(r), _) => format!("{}/run/wsgi", r.server_root()),
            (None, Layout::Debian) => "${APACHE_RUN_DIR}/wsgi".into(),
            (None, Layout::Rhel) => "run/wsgi".into(),
        },
        listen: ports.difference(&env.listening).copied().collect(),
    };

    let mut hooks = Vec::new();
    let mut access = Vec::new();
    let mut accounts: Vec<DesiredAccount> = Vec::new();
    let mut sources = Vec::new();
    let mut venvs = Vec::new();
    let mut dirs = Vec::new();
    let mut app_files = Vec::new();
    let mut vhosts = Vec::new();
    let mut secret_errors = Vec::new();
    let mut certificates = Vec::new();
    let mut settings_checks = Vec::new();
    let mut releases = Vec::new();
    for (app, ctx) in apps.iter().zip(&ctxs) {
        if !keeps(only, &app.name) {
            continue;
        }
        let secrets = match resolve_secrets(app, lookup) {
            Ok(s) => s,
            Err(e) => {
                secret_errors.extend(e);
                continue;
            }
        };
        if env.rootless.is_none() && !accounts.iter().any(|a| a.user == ctx.user) {
            accounts.push(DesiredAccount {
                user: ctx.user.clone(),
                group: ctx.group.clone(),
                home: ctx.root.clone(),
            });
        }
        dirs.extend(app_dirs(ctx, env));
        let apache = |path: &str| crate::desired::DesiredAccess {
            user: env.apache_user.clone(),
            group: env.apache_group.clone(),
            path: path.to_string(),
        };
        let daemon = |path: &str| crate::desired::DesiredAccess {
            user: ctx.user.clone(),
            group: ctx.group.clone(),
            path: path.to_string(),
        };
        // On a rootless host Apache, the daemons and the files are all the account's.
        if env.rootless.is_none() {
            access.push(apache(&ctx.root));
            access.push(apache(&ctx.static_dir));
            if let Some(m) = &ctx.media_dir {
                access.push(apache(m));
            }
            access.push(daemon(&ctx.root));
            access.push(daemon(&ctx.venv));
            if let Some(d) = &ctx.data {
                access.push(daemon(d));
            }
            if let Some(w) = &ctx.acme_webroot {
                access.push(apache(w));
            }
        }
        for (on, name) in [
            (
                app.django.collectstatic,
                crate::resource_id::Hook::Collectstatic,
            ),
            (app.django.migrate, crate::resource_id::Hook::Migrate),
        ] {
            if on {
                hooks.push(crate::desired::DesiredHook {
                    app: ctx.name.clone(),
                    name,
                    user: ctx.user.clone(),
                    venv: ctx.venv.clone(),
                    src: ctx.src.clone(),
                    env_file: ctx.env_file.clone(),
                    settings: ctx.settings.clone(),
                    python_path: ctx.python_path.clone(),
                });
            }
        }
        if let Some(c) = tls::cert(app, ctx, env) {
            certificates.push(c);
        }
        settings_checks.push(crate::desired::DesiredSettingsCheck {
            span: Some(app.name.span),
            spans: crate::desired::SettingsSpans {
                static_files: Some(app.django.static_files.span),
                media: app.django.media.as_ref().map(|m| m.span),
                data: app.data.as_ref().map(|d| d.span),
            },
            user: ctx.user.clone(),
            venv: ctx.venv.clone(),
            python_path: ctx.python_path.clone(),
            wsgi_module: ctx.wsgi_module.clone(),
            expect: expect(app, ctx),
        });
        sources.push(DesiredSource {
            app: ctx.name.clone(),
            local: app.source.path.clone(),
            exclude: app.source.exclude.clone(),
            dest: ctx.src.clone(),
            owner: env.owner().into(),
            group: ctx.group.clone(),
        });
        let (requirements, requirements_sha256) = requirements(app)?;
        releases.push(crate::desired::DesiredRelease {
            app: ctx.name.clone(),
            root: ctx.root.clone(),
            dir: ctx.releases.clone(),
            current: ctx.current.clone(),
            keep: app.releases,
            static_link: ctx.static_dir.clone(),
            user: ctx.user.clone(),
            group: ctx.group.clone(),
            overlay: app.django.overlay,
            requirements_sha256: requirements_sha256.clone(),
        });
        venvs.push(DesiredVenv {
            app: ctx.name.clone(),
            path: app.venv.path.clone(),
            python: app.python.value.clone(),
            user: ctx.user.clone(),
            requirements_sha256,
            requirements,
        });
        let fc = FileCtx {
            host: &hctx,
            app: ctx,
        };
        let script = rendered(templates, FileRole::WsgiScript, &fc, &ctx.name)?;
        app_files.push(app_file(
            FileRole::WsgiScript,
            ctx,
            env,
            Content::plain(script),
        ));

        // The env file twice: with the secret values (written to the host only) and redacted
        // (everything that is ever shown).
        let env_ctx = |redact: bool| {
            let plain = app.env.iter().map(|e| EnvEntry {
                name: &e.name,
                value: &e.value,
                secret: false,
            });
            let secret = secrets.iter().map(move |(n, s)| EnvEntry {
                name: n,
                value: if redact { REDACTED } else { &s.0 },
                secret: true,
            });
            EnvCtx {
                host: &hctx,
                app: ctx,
                env: plain.chain(secret).collect(),
            }
        };
        let real = rendered(templates, FileRole::EnvFile, &env_ctx(false), &ctx.name)?;
        let shown = rendered(templates, FileRole::EnvFile, &env_ctx(true), &ctx.name)?;
        app_files.push(app_file(
            FileRole::EnvFile,
            ctx,
            env,
            Content::with_secrets(real, shown),
        ));

        if ctx.overlay_dir.is_some() {
            let overlay = rendered(templates, FileRole::Overlay, &fc, &ctx.name)?;
            app_files.push(app_file(
                FileRole::Overlay,
                ctx,
                env,
                Content::plain(overlay),
            ));
        }
        vhosts.extend(vhost_files(templates, &fc, ctx, env)?);
    }
    if !secret_errors.is_empty() {
        bail!("{}", secret_errors.join("\n"));
    }

    let host_template = if env.rootless.is_some() {
        templates::USER_HTTPD
    } else {
        templates::HOST_CONF
    };
    let host_conf = templates
        .render(
            host_template,
            &HostFileCtx {
                host: &hctx,
                apps: &ctxs,
            },
        )
        .with_context(|| format!("rendering {host_template} for host `{}`", *host.name))?;
    let mut files = app_files;
    files.append(&mut vhosts);
    files.extend(tls::deploy_hook(&apps, env, templates)?);
    files.push(DesiredFile {
        path: env.host_conf_path(),
        owner: env.owner().into(),
        group: env.owner_group().into(),
        mode: 0o644,
        role: FileRole::HostConf,
        app: None,
        template: host_template,
        content: Content::plain(host_conf),
    });
    if let Some(r) = &env.rootless {
        files.extend(rootless::files(templates, &hctx, r)?);
        let mut server_dirs = rootless::dirs(r);
        server_dirs.append(&mut dirs);
        dirs = server_dirs;
        for d in &mut dirs {
            d.mode = rootless::private(d.mode);
        }
        for f in &mut files {
            f.mode = rootless::private(f.mode);
        }
    }
    // mod_ssl stays enabled for every app of the host, whichever is selected.
    let any_tls = apps.iter().any(|a| a.tls.is_some());
    let names: Vec<(&str, bool)> = apps
        .iter()
        .map(|a| (a.name.as_str(), a.tls.is_some()))
        .filter(|(a, _)| keeps(only, a))
        .collect();
    let links = env.links(&names, any_tls);
    let replaced: Vec<_> = crate::desired::DesiredReplaced::of(m, &host.name)
        .into_iter()
        .filter(|r| r.apps.iter().any(|a| keeps(only, a)))
        .collect();
    Ok(DesiredState {
        host: host.name.value.clone(),
        accounts,
        dirs,
        sources,
        venvs,
        files,
        links,
        hooks,
        access,
        reload_marker: env.reload_marker(),
        owed_dir: env.owed_dir(),
        lock: env.lock_path(),
        backup_prefix: env.backup_prefix(),
        install_packages: host.packages,
        certificates,
        settings_checks,
        releases,
        replaced,
        state_dir: env.state_dir(),
        run_dir: env.run_dir(),
        rootless: env
            .rootless
            .as_ref()
            .map(|r| rootless::desired(r, binds.clone())),
    })
}

/// What Django's settings must agree with (`settings_check::Expect`).
fn expect(app: &App, ctx: &AppCtx) -> crate::settings_check::Expect {
    let mut served = vec![ctx.static_dir.clone(), ctx.htdocs.clone()];
    served.extend(ctx.media_dir.clone());
    crate::settings_check::Expect {
        app: ctx.name.clone(),
        settings: ctx.settings.clone(),
        env_file: ctx.env_file.clone(),
        src: ctx.src.clone(),
        code: ctx.releases.clone(),
        static_dir: ctx.static_dir.clone(),
        media_dir: ctx.media_dir.clone(),
        data: ctx.data.clone(),
        served,
        tls: ctx.tls.is_some(),
        collectstatic: app.django.collectstatic,
        overlay: app.django.overlay,
    }
}

/// The vhost files of one app. With `tls`, the port-80 file is the redirect (replaced in
/// place when an app gains `tls`), and the app itself is served from the TLS vhost.
fn vhost_files(
    templates: &Templates,
    fc: &FileCtx<'_>,
    ctx: &AppCtx,
    env: &HostEnv,
) -> anyhow::Result<Vec<DesiredFile>> {
    if ctx.tls.is_none() {
        let vhost = rendered(templates, FileRole::Vhost, fc, &ctx.name)?;
        return Ok(vec![app_file(
            FileRole::Vhost,
            ctx,
            env,
            Content::plain(vhost),
        )]);
    }
    let redirect = templates
        .render(templates::REDIRECT, fc)
        .with_context(|| format!("rendering {} for app `{}`", templates::REDIRECT, ctx.name))?;
    let mut http = app_file(FileRole::Vhost, ctx, env, Content::plain(redirect));
    http.template = templates::REDIRECT;
    let vhost = rendered(templates, FileRole::TlsVhost, fc, &ctx.name)?;
    Ok(vec![
        http,
        app_file(FileRole::TlsVhost, ctx, env, Content::plain(vhost)),
    ])
}

/// The template each kind of file is rendered from.
fn template_of(role: FileRole) -> &'static str {
    match role {
        FileRole::HostConf => templates::HOST_CONF,
        FileRole::Vhost | FileRole::TlsVhost => templates::VHOST,
        FileRole::Overlay => templates::OVERLAY,
        FileRole::DeployHook => templates::DEPLOY_HOOK,
        FileRole::WsgiScript => templates::WSGI_SCRIPT,
        FileRole::EnvFile => templates::ENV_FILE,
        FileRole::ServerFile => templates::USER_CTL,
    }
}

fn rendered(
    templates: &Templates,
    role: FileRole,
    ctx: &impl Serialize,
    app: &str,
) -> anyhow::Result<String> {
    let name = template_of(role);
    templates
        .render(name, ctx)
        .with_context(|| format!("rendering {name} for app `{app}`"))
}

/// Path, owner and mode of each per-app file (ERRORS.md section 5.3): Apache configuration is
/// root's; the script and env file are readable by the app's group, the env file by no one else.
fn app_file(role: FileRole, ctx: &AppCtx, env: &HostEnv, content: Content) -> DesiredFile {
    let (path, group, mode) = match role {
        FileRole::WsgiScript => (ctx.wsgi_script.clone(), ctx.group.clone(), 0o644),
        FileRole::EnvFile => (ctx.env_file.clone(), ctx.group.clone(), 0o640),
        FileRole::Vhost => (
            env.vhost_path(&ctx.name),
            env.owner_group().to_string(),
            0o644,
        ),
        FileRole::TlsVhost => (
            env.tls_vhost_path(&ctx.name),
            env.owner_group().to_string(),
            0o644,
        ),
        FileRole::Overlay => (
            format!(
                "{}/{OVERLAY_MODULE}.py",
                ctx.overlay_dir.as_deref().unwrap_or(&ctx.root)
            ),
            ctx.group.clone(),
            0o640,
        ),
        FileRole::HostConf | FileRole::DeployHook | FileRole::ServerFile => {
            unreachable!("host-wide files belong to no app")
        }
    };
    DesiredFile {
        path,
        owner: env.owner().into(),
        group,
        mode,
        role,
        app: Some(ctx.name.clone()),
        template: template_of(role),
        content,
    }
}

fn app_ctx(app: &App, env: &HostEnv) -> AppCtx {
    let layout = env.layout;
    let root = app.root.trim_end_matches('/').to_string();
    let name = app.name.value.clone();
    let tls = tls::tls_ctx(app, env);
    let overlay_dir = app.django.overlay.then(|| format!("{root}/overlay"));
    let src = format!("{root}/current/src");
    let python_path = python_path(&root, app.django.overlay);
    let https_suffix = match (&tls, *app.port) {
        (Some(_), 443) | (None, _) => String::new(),
        (Some(_), p) => format!(":{p}"),
    };
    let allowed_hosts: Vec<String> = app
        .names()
        .map(|n| n.strip_prefix('*').unwrap_or(n).to_string())
        .collect();
    let origins = if tls.is_some() {
        app.names()
            .filter(|n| !n.starts_with('*'))
            .map(|n| format!("https://{n}{https_suffix}"))
            .collect()
    } else {
        Vec::new()
    };
    let (error_log, access_log) = match (&env.rootless, layout) {
        // Piped through rotatelogs: the newest log keeps its plain name (doctor reads it).
        (Some(r), _) => {
            let log = |kind: &str| {
                format!(
                    "|{} -n 4 {}/wsgictl-{name}-{kind}.log 10M",
                    r.rotatelogs,
                    r.log_dir()
                )
            };
            (log("error"), log("access"))
        }
        (None, Layout::Debian) => (
            format!("${{APACHE_LOG_DIR}}/wsgictl-{name}-error.log"),
            format!("${{APACHE_LOG_DIR}}/wsgictl-{name}-access.log"),
        ),
        (None, Layout::Rhel) => (
            format!("logs/wsgictl-{name}-error_log"),
            format!("logs/wsgictl-{name}-access_log"),
        ),
    };
    let media = app.django.media.as_ref();
    AppCtx {
        server_name: app.server_name.value.clone(),
        aliases: app.aliases.iter().map(|a| a.value.clone()).collect(),
        port: *app.port,
        // A rootless host's apps run as the account, in its primary group.
        user: env
            .rootless
            .as_ref()
            .map_or_else(|| app.user.clone(), |r| r.account.clone()),
        group: env
            .rootless
            .as_ref()
            .map_or_else(|| app.group.clone(), |r| r.group.clone()),
        src,
        current: format!("{root}/current"),
        releases: format!("{root}/releases"),
        venv: app.venv.path.clone(),
        python: app.python.value.clone(),
        htdocs: format!("{root}/htdocs"),
        wsgi_script: format!("{root}/current/app.wsgi"),
        wsgi_script_name: "app.wsgi".into(),
        env_file: format!("{root}/current/app.env"),
        error_log,
        access_log,
        settings: if overlay_dir.is_some() {
            OVERLAY_MODULE.to_string()
        } else {
            app.django.settings.clone()
        },
        project_settings: app.django.settings.clone(),
        wsgi_module: app.django.wsgi.clone(),
        python_path,
        overlay_dir,
        data: app
            .data
            .as_ref()
            .map(|d| d.trim_end_matches('/').to_string()),
        http_port: app.http_port.as_ref().map(|p| p.value),
        https_suffix,
        acme_webroot: tls
            .as_ref()
            .filter(|t| t.acme)
            .map(|_| format!("{root}/acme")),
        tls,
        allowed_hosts,
        origins,
        static_url: app.django.static_files.url.clone(),
        static_dir: app.django.static_files.dir.clone(),
        static_target: format!("{}/", app.django.static_files.dir),
        media_url: media.map(|m| m.url.clone()),
        media_dir: media.map(|m| m.dir.clone()),
        media_target: media.map(|m| format!("{}/", m.dir)),
        daemon: (&app.daemon).into(),
        health: app.health.clone(),
        mount: app.mount.clone(),
        apache_raw: app
            .apache_raw
            .as_deref()
            .map(|raw| indent(raw.trim_matches('\n'), "    ")),
        root,
        name,
    }
}

/// `text` with each non-blank line indented by `pad` and trimmed at its end, blank lines
/// empty, no trailing newline (raw directives in a vhost, and in the manifest `import` writes).
pub fn indent(text: &str, pad: &str) -> String {
    text.lines()
        .map(|l| {
            if l.trim().is_empty() {
                String::new()
            } else {
                format!("{pad}{}", l.trim_end())
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The module path of the running release of an app rooted at `root`: its `src` through
/// `current`, then the overlay directory with `overlay` (the settings probe and doctor use it).
pub fn python_path(root: &str, overlay: bool) -> String {
    release_python_path(&format!("{root}/current"), root, overlay)
}

/// The module path of the release in `release` (a directory below `{root}/releases`, or
/// `current`): what the hooks and the import test of a release not yet switched to use.
pub fn release_python_path(release: &str, root: &str, overlay: bool) -> String {
    if overlay {
        format!("{release}/src:{root}/overlay")
    } else {
        format!("{release}/src")
    }
}

/// Directories of an app (ERRORS.md section 5.3): the root and DocumentRoot readable by
/// Apache, code readable by the app's group only, static and media writable by the app.
fn app_dirs(ctx: &AppCtx, env: &HostEnv) -> Vec<DesiredDir> {
    let d = |path: &str, owner: &str, group: &str, mode| DesiredDir {
        path: path.to_string(),
        owner: owner.into(),
        group: group.into(),
        mode,
        app: Some(ctx.name.clone()),
    };
    // The static directory is a link to `current/static` (made by the switch): each release
    // has its own.
    let (o, g) = (env.owner(), env.owner_group());
    let mut dirs = vec![
        d(&ctx.root, o, g, 0o755),
        d(&ctx.releases, o, g, 0o755),
        d(&ctx.htdocs, o, g, 0o755),
    ];
    if let Some(m) = &ctx.media_dir {
        dirs.push(d(m, &ctx.user, &ctx.group, 0o755));
    }
    if let Some(o) = &ctx.overlay_dir {
        dirs.push(d(o, env.owner(), &ctx.group, 0o750));
    }
    // Writable by the daemon, readable by no one else, and never below a served directory
    // (the manifest checks that).
    if let Some(data) = &ctx.data {
        dirs.push(d(data, &ctx.user, &ctx.group, 0o750));
    }
    if let Some(w) = &ctx.acme_webroot {
        dirs.push(d(w, o, g, 0o755));
    }
    dirs
}

/// What pip installs (the requirements file, then the packages, one per line) and its hash
/// over the interpreter too: changing any of them reinstalls.
fn requirements(app: &App) -> anyhow::Result<(String, String)> {
    let mut text = String::new();
    if let Some(r) = &app.venv.requirements {
        text = std::fs::read_to_string(r).with_context(|| format!("reading {}", r.display()))?;
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
    }
    for p in &app.venv.packages {
        text.push_str(p);
        text.push('\n');
    }
    let sha = crate::source::sha256_hex(format!("python={}\n{text}", app.python.value).as_bytes());
    Ok((text, sha))
}

/// Resolve every secret of `app`, or say which ones are missing and why.
fn resolve_secrets(app: &App, lookup: EnvLookup<'_>) -> Result<Vec<(String, Secret)>, Vec<String>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for s in &app.secrets {
        let who = format!("secret `{}` of app `{}`", s.name, *app.name);
        let value = match &s.from {
            SecretFrom::Env(var) => match lookup(var) {
                Some(v) => v,
                None => {
                    errors.push(format!(
                        "{who}: environment variable {var} is not set; export {var} before running wsgictl, or use from-file=\"...\""
                    ));
                    continue;
                }
            },
            SecretFrom::File(path) => match std::fs::read_to_string(path) {
                Ok(v) => {
                    let v = v.strip_suffix('\n').unwrap_or(&v);
                    v.strip_suffix('\r').unwrap_or(v).to_string()
                }
                Err(e) => {
                    errors.push(format!("{who}: reading {}: {e}", path.display()));
                    continue;
                }
            },
        };
        if value.chars().any(char::is_control) {
            errors.push(format!(
                "{who}: the value contains a newline or another control character (only one trailing newline is allowed); it cannot be written to the env file safely"
            ));
            continue;
        }
        out.push((s.name.clone(), Secret(value)));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn scrub_replaces_every_secret_value() {
        let text = "OperationalError: postgres://app:pa55word-long@db/x; key=pa55word";
        let values = [
            "pa55word".to_string(),
            "postgres://app:pa55word-long@db/x".to_string(),
            String::new(),
        ];
        assert_eq!(
            super::scrub(text, &values),
            "OperationalError: <redacted>; key=<redacted>"
        );
    }
}
