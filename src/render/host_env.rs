//! What render needs to know about a host's Apache, and where each of wsgictl's files and
//! markers goes on it (per layout and per instance).
//!
//! Stage: render (pure). Assumed from the manifest by `render`, taken from facts by `plan`.

use crate::desired::{DesiredLink, EnableTool};
use crate::manifest::{Host, Layout};
use std::collections::BTreeSet;

/// What render needs to know about a host's Apache.
#[derive(Debug, Clone)]
pub struct HostEnv {
    pub layout: Layout,
    pub confdir: String,
    pub apache_user: String,
    pub apache_group: String,
    /// Ports some configuration not managed by wsgictl already listens on.
    pub listening: BTreeSet<u16>,
    /// A rootless host: the account's own Apache, where everything of wsgictl's lives.
    pub rootless: Option<Rootless>,
}

/// The user-level Apache of a rootless host: one server root per account, in a persistent
/// directory of its home (never `/tmp`), run from the host's Apache binary and modules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rootless {
    pub account: String,
    pub group: String,
    pub home: String,
    /// The host's Apache binary (`/usr/sbin/apache2`, `/usr/sbin/httpd`).
    pub httpd: String,
    /// The host's Apache modules directory.
    pub modules: String,
    pub rotatelogs: String,
    /// mod_wsgi's module in the host's modules directory.
    pub wsgi_so: String,
    pub supervision: Supervision,
    /// Minutes between the cron watchdog's checks.
    pub watchdog: u32,
}

/// What keeps the account's Apache running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Supervision {
    /// A `systemd --user` unit: the user manager runs and the account lingers.
    SystemdUser,
    /// A crontab `@reboot` entry and a watchdog every few minutes.
    Cron,
}

/// The systemd user unit's name.
pub const USER_UNIT: &str = "wsgictl-apache.service";

impl Rootless {
    /// `~/.local/share/wsgictl`: everything of wsgictl's in the account.
    pub fn data(&self) -> String {
        format!("{}/.local/share/wsgictl", self.home)
    }
    /// The server root: `httpd.conf`, `apachectl`, `envvars`, `sites/`, `logs/`, `run/`.
    pub fn server_root(&self) -> String {
        format!("{}/apache", self.data())
    }
    pub fn ctl(&self) -> String {
        format!("{}/apachectl", self.server_root())
    }
    /// The logs (the vhosts' piped logs, `error.log`, the watchdog's).
    pub fn log_dir(&self) -> String {
        format!("{}/logs", self.server_root())
    }
    pub fn pid_file(&self) -> String {
        format!("{}/run/httpd.pid", self.server_root())
    }
    pub fn unit_path(&self) -> String {
        format!("{}/.config/systemd/user/{USER_UNIT}", self.home)
    }
    /// Without facts: the Debian or RHEL defaults, the home `/home/USER` unless the manifest
    /// says (`home`), and cron's watchdog.
    fn assumed(host: &Host, layout: Layout) -> Option<Rootless> {
        if !host.rootless {
            return None;
        }
        let account = host.user.clone().unwrap_or_default();
        let (httpd, modules, rotatelogs) = match layout {
            Layout::Debian => (
                "/usr/sbin/apache2",
                "/usr/lib/apache2/modules",
                "/usr/bin/rotatelogs",
            ),
            Layout::Rhel => (
                "/usr/sbin/httpd",
                "/usr/lib64/httpd/modules",
                "/usr/sbin/rotatelogs",
            ),
        };
        Some(Rootless {
            group: account.clone(),
            home: host
                .home
                .clone()
                .unwrap_or_else(|| format!("/home/{account}")),
            account,
            httpd: httpd.into(),
            modules: modules.into(),
            rotatelogs: rotatelogs.into(),
            wsgi_so: format!("{modules}/mod_wsgi.so"),
            supervision: Supervision::Cron,
            watchdog: host.watchdog,
        })
    }
}

impl HostEnv {
    /// Without facts: the manifest's `apache` values, else the layout's defaults (Debian when
    /// unsaid), and no port assumed to be listened on already.
    pub fn assumed(host: &Host) -> Self {
        HostEnv::candidates(host).remove(0)
    }

    /// Every layout the host might have, for probing before the facts are in: the manifest's
    /// when it says, else both defaults. `confdir` alone implies the layout (`/etc/httpd…` is RHEL).
    pub fn candidates(host: &Host) -> Vec<HostEnv> {
        if host.rootless {
            // The account's Apache is wsgictl's own: the host's layout only decides where its
            // binary and modules are, which the gather reports. Either supervision may be
            // chosen from the facts: the files of both are probed.
            let cron = HostEnv::with_layout(host, Layout::Debian);
            let mut systemd = cron.clone();
            if let Some(r) = systemd.rootless.as_mut() {
                r.supervision = Supervision::SystemdUser;
            }
            return vec![cron, systemd];
        }
        let said = host.apache.layout.or_else(|| {
            host.apache.confdir.as_ref().map(|c| {
                if c.starts_with("/etc/httpd") {
                    Layout::Rhel
                } else {
                    Layout::Debian
                }
            })
        });
        let layouts = match said {
            Some(l) => vec![l],
            None => vec![Layout::Debian, Layout::Rhel],
        };
        layouts
            .into_iter()
            .map(|l| HostEnv::with_layout(host, l))
            .collect()
    }

    /// From facts: the manifest's values win, then what was detected, then the defaults.
    /// `listening` is what the host's Apache already listens on outside wsgictl's own file.
    ///
    /// A `Listen` in a file an app `replaces` does not count: that file goes with this apply.
    pub fn from_facts(
        host: &Host,
        facts: &crate::facts::Facts,
        replaced: &[crate::desired::DesiredReplaced],
    ) -> HostEnv {
        let apache = facts.apache.known().and_then(Option::as_ref);
        if host.rootless {
            let layout = apache.map_or(Layout::Debian, |a| a.layout);
            let mut env = HostEnv::with_layout(host, layout);
            if let (Some(r), Some(u)) = (
                env.rootless.as_mut(),
                facts.rootless.as_ref().and_then(|f| f.known()),
            ) {
                // The home stays the one the gather probed below (`/home/USER` or the
                // manifest's `home`): preflight refuses the plan when the account's differs.
                r.account = u.account.clone();
                r.group = u.group.clone();
                r.httpd = u.httpd.clone().unwrap_or(r.httpd.clone());
                r.modules = u.modules_dir.clone().unwrap_or(r.modules.clone());
                r.rotatelogs = u.rotatelogs.clone().unwrap_or(r.rotatelogs.clone());
                r.wsgi_so = apache
                    .and_then(|a| a.wsgi_so.clone())
                    .unwrap_or_else(|| format!("{}/mod_wsgi.so", r.modules));
                r.supervision = u.supervision();
                env.apache_user = u.account.clone();
                env.apache_group = u.group.clone();
            }
            return env;
        }
        let layout = host
            .apache
            .layout
            .or(apache.map(|a| a.layout))
            .unwrap_or(Layout::Debian);
        let mut env = HostEnv::with_layout(host, layout);
        if let Some(a) = apache {
            if host.apache.confdir.is_none() {
                env.confdir = a.confdir.clone();
            }
            if host.apache.user.is_none()
                && let Some(u) = &a.user
            {
                env.apache_user = u.clone();
            }
            if host.apache.group.is_none()
                && let Some(g) = &a.group
            {
                env.apache_group = g.clone();
            }
            env.listening = if a.listen_files.is_empty() {
                a.listen_ports.clone()
            } else {
                a.listen_files
                    .iter()
                    .filter(|(_, f)| !replaced.iter().any(|r| r.covers(f)))
                    .map(|(p, _)| *p)
                    .collect()
            };
        } else {
            // Not installed yet: Debian's ports.conf and RHEL's httpd.conf both listen on 80.
            env.listening = [80].into();
        }
        env
    }

    fn with_layout(host: &Host, layout: Layout) -> HostEnv {
        let (confdir, user) = match layout {
            Layout::Debian => ("/etc/apache2", "www-data"),
            Layout::Rhel => ("/etc/httpd", "apache"),
        };
        if let Some(r) = Rootless::assumed(host, layout) {
            return HostEnv {
                layout,
                confdir: r.server_root(),
                apache_user: r.account.clone(),
                apache_group: r.group.clone(),
                listening: BTreeSet::new(),
                rootless: Some(r),
            };
        }
        let apache_user = host.apache.user.clone().unwrap_or_else(|| user.to_string());
        HostEnv {
            rootless: None,
            layout,
            confdir: host
                .apache
                .confdir
                .clone()
                .unwrap_or_else(|| confdir.to_string()),
            apache_group: host
                .apache
                .group
                .clone()
                .unwrap_or_else(|| apache_user.clone()),
            apache_user,
            listening: BTreeSet::new(),
        }
    }

    /// The owner of what wsgictl writes that no app writes: root, or the account.
    pub fn owner(&self) -> &str {
        self.rootless
            .as_ref()
            .map_or("root", |r| r.account.as_str())
    }

    /// The group of the same.
    pub fn owner_group(&self) -> &str {
        self.rootless.as_ref().map_or("root", |r| r.group.as_str())
    }

    /// wsgictl's private state (markers, backups): root's `/var/lib/wsgictl`, or the
    /// account's `~/.local/share/wsgictl` (which holds the server root too).
    pub fn state_dir(&self) -> String {
        match &self.rootless {
            Some(r) => r.data(),
            None => "/var/lib/wsgictl".into(),
        }
    }

    /// Where the apply lock lives: root's `/run/wsgictl`, or the account's state `run/`.
    pub fn run_dir(&self) -> String {
        match &self.rootless {
            Some(r) => format!("{}/run", r.data()),
            None => "/run/wsgictl".into(),
        }
    }

    /// `_etc_apache2` for `/etc/apache2`: names the instance in the state's file names
    /// (empty on a rootless host: one Apache per account).
    pub(crate) fn instance(&self) -> String {
        if self.rootless.is_some() {
            String::new()
        } else {
            self.confdir.replace('/', "_")
        }
    }

    /// Where the host-wide file goes.
    pub fn host_conf_path(&self) -> String {
        if self.rootless.is_some() {
            return format!("{}/httpd.conf", self.confdir);
        }
        match self.layout {
            Layout::Debian => format!("{}/conf-available/wsgictl.conf", self.confdir),
            Layout::Rhel => format!("{}/conf.d/00-wsgictl.conf", self.confdir),
        }
    }

    /// Debian's enablement links for the host-wide file, mod_wsgi and each app's vhost; with
    /// `tls` (the bool of each app) its TLS vhost, and mod_ssl, mod_rewrite and mod_headers.
    /// `ssl`: some app of the host has `tls`, selected or not.
    pub fn links(&self, apps: &[(&str, bool)], ssl: bool) -> Vec<DesiredLink> {
        if self.layout != Layout::Debian || self.rootless.is_some() {
            return Vec::new();
        }
        let link = |tool: EnableTool, file: &str, app: Option<&str>| {
            let (enabled, available) = match tool {
                EnableTool::A2enmod => ("mods-enabled", "mods-available"),
                EnableTool::A2enconf => ("conf-enabled", "conf-available"),
                EnableTool::A2ensite => ("sites-enabled", "sites-available"),
            };
            DesiredLink {
                path: format!("{}/{enabled}/{file}", self.confdir),
                target: format!("../{available}/{file}"),
                app: app.map(str::to_string),
                tool,
                name: file
                    .trim_end_matches(".conf")
                    .trim_end_matches(".load")
                    .to_string(),
                confdir: self.confdir.clone(),
            }
        };
        let mut out = vec![
            link(EnableTool::A2enmod, "wsgi.load", None),
            link(EnableTool::A2enmod, "wsgi.conf", None),
            link(EnableTool::A2enconf, "wsgictl.conf", None),
        ];
        if ssl {
            for m in ["ssl.load", "ssl.conf", "rewrite.load", "headers.load"] {
                out.push(link(EnableTool::A2enmod, m, None));
            }
        }
        for (a, tls) in apps {
            out.push(link(
                EnableTool::A2ensite,
                &format!("wsgictl-{a}.conf"),
                Some(a),
            ));
            if *tls {
                out.push(link(
                    EnableTool::A2ensite,
                    &format!("wsgictl-{a}.tls.conf"),
                    Some(a),
                ));
            }
        }
        out
    }

    /// `/var/lib/wsgictl/reload-pending<confdir with / as _>`, one per Apache instance.
    pub fn reload_marker(&self) -> String {
        format!("{}/reload-pending{}", self.state_dir(), self.instance())
    }

    /// `/run/wsgictl/apply<confdir with / as _>.lock`: one apply at a time per Apache
    /// instance. `/run/wsgictl` is root's and 0700: no other account can take, block or
    /// replace the lock (`/run/lock` is world-writable).
    pub fn lock_path(&self) -> String {
        format!("{}/apply{}.lock", self.run_dir(), self.instance())
    }

    /// `/var/lib/wsgictl/backup<confdir with / as _>.`: a run's backups go in a directory with
    /// this prefix, removed when the run ends, or by the next run when it was killed.
    pub fn backup_prefix(&self) -> String {
        format!("{}/backup{}.", self.state_dir(), self.instance())
    }

    /// `/var/lib/wsgictl/owed<confdir with / as _>`: one marker per step an apply owes
    /// (`APP.collectstatic`, `APP.migrate`, `APP.touch`), written before the change that
    /// creates the debt and removed after the step has run.
    pub fn owed_dir(&self) -> String {
        format!("{}/owed{}", self.state_dir(), self.instance())
    }

    /// `/var/lib/wsgictl/deploy-hook<confdir with / as _>.sh`: certbot's deploy hook of this
    /// instance (in wsgictl's private, root-only directory).
    pub fn deploy_hook_path(&self) -> String {
        format!("{}/deploy-hook{}.sh", self.state_dir(), self.instance())
    }

    /// Where app `name`'s TLS vhost goes (`.` cannot be in an app name: no collision).
    pub fn tls_vhost_path(&self, name: &str) -> String {
        if self.rootless.is_some() {
            return format!("{}/sites/wsgictl-{name}.tls.conf", self.confdir);
        }
        match self.layout {
            Layout::Debian => format!("{}/sites-available/wsgictl-{name}.tls.conf", self.confdir),
            Layout::Rhel => format!("{}/conf.d/wsgictl-{name}.tls.conf", self.confdir),
        }
    }

    /// Where app `name`'s vhost goes.
    pub fn vhost_path(&self, name: &str) -> String {
        if self.rootless.is_some() {
            return format!("{}/sites/wsgictl-{name}.conf", self.confdir);
        }
        match self.layout {
            Layout::Debian => format!("{}/sites-available/wsgictl-{name}.conf", self.confdir),
            Layout::Rhel => format!("{}/conf.d/wsgictl-{name}.conf", self.confdir),
        }
    }
}
