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
        apache: Option<&crate::facts::Apache>,
        replaced: &[crate::desired::DesiredReplaced],
    ) -> HostEnv {
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
        let apache_user = host.apache.user.clone().unwrap_or_else(|| user.to_string());
        HostEnv {
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

    /// Where the host-wide file goes.
    pub fn host_conf_path(&self) -> String {
        match self.layout {
            Layout::Debian => format!("{}/conf-available/wsgictl.conf", self.confdir),
            Layout::Rhel => format!("{}/conf.d/00-wsgictl.conf", self.confdir),
        }
    }

    /// Debian's enablement links for the host-wide file, mod_wsgi and each app's vhost; with
    /// `tls` (the bool of each app) its TLS vhost, and mod_ssl, mod_rewrite and mod_headers.
    /// `ssl`: some app of the host has `tls`, selected or not.
    pub fn links(&self, apps: &[(&str, bool)], ssl: bool) -> Vec<DesiredLink> {
        if self.layout != Layout::Debian {
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
        format!(
            "/var/lib/wsgictl/reload-pending{}",
            self.confdir.replace('/', "_")
        )
    }

    /// `/run/wsgictl/apply<confdir with / as _>.lock`: one apply at a time per Apache
    /// instance. `/run/wsgictl` is root's and 0700: no other account can take, block or
    /// replace the lock (`/run/lock` is world-writable).
    pub fn lock_path(&self) -> String {
        format!("/run/wsgictl/apply{}.lock", self.confdir.replace('/', "_"))
    }

    /// `/var/lib/wsgictl/backup<confdir with / as _>.`: a run's backups go in a directory with
    /// this prefix, removed when the run ends, or by the next run when it was killed.
    pub fn backup_prefix(&self) -> String {
        format!("/var/lib/wsgictl/backup{}.", self.confdir.replace('/', "_"))
    }

    /// `/var/lib/wsgictl/owed<confdir with / as _>`: one marker per step an apply owes
    /// (`APP.collectstatic`, `APP.migrate`, `APP.touch`), written before the change that
    /// creates the debt and removed after the step has run.
    pub fn owed_dir(&self) -> String {
        format!("/var/lib/wsgictl/owed{}", self.confdir.replace('/', "_"))
    }

    /// `/var/lib/wsgictl/deploy-hook<confdir with / as _>.sh`: certbot's deploy hook of this
    /// instance (in wsgictl's private, root-only directory).
    pub fn deploy_hook_path(&self) -> String {
        format!(
            "/var/lib/wsgictl/deploy-hook{}.sh",
            self.confdir.replace('/', "_")
        )
    }

    /// Where app `name`'s TLS vhost goes (`.` cannot be in an app name: no collision).
    pub fn tls_vhost_path(&self, name: &str) -> String {
        match self.layout {
            Layout::Debian => format!("{}/sites-available/wsgictl-{name}.tls.conf", self.confdir),
            Layout::Rhel => format!("{}/conf.d/wsgictl-{name}.tls.conf", self.confdir),
        }
    }

    /// Where app `name`'s vhost goes.
    pub fn vhost_path(&self, name: &str) -> String {
        match self.layout {
            Layout::Debian => format!("{}/sites-available/wsgictl-{name}.conf", self.confdir),
            Layout::Rhel => format!("{}/conf.d/wsgictl-{name}.conf", self.confdir),
        }
    }
}
