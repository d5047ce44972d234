//! Resource ids: what a plan change is about, as a type.
//!
//! Stage: plan (data only). Handlers, hooks, markers and the stale check branch on the kind
//! of a change and the app or path it carries; they match on [`ResourceId`], so the compiler
//! names every place a new kind must be handled. The plan serialises an id as the string
//! users have always seen (`vhost:blog`, `dir:/srv/blog`, `reload:apache`), and reads it back
//! from a saved plan with [`std::str::FromStr`]. Nothing here performs I/O.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The Django management commands a plan can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Hook {
    Collectstatic,
    Migrate,
}

impl Hook {
    pub fn name(self) -> &'static str {
        match self {
            Hook::Collectstatic => "collectstatic",
            Hook::Migrate => "migrate",
        }
    }

    pub fn from_name(s: &str) -> Option<Hook> {
        match s {
            "collectstatic" => Some(Hook::Collectstatic),
            "migrate" => Some(Hook::Migrate),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceId {
    /// `packages`: the host's distribution packages.
    HostPackages,
    /// `group:NAME`
    Group(String),
    /// `account:NAME`
    Account(String),
    /// `dir:/path`
    Dir(String),
    /// `access:USER:/path`: `user` may traverse `path`.
    Access {
        user: String,
        path: String,
    },
    /// `access`: every app directory is reachable (the summary no-op).
    Reachable,
    /// `source:APP`
    Source(String),
    /// `venv:APP`
    /// `release:APP`: a new release directory (`{root}/releases/<id>`).
    Release(String),
    /// `switch:APP`: `{root}/current` pointed at another release.
    Switch(String),
    Venv(String),
    /// `packages:APP`: what pip installed into the app's venv.
    PipPackages(String),
    /// `wsgi-script:APP`
    WsgiScript(String),
    /// `env-file:APP`
    EnvFile(String),
    /// `collectstatic:APP`, `migrate:APP`
    Hook {
        hook: Hook,
        app: String,
    },
    /// `vhost:APP`: the app's vhost, or with `tls` its plain-HTTP redirect.
    Vhost(String),
    /// `tls-vhost:APP`: the HTTPS vhost of an app with `tls`.
    TlsVhost(String),
    /// `settings-overlay:APP`: `wsgictl_settings.py` (`django { overlay #true }`).
    Overlay(String),
    /// `certificate:APP`: the app's ACME certificate (certbot).
    Certificate(String),
    /// `settings:APP`: Django's settings checked as the daemon user before the hooks run.
    Settings(String),
    /// `host-conf:HOST`
    HostConf(String),
    /// `deploy-hook:HOST`: certbot's deploy hook of this Apache instance.
    DeployHook(String),
    /// `link:/path`: an a2en* enablement link.
    Link(String),
    /// `server-file:/path`: a file of a rootless account's Apache other than its
    /// configuration (`apachectl`, `envvars`, the watchdog, the systemd user unit).
    ServerFile(String),
    /// `supervision:HOST`: what keeps a rootless account's Apache running (its crontab
    /// lines, or its systemd user unit enabled).
    Supervision(String),
    /// `replaced:/path`: a hand-written Apache file an app took over (manifest `replaces`).
    Replaced(String),
    /// `restart:APP`: a daemon restart (`.wsgi` touch) an earlier run owes.
    Restart(String),
    /// `reload:apache`: a reload an earlier run promised.
    PendingReload,
    /// `service:apache`: Apache is not running.
    ApacheService,
}

impl ResourceId {
    /// The app this resource belongs to, when it belongs to one.
    pub fn app(&self) -> Option<&str> {
        match self {
            ResourceId::Source(a)
            | ResourceId::Release(a)
            | ResourceId::Switch(a)
            | ResourceId::Venv(a)
            | ResourceId::PipPackages(a)
            | ResourceId::WsgiScript(a)
            | ResourceId::EnvFile(a)
            | ResourceId::Vhost(a)
            | ResourceId::TlsVhost(a)
            | ResourceId::Overlay(a)
            | ResourceId::Certificate(a)
            | ResourceId::Settings(a)
            | ResourceId::Restart(a)
            | ResourceId::Hook { app: a, .. } => Some(a),
            _ => None,
        }
    }

    /// The host path this resource is, when it is one.
    pub fn path(&self) -> Option<&str> {
        match self {
            ResourceId::Dir(p)
            | ResourceId::Link(p)
            | ResourceId::Replaced(p)
            | ResourceId::ServerFile(p)
            | ResourceId::Access { path: p, .. } => Some(p),
            _ => None,
        }
    }

    /// A change of this resource means Apache's configuration must be tested and reloaded.
    pub fn reloads_apache(&self) -> bool {
        matches!(
            self,
            ResourceId::Vhost(_)
                | ResourceId::TlsVhost(_)
                | ResourceId::Certificate(_)
                | ResourceId::HostConf(_)
                | ResourceId::Link(_)
                | ResourceId::Replaced(_)
                | ResourceId::PendingReload
                | ResourceId::ApacheService
        )
    }

    /// A change of this resource restarts `app`'s daemon (its `.wsgi` is touched).
    pub fn restarts(&self, app: &str) -> bool {
        match self {
            ResourceId::Source(a)
            | ResourceId::Venv(a)
            | ResourceId::PipPackages(a)
            | ResourceId::EnvFile(a)
            | ResourceId::WsgiScript(a)
            | ResourceId::Overlay(a)
            | ResourceId::Switch(a)
            | ResourceId::Restart(a) => a == app,
            _ => false,
        }
    }

    /// A change of this resource means `app`'s Django hooks run (its code or packages changed).
    pub fn needs_hooks(&self, app: &str) -> bool {
        match self {
            ResourceId::Source(a)
            | ResourceId::Release(a)
            | ResourceId::Venv(a)
            | ResourceId::PipPackages(a)
            | ResourceId::Overlay(a) => a == app,
            _ => false,
        }
    }

    /// `source`, `venv`, `packages`, ...: the kind, as the id's prefix prints it.
    pub fn kind(&self) -> &'static str {
        match self {
            ResourceId::HostPackages | ResourceId::PipPackages(_) => "packages",
            ResourceId::Group(_) => "group",
            ResourceId::Account(_) => "account",
            ResourceId::Dir(_) => "dir",
            ResourceId::Access { .. } | ResourceId::Reachable => "access",
            ResourceId::Source(_) => "source",
            ResourceId::Release(_) => "release",
            ResourceId::Switch(_) => "switch",
            ResourceId::Venv(_) => "venv",
            ResourceId::WsgiScript(_) => "wsgi-script",
            ResourceId::EnvFile(_) => "env-file",
            ResourceId::Hook { hook, .. } => hook.name(),
            ResourceId::Vhost(_) => "vhost",
            ResourceId::TlsVhost(_) => "tls-vhost",
            ResourceId::Overlay(_) => "settings-overlay",
            ResourceId::Certificate(_) => "certificate",
            ResourceId::Settings(_) => "settings",
            ResourceId::HostConf(_) => "host-conf",
            ResourceId::DeployHook(_) => "deploy-hook",
            ResourceId::Link(_) => "link",
            ResourceId::ServerFile(_) => "server-file",
            ResourceId::Supervision(_) => "supervision",
            ResourceId::Replaced(_) => "replaced",
            ResourceId::Restart(_) => "restart",
            ResourceId::PendingReload => "reload",
            ResourceId::ApacheService => "service",
        }
    }
}

impl fmt::Display for ResourceId {
    /// Honours width and alignment (`{:20}`), as a string would.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = self.kind();
        let text = match self {
            ResourceId::HostPackages | ResourceId::Reachable => k.to_string(),
            ResourceId::PendingReload | ResourceId::ApacheService => format!("{k}:apache"),
            ResourceId::Access { user, path } => format!("access:{user}:{path}"),
            ResourceId::Group(s)
            | ResourceId::Account(s)
            | ResourceId::Dir(s)
            | ResourceId::Source(s)
            | ResourceId::Release(s)
            | ResourceId::Switch(s)
            | ResourceId::Venv(s)
            | ResourceId::PipPackages(s)
            | ResourceId::WsgiScript(s)
            | ResourceId::EnvFile(s)
            | ResourceId::Hook { app: s, .. }
            | ResourceId::Vhost(s)
            | ResourceId::TlsVhost(s)
            | ResourceId::Overlay(s)
            | ResourceId::Certificate(s)
            | ResourceId::Settings(s)
            | ResourceId::HostConf(s)
            | ResourceId::DeployHook(s)
            | ResourceId::Link(s)
            | ResourceId::ServerFile(s)
            | ResourceId::Supervision(s)
            | ResourceId::Replaced(s)
            | ResourceId::Restart(s) => format!("{k}:{s}"),
        };
        f.pad(&text)
    }
}

impl std::str::FromStr for ResourceId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "packages" => return Ok(ResourceId::HostPackages),
            "access" => return Ok(ResourceId::Reachable),
            _ => {}
        }
        let bad = || format!("not a resource id: {s:?}");
        let (kind, rest) = s.split_once(':').ok_or_else(bad)?;
        if rest.is_empty() {
            return Err(bad());
        }
        let r = rest.to_string();
        Ok(match kind {
            "group" => ResourceId::Group(r),
            "account" => ResourceId::Account(r),
            "dir" => ResourceId::Dir(r),
            "access" => {
                let (user, path) = rest.split_once(':').ok_or_else(bad)?;
                ResourceId::Access {
                    user: user.into(),
                    path: path.into(),
                }
            }
            "source" => ResourceId::Source(r),
            "release" => ResourceId::Release(r),
            "switch" => ResourceId::Switch(r),
            "venv" => ResourceId::Venv(r),
            "packages" => ResourceId::PipPackages(r),
            "wsgi-script" => ResourceId::WsgiScript(r),
            "env-file" => ResourceId::EnvFile(r),
            "vhost" => ResourceId::Vhost(r),
            "tls-vhost" => ResourceId::TlsVhost(r),
            "settings-overlay" => ResourceId::Overlay(r),
            "certificate" => ResourceId::Certificate(r),
            "settings" => ResourceId::Settings(r),
            "host-conf" => ResourceId::HostConf(r),
            "deploy-hook" => ResourceId::DeployHook(r),
            "link" => ResourceId::Link(r),
            "server-file" => ResourceId::ServerFile(r),
            "supervision" => ResourceId::Supervision(r),
            "replaced" => ResourceId::Replaced(r),
            "restart" => ResourceId::Restart(r),
            "reload" if rest == "apache" => ResourceId::PendingReload,
            "service" if rest == "apache" => ResourceId::ApacheService,
            other => match Hook::from_name(other) {
                Some(hook) => ResourceId::Hook { hook, app: r },
                None => return Err(bad()),
            },
        })
    }
}

impl Serialize for ResourceId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ResourceId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_print_as_before_and_read_back() {
        let ids = [
            (ResourceId::HostPackages, "packages"),
            (ResourceId::Group("blog".into()), "group:blog"),
            (ResourceId::Dir("/srv/blog".into()), "dir:/srv/blog"),
            (
                ResourceId::Access {
                    user: "www-data".into(),
                    path: "/srv/a:b".into(),
                },
                "access:www-data:/srv/a:b",
            ),
            (ResourceId::PipPackages("blog".into()), "packages:blog"),
            (
                ResourceId::Hook {
                    hook: Hook::Migrate,
                    app: "blog".into(),
                },
                "migrate:blog",
            ),
            (ResourceId::PendingReload, "reload:apache"),
            (ResourceId::TlsVhost("shop".into()), "tls-vhost:shop"),
            (ResourceId::Certificate("shop".into()), "certificate:shop"),
            (ResourceId::Overlay("shop".into()), "settings-overlay:shop"),
            (ResourceId::Settings("shop".into()), "settings:shop"),
            (ResourceId::ApacheService, "service:apache"),
            (
                ResourceId::Link("/etc/apache2/sites-enabled/x.conf".into()),
                "link:/etc/apache2/sites-enabled/x.conf",
            ),
        ];
        for (id, text) in ids {
            assert_eq!(id.to_string(), text);
            assert_eq!(text.parse::<ResourceId>().unwrap(), id);
        }
        for bad in ["", "vhost", "vhost:", "reload:nginx", "rm:-rf"] {
            assert!(bad.parse::<ResourceId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn kinds_decide_handlers() {
        assert!(ResourceId::Link("/x".into()).reloads_apache());
        assert!(!ResourceId::EnvFile("a".into()).reloads_apache());
        assert!(ResourceId::EnvFile("a".into()).restarts("a"));
        assert!(!ResourceId::EnvFile("a".into()).restarts("b"));
        assert!(ResourceId::PipPackages("a".into()).needs_hooks("a"));
        assert!(!ResourceId::EnvFile("a".into()).needs_hooks("a"));
    }
}
