//! What a rootless host adds to the desired state: the account's server root and its
//! files (`httpd.conf`, `apachectl`, `envvars`, the cron watchdog or the systemd user unit),
//! the crontab lines, and the one rule for modes there (nothing readable by other accounts).
//!
//! Stage: render (pure).

use super::{HostCtx, HostEnv, Rootless, Supervision};
use crate::desired::{Content, DesiredDir, DesiredFile, DesiredRootless, FileRole};
use crate::templates::{self, Templates};
use anyhow::Context as _;
use serde::Serialize;

/// `{{ host.rootless }}` in every template of a rootless host.
#[derive(Debug, Serialize)]
pub struct RootlessCtx {
    pub account: String,
    pub home: String,
    pub server_root: String,
    /// `{server_root}/logs`.
    pub log_dir: String,
    pub httpd: String,
    pub ctl: String,
    pub envvars: String,
    pub pid_file: String,
    /// The apply lock (the watchdog does not start Apache while an apply holds it).
    pub lock: String,
    pub rotatelogs: String,
    /// `ADDR:PORT` of each `Listen`.
    pub binds: Vec<String>,
    /// The modules `httpd.conf` loads: `name` (`wsgi_module`) and `path`.
    pub modules: Vec<Module>,
    /// Addresses whose `X-Forwarded-*` headers mod_wsgi believes (the front end's).
    pub trusted_proxies: Vec<String>,
    pub supervision: Supervision,
    pub watchdog_minutes: u32,
}

#[derive(Debug, Serialize)]
pub struct Module {
    pub name: String,
    pub path: String,
}

/// What `httpd.conf` loads: what the vhosts and their `apache-raw` commonly use.
const MODULES: &[&str] = &[
    "mpm_event",
    "unixd",
    "log_config",
    "authz_core",
    "authz_host",
    "alias",
    "mime",
    "dir",
    "env",
    "setenvif",
    "headers",
    "rewrite",
];

/// `[::1]:18080` for IPv6, `127.0.0.1:18080` for IPv4.
pub fn bind(addr: &str, port: u16) -> String {
    if addr.contains(':') {
        format!("[{addr}]:{port}")
    } else {
        format!("{addr}:{port}")
    }
}

pub fn ctx(r: &Rootless, env: &HostEnv, binds: &[(String, u16)]) -> RootlessCtx {
    let mut modules: Vec<Module> = MODULES
        .iter()
        .map(|m| Module {
            name: format!("{m}_module"),
            path: format!("{}/mod_{m}.so", r.modules),
        })
        .collect();
    modules.push(Module {
        name: "wsgi_module".into(),
        path: r.wsgi_so.clone(),
    });
    RootlessCtx {
        account: r.account.clone(),
        home: r.home.clone(),
        server_root: r.server_root(),
        log_dir: r.log_dir(),
        httpd: r.httpd.clone(),
        ctl: r.ctl(),
        envvars: format!("{}/envvars", r.server_root()),
        pid_file: r.pid_file(),
        lock: env.lock_path(),
        rotatelogs: r.rotatelogs.clone(),
        binds: binds.iter().map(|(a, p)| bind(a, *p)).collect(),
        modules,
        trusted_proxies: vec!["127.0.0.1".into(), "::1".into()],
        supervision: r.supervision,
        watchdog_minutes: r.watchdog,
    }
}

/// The server root's directories (the state directory around them is apply's own, made
/// 0700 before anything else).
pub fn dirs(r: &Rootless) -> Vec<DesiredDir> {
    let sr = r.server_root();
    let d = |path: String| DesiredDir {
        path,
        owner: r.account.clone(),
        group: r.group.clone(),
        mode: 0o700,
        app: None,
    };
    vec![
        d(sr.clone()),
        d(format!("{sr}/sites")),
        d(r.log_dir()),
        d(format!("{sr}/run")),
    ]
}

/// `apachectl`, `envvars`, and the watchdog (cron) or the user unit (systemd).
pub fn files(
    templates: &Templates,
    host: &HostCtx,
    r: &Rootless,
) -> anyhow::Result<Vec<DesiredFile>> {
    #[derive(Serialize)]
    struct Ctx<'a> {
        host: &'a HostCtx,
    }
    let sr = r.server_root();
    let mut wanted = vec![
        (templates::USER_CTL, r.ctl(), 0o700),
        (templates::USER_ENVVARS, format!("{sr}/envvars"), 0o600),
    ];
    match r.supervision {
        Supervision::Cron => {
            wanted.push((templates::USER_WATCHDOG, format!("{sr}/watchdog"), 0o700))
        }
        Supervision::SystemdUser => wanted.push((templates::USER_UNIT, r.unit_path(), 0o600)),
    }
    wanted
        .into_iter()
        .map(|(template, path, mode)| {
            let text = templates
                .render(template, &Ctx { host })
                .with_context(|| format!("rendering {template} for host `{}`", host.name))?;
            Ok(DesiredFile {
                path,
                owner: r.account.clone(),
                group: r.group.clone(),
                mode,
                role: FileRole::ServerFile,
                app: None,
                template,
                content: Content::plain(text),
            })
        })
        .collect()
}

/// The crontab lines of cron supervision: at boot, and every `watchdog` minutes.
pub fn cron_block(r: &Rootless) -> String {
    let w = crate::shell::quote(&format!("{}/watchdog", r.server_root()))
        .expect("no NUL")
        .into_owned();
    format!(
        "{}\n@reboot {w}\n*/{} * * * * {w}\n{}\n",
        crate::desired::CRON_BEGIN,
        r.watchdog,
        crate::desired::CRON_END
    )
}

pub fn desired(r: &Rootless, binds: Vec<(String, u16)>) -> DesiredRootless {
    DesiredRootless {
        account: r.account.clone(),
        server_root: r.server_root(),
        ctl: r.ctl(),
        pid_file: r.pid_file(),
        supervision: r.supervision,
        cron_block: (r.supervision == Supervision::Cron).then(|| cron_block(r)),
        watchdog: r.watchdog,
        binds,
    }
}

/// Modes in a rootless account: the account's Apache is the only reader, so nothing is
/// left readable or traversable by the account's group or other accounts.
pub fn private(mode: u32) -> u32 {
    mode & 0o700
}

/// Paths that go unquoted into `httpd.conf`'s piped logs and mod_wsgi's socket names.
pub fn check_home(home: &str) -> anyhow::Result<()> {
    crate::manifest::rules::plain_path(home).map_err(|e| {
        anyhow::anyhow!(
            "the account's home {home:?} cannot hold the server root: {e}; give another directory the account owns with `home \"...\"` on the host"
        )
    })
}

/// What to put in front of the account's Apache for one app served at `url`
/// (`http://127.0.0.1:18080`): a block for the host's Apache, an nginx `location`, or the
/// `.htaccess` rule where the host allows proxying from there. Each passes the original Host
/// and says which scheme it served (`X-Forwarded-Proto`, which mod_wsgi trusts from loopback).
pub fn front_end(server_name: &str, url: &str) -> String {
    format!(
        "  {server_name}, in the host's Apache (mod_proxy, mod_proxy_http, mod_headers), inside its <VirtualHost>:
      ProxyPreserveHost On
      ProxyPass        / {url}/
      ProxyPassReverse / {url}/
      RequestHeader set X-Forwarded-Proto \"https\" \"expr=%{{HTTPS}} == 'on'\"
  or in nginx, inside its server {{ }} block:
      location / {{
          proxy_pass {url};
          proxy_set_header Host $host;
          proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
          proxy_set_header X-Forwarded-Proto $scheme;
      }}
  or, where the host's Apache allows it (AllowOverride FileInfo, mod_proxy), in the site's .htaccess:
      RewriteEngine On
      RewriteRule ^(.*)$ {url}/$1 [P,L]
"
    )
}

/// The URL the front end forwards to: loopback unless the app listens elsewhere.
pub fn backend_url(addr: &str, port: u16) -> String {
    let host = match addr {
        "0.0.0.0" => "127.0.0.1",
        "::" => "::1",
        a => a,
    };
    format!("http://{}", bind(host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootless(supervision: Supervision) -> Rootless {
        Rootless {
            account: "alice".into(),
            group: "staff".into(),
            home: "/home/alice".into(),
            httpd: "/usr/sbin/apache2".into(),
            modules: "/usr/lib/apache2/modules".into(),
            rotatelogs: "/usr/bin/rotatelogs".into(),
            wsgi_so: "/usr/lib/apache2/modules/mod_wsgi.so".into(),
            supervision,
            watchdog: 5,
        }
    }

    fn env(r: Rootless) -> HostEnv {
        HostEnv {
            layout: crate::manifest::Layout::Debian,
            confdir: r.server_root(),
            apache_user: r.account.clone(),
            apache_group: r.group.clone(),
            listening: Default::default(),
            rootless: Some(r),
        }
    }

    /// The support files of each supervision, and how each reloads: systemd through the user
    /// manager (its bus found without a login session), cron's through apachectl.
    #[test]
    fn each_supervision_has_its_files_and_its_reload() {
        let templates = Templates::load(None).unwrap();
        for (sup, wanted, reload) in [
            (
                Supervision::Cron,
                "/home/alice/.local/share/wsgictl/apache/watchdog",
                "/home/alice/.local/share/wsgictl/apache/apachectl -k graceful",
            ),
            (
                Supervision::SystemdUser,
                "/home/alice/.config/systemd/user/wsgictl-apache.service",
                "XDG_RUNTIME_DIR=/run/user/$(id -u); export XDG_RUNTIME_DIR; if systemctl --user is-active --quiet wsgictl-apache.service; then systemctl --user reload wsgictl-apache.service; else systemctl --user start wsgictl-apache.service; fi",
            ),
        ] {
            let e = env(rootless(sup));
            let r = e.rootless.clone().unwrap();
            let host = HostCtx {
                name: "shared1".into(),
                layout: e.layout,
                confdir: e.confdir.clone(),
                apache_user: e.apache_user.clone(),
                apache_group: e.apache_group.clone(),
                socket_prefix: format!("{}/run/wsgi", r.server_root()),
                listen: Vec::new(),
                rootless: Some(ctx(&r, &e, &[("127.0.0.1".into(), 18080)])),
            };
            let files = files(&templates, &host, &r).unwrap();
            let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
            assert_eq!(
                paths,
                [
                    "/home/alice/.local/share/wsgictl/apache/apachectl",
                    "/home/alice/.local/share/wsgictl/apache/envvars",
                    wanted
                ]
            );
            assert!(
                files
                    .iter()
                    .all(|f| f.owner == "alice" && f.group == "staff")
            );
            assert_eq!(crate::apply::apache_control(&e).reload, reload);
            let unit_or_watchdog = files[2].content.secret_text();
            assert!(
                unit_or_watchdog.contains("/home/alice/.local/share/wsgictl/apache/apachectl"),
                "{unit_or_watchdog}"
            );
        }
        assert_eq!(
            desired(&rootless(Supervision::SystemdUser), Vec::new()).cron_block,
            None
        );
    }

    #[test]
    fn binds_bracket_ipv6_and_the_cron_block_is_fenced() {
        assert_eq!(bind("::1", 18080), "[::1]:18080");
        assert_eq!(bind("127.0.0.1", 18080), "127.0.0.1:18080");
        let r = Rootless {
            account: "alice".into(),
            group: "alice".into(),
            home: "/home/alice".into(),
            httpd: "/usr/sbin/apache2".into(),
            modules: "/usr/lib/apache2/modules".into(),
            rotatelogs: "/usr/bin/rotatelogs".into(),
            wsgi_so: "/usr/lib/apache2/modules/mod_wsgi.so".into(),
            supervision: Supervision::Cron,
            watchdog: 2,
        };
        assert_eq!(
            cron_block(&r),
            format!(
                "{}\n@reboot /home/alice/.local/share/wsgictl/apache/watchdog\n*/2 * * * * /home/alice/.local/share/wsgictl/apache/watchdog\n# END wsgictl\n",
                crate::desired::CRON_BEGIN
            )
        );
        assert_eq!(private(0o755), 0o700);
        assert_eq!(private(0o640), 0o600);
        assert!(check_home("/home/a b").is_err());
    }
}
