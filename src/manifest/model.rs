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
    pub port: Spanned<u16>,
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
    pub wsgi: String,
    pub static_files: UrlDir,
    pub media: Option<UrlDir>,
    pub collectstatic: bool,
    pub migrate: bool,
}

/// A URL prefix served by Apache from a directory on the host.
#[derive(Debug, Serialize)]
pub struct UrlDir {
    /// Always ends with `/`.
    pub url: String,
    /// Absolute, no trailing `/`.
    pub dir: String,
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
