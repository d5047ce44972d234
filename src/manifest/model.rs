//! The manifest model: every value typed and validated, defaults applied.
//!
//! Stage: load (data only). Built by `decode`, checked by `checks`, read by `render`. Values
//! that cross-checks point at keep their source span in [`Spanned`]; serialising a `Spanned`
//! writes only its value, so the model snapshots cleanly. No secret value is ever stored here:
//! a secret is a reference (`from-env` / `from-file`) resolved at render time.

use miette::SourceSpan;
use serde::Serialize;
use std::path::PathBuf;

/// A value with the byte span it came from in the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: SourceSpan,
}

impl<T: Serialize> Serialize for Spanned<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(s)
    }
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

#[derive(Debug, Serialize)]
pub struct Manifest {
    /// The manifest file as given on the command line.
    #[serde(skip)]
    pub path: PathBuf,
    /// Directory that relative local paths are resolved against.
    #[serde(skip)]
    pub dir: PathBuf,
    /// Template override directory (absolute, exists).
    pub templates: Option<PathBuf>,
    pub hosts: Vec<Host>,
    pub apps: Vec<App>,
}

impl Manifest {
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| *h.name == name)
    }

    /// The apps deployed on `host`, in manifest order.
    pub fn apps_on<'a>(&'a self, host: &'a str) -> impl Iterator<Item = &'a App> + 'a {
        self.apps
            .iter()
            .filter(move |a| a.hosts.iter().any(|h| **h == host))
    }
}

#[derive(Debug, Serialize)]
pub struct Host {
    pub name: Spanned<String>,
    pub address: String,
    /// `None`: `~/.ssh/config`, then 22.
    pub port: Option<u16>,
    pub user: Option<String>,
    pub identity: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
    pub sudo: bool,
    /// Install what the host lacks (Apache, mod_wsgi, venv support, acl) with apt or dnf;
    /// `#false`: report it as a preflight error instead.
    pub packages: bool,
    pub apache: ApacheSettings,
    /// An ordinary account without sudo: a user-level Apache of the account's own serves its
    /// apps, and nothing outside the account is touched (`rootless`).
    pub rootless: bool,
    /// Rootless: the account's home, when it is not `/home/USER` (the gather checks it).
    pub home: Option<String>,
    /// The bastion the connection goes through (`jump`): another host block's, or
    /// `[user@]host[:port]`.
    pub jump: Option<Jump>,
    /// Rootless without a `systemd --user` manager: how often (minutes) cron's watchdog
    /// starts the account's Apache when it is down.
    pub watchdog: u32,
}

/// A jump host (ProxyJump): where it is and who logs in there.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Jump {
    pub address: String,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub identity: Option<PathBuf>,
}

impl Jump {
    /// `[user@]host[:port]` (`[v6]:port` too); `None` when it is not one.
    pub fn parse(s: &str) -> Option<Jump> {
        let (user, rest) = match s.rsplit_once('@') {
            Some((u, r)) => (Some(u.to_string()), r),
            None => (None, s),
        };
        let (address, port) = if let Some(r) = rest.strip_prefix('[') {
            let (a, p) = r.split_once(']')?;
            (a, p.strip_prefix(':').map(str::parse).transpose().ok()?)
        } else {
            match rest.rsplit_once(':') {
                Some((a, p)) if !a.contains(':') => (a, Some(p.parse().ok()?)),
                _ => (rest, None),
            }
        };
        let ok = |v: &str| {
            !v.is_empty()
                && !v.starts_with('-')
                && !v.contains(|c: char| c.is_whitespace() || c == '/' || c == '@')
        };
        (ok(address) && user.as_deref().is_none_or(ok)).then(|| Jump {
            address: address.to_string(),
            port,
            user,
            identity: None,
        })
    }
}

/// What the manifest says about the host's Apache; `None` means "detect on the host".
#[derive(Debug, Default, Serialize)]
pub struct ApacheSettings {
    pub confdir: Option<String>,
    pub layout: Option<Layout>,
    pub user: Option<String>,
    pub group: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    #[default]
    Debian,
    Rhel,
}

#[derive(Debug, Serialize)]
pub struct App {
    pub name: Spanned<String>,
    pub hosts: Vec<Spanned<String>>,
    pub server_name: Spanned<String>,
    pub aliases: Vec<Spanned<String>>,
    /// The port the app is served on: the HTTPS vhost's with `tls` (default 443), else the
    /// plain vhost's (default 80).
    pub port: Spanned<u16>,
    /// With `tls`: the plain-HTTP vhost's port (default 80), which redirects to https and
    /// serves ACME challenges. `None` without `tls`.
    pub http_port: Option<Spanned<u16>>,
    pub tls: Option<Tls>,
    pub root: Spanned<String>,
    pub user: String,
    pub group: String,
    pub source: Source,
    /// Where it was written, or the app's name when it was not (the default).
    pub python: Spanned<String>,
    pub venv: Venv,
    pub django: Django,
    pub daemon: Daemon,
    pub env: Vec<EnvVar>,
    pub secrets: Vec<SecretRef>,
    pub health: Option<String>,
    /// Text the `health` answer must contain, else the release is rolled back.
    pub health_expect: Option<String>,
    /// How many releases `{root}/releases` keeps (the current and the previous always).
    pub releases: u32,
    /// A private directory the daemon user writes (SQLite, caches, uploads in progress):
    /// never served, never synced, never deleted.
    pub data: Option<Spanned<String>>,
    /// The URL the app is mounted at: `/` (the default) or a sub-URL such as `/blog`.
    pub mount: String,
    /// Apache directives wsgictl does not model, placed verbatim at the end of the app's
    /// vhost (`import` keeps a hand-written vhost's `RewriteRule`s, `Header`s, auth here).
    pub apache_raw: Option<String>,
    /// Apache files on the host this app takes over from (`import` writes them): the first
    /// apply disables them and keeps them in a root-only backup directory.
    pub replaces: Vec<String>,
    /// Rootless hosts: the address the account's Apache listens on (`127.0.0.1` unless given).
    pub listen: Option<Spanned<String>>,
    /// Rootless hosts: the port of the host's own web server in front of the account's
    /// Apache, where `doctor` checks that requests reach the app (80 unless given).
    pub front_port: u16,
}

/// HTTPS: Apache terminates TLS with a certificate already on the host or one from ACME.
#[derive(Debug, Serialize)]
pub struct Tls {
    #[serde(flatten)]
    pub source: TlsSource,
    /// `Strict-Transport-Security: max-age=…` when given.
    pub hsts: Option<u32>,
    #[serde(skip)]
    pub span: SourceSpan,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsSource {
    /// Full chain and key, both on the host.
    Files {
        certificate: String,
        key: String,
    },
    Acme(Acme),
}

/// A certificate from an RFC 8555 CA through the host's certbot (webroot mode).
#[derive(Debug, Serialize)]
pub struct Acme {
    pub email: String,
    pub directory: String,
    /// A CA bundle on the host that certbot trusts for `directory` (a private ACME server).
    pub trust: Option<String>,
}

/// The address an app on a rootless host listens on unless it says: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1";

/// Let's Encrypt's production directory: `acme { directory }` when it is not given.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

impl App {
    /// The app's `acme` block, when its certificate comes from an ACME CA.
    pub fn acme(&self) -> Option<&Acme> {
        match &self.tls.as_ref()?.source {
            TlsSource::Acme(a) => Some(a),
            TlsSource::Files { .. } => None,
        }
    }

    /// The address a rootless host's Apache listens on for this app: `listen`, else loopback.
    pub fn listen_address(&self) -> &str {
        self.listen.as_ref().map_or(DEFAULT_LISTEN, |l| l.as_str())
    }

    /// The server name, then the aliases: every name the app answers to.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.server_name.as_str()).chain(self.aliases.iter().map(|a| a.as_str()))
    }
}

#[derive(Debug, Serialize)]
pub struct Source {
    /// Local directory (absolute, exists).
    pub path: PathBuf,
    /// Extra exclude patterns; `.git`, `__pycache__` and `*.pyc` are always excluded.
    pub exclude: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Venv {
    /// Remote venv directory, `{root}/venv` unless given.
    pub path: String,
    /// Where `path` was given; `None` for the default.
    #[serde(skip)]
    pub path_span: Option<SourceSpan>,
    /// Local requirements file (absolute, exists).
    pub requirements: Option<PathBuf>,
    pub packages: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Django {
    pub settings: String,
    /// The module that defines `application`, when the manifest says; otherwise the `.wsgi`
    /// loads Django's own `WSGI_APPLICATION` (and Django's default handler when unset).
    pub wsgi: Option<String>,
    pub static_files: UrlDir,
    pub media: Option<UrlDir>,
    pub collectstatic: bool,
    pub migrate: bool,
    /// Make the manifest authoritative without touching the project: a settings module of
    /// wsgictl's that imports the project's and sets STATIC_ROOT, MEDIA_ROOT, ALLOWED_HOSTS,
    /// CSRF_TRUSTED_ORIGINS (with `tls`) and moves SQLite into `data`.
    pub overlay: bool,
}

/// A URL prefix served by Apache from a directory on the host.
#[derive(Debug, Serialize)]
pub struct UrlDir {
    /// Always ends with `/`.
    pub url: String,
    /// Absolute, no trailing `/`.
    pub dir: String,
    /// The node it came from (`static "…" "…"`), for findings.
    #[serde(skip)]
    pub span: SourceSpan,
}

/// mod_wsgi daemon-process sizing and timeouts (seconds).
#[derive(Debug, Serialize)]
pub struct Daemon {
    pub processes: u32,
    pub threads: u32,
    pub maximum_requests: Option<u32>,
    pub request_timeout: u32,
    pub graceful_timeout: u32,
    pub queue_timeout: u32,
}

impl Default for Daemon {
    /// mod_wsgi's documented production sizing (ERRORS.md section 5.2).
    fn default() -> Self {
        Daemon {
            processes: 2,
            threads: 15,
            maximum_requests: None,
            request_timeout: 60,
            graceful_timeout: 15,
            queue_timeout: 45,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Serialize)]
pub struct SecretRef {
    pub name: String,
    pub from: SecretFrom,
    #[serde(skip)]
    pub span: SourceSpan,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecretFrom {
    /// A variable of wsgictl's own environment.
    Env(String),
    /// A local file (absolute, exists); one trailing newline is dropped.
    File(PathBuf),
}

#[cfg(test)]
mod tests {
    use super::Jump;

    #[test]
    fn jump_hosts_read_as_openssh_writes_them() {
        let j = Jump::parse("deploy@bastion.example.net:2222").unwrap();
        assert_eq!(
            (j.user.as_deref(), j.address.as_str(), j.port),
            (Some("deploy"), "bastion.example.net", Some(2222))
        );
        let j = Jump::parse("bastion").unwrap();
        assert_eq!(
            (j.user, j.address.as_str(), j.port),
            (None, "bastion", None)
        );
        let j = Jump::parse("[2001:db8::1]:22").unwrap();
        assert_eq!((j.address.as_str(), j.port), ("2001:db8::1", Some(22)));
        for bad in ["", "-oProxyCommand=x", "a b", "host:port", "u@", "x/y"] {
            assert_eq!(Jump::parse(bad), None, "{bad:?}");
        }
    }
}
