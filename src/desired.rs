//! The desired state of one host: the directories and files a deploy makes, as plain data.
//!
//! Stage: output of render, input of plan. A file's content may hold secret values; it is
//! kept once with them (for writing and hashing) and once redacted (for every display), and
//! neither `Debug` nor `Serialize` can reach the secret form.

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct DesiredState {
    pub host: String,
    pub accounts: Vec<DesiredAccount>,
    pub dirs: Vec<DesiredDir>,
    pub sources: Vec<DesiredSource>,
    pub venvs: Vec<DesiredVenv>,
    pub files: Vec<DesiredFile>,
    /// Enablement symlinks (Debian's a2ensite, a2enconf, a2enmod); none on RHEL.
    pub links: Vec<DesiredLink>,
    /// Django management commands run after the app's code or packages change.
    pub hooks: Vec<DesiredHook>,
    /// Who must be able to traverse to which directories (the Apache user to the app roots,
    /// static and media; each daemon user to its root and venv).
    pub access: Vec<DesiredAccess>,
    /// Written before apply's first write when it will reload Apache, removed after the
    /// reload: a run killed in between still reloads next time.
    pub reload_marker: String,
    /// Markers of steps an earlier apply owes ([`DesiredState::owed`]).
    pub owed_dir: String,
    /// The host lock of this Apache instance (`HostEnv::lock_path`).
    pub lock: String,
    /// Prefix of this instance's backup directories (`HostEnv::backup_prefix`).
    pub backup_prefix: String,
    /// The host's `packages` (install what it lacks).
    pub install_packages: bool,
    /// The certificate of each app with `tls`.
    pub certificates: Vec<DesiredCert>,
    /// Django's settings, checked as each app's daemon user before its hooks run.
    pub settings_checks: Vec<DesiredSettingsCheck>,
    /// Each app's release directories and the `current` link.
    pub releases: Vec<DesiredRelease>,
    /// Hand-written Apache files the apps take over (`replaces`): disabled and moved into
    /// a root-only backup directory by the first apply.
    pub replaced: Vec<DesiredReplaced>,
    /// wsgictl's private state directory and the lock's directory (`HostEnv::state_dir`,
    /// `HostEnv::run_dir`): made 0700 and owned by whoever runs apply.
    pub state_dir: String,
    pub run_dir: String,
    /// A rootless host: the account's Apache and what keeps it running.
    pub rootless: Option<DesiredRootless>,
}

/// The user-level Apache of a rootless host.
#[derive(Debug, Clone, Serialize)]
pub struct DesiredRootless {
    pub account: String,
    pub server_root: String,
    /// `{server_root}/apachectl`: the host's Apache binary on this server root.
    pub ctl: String,
    pub pid_file: String,
    pub supervision: crate::render::Supervision,
    /// With cron: the crontab lines wsgictl owns, between its marker lines.
    pub cron_block: Option<String>,
    /// With cron: minutes between the watchdog's checks.
    pub watchdog: u32,
    /// Each address and port the account's Apache listens on.
    pub binds: Vec<(String, u16)>,
}

/// The first and last lines of wsgictl's part of a crontab.
pub const CRON_BEGIN: &str =
    "# BEGIN wsgictl: keeps this account's Apache running (managed; edit site.kdl instead)";
pub const CRON_END: &str = "# END wsgictl";

/// An Apache file an app replaces: it must be gone from where Apache reads it.
#[derive(Debug, Clone, Serialize)]
pub struct DesiredReplaced {
    pub path: String,
    /// The apps that name it.
    pub apps: Vec<String>,
    /// The `sites-enabled` (or `conf-enabled`) link to it, for a file in `*-available`.
    pub enabled: Option<String>,
    /// Where it is moved: `/var/lib/wsgictl/replaced/<its path>` (0700 directories).
    pub backup: String,
}

impl DesiredReplaced {
    /// Whether `file` (as Apache names it: the `sites-enabled` link, or the file) is this one.
    pub fn covers(&self, file: &str) -> bool {
        file == self.path || self.enabled.as_deref() == Some(file)
    }

    /// The files the apps of `m` on `host` replace, each once.
    pub fn of(m: &crate::manifest::Manifest, host: &str) -> Vec<DesiredReplaced> {
        let mut out: Vec<DesiredReplaced> = Vec::new();
        for app in m.apps_on(host) {
            for path in &app.replaces {
                match out.iter_mut().find(|r| &r.path == path) {
                    Some(r) => r.apps.push(app.name.value.clone()),
                    None => out.push(DesiredReplaced::new(path, vec![app.name.value.clone()])),
                }
            }
        }
        out
    }

    pub fn new(path: &str, apps: Vec<String>) -> Self {
        let p = std::path::Path::new(path);
        let enabled = p.parent().and_then(|dir| {
            let d = dir.to_str()?;
            let base = d
                .strip_suffix("/sites-available")
                .map(|b| format!("{b}/sites-enabled"))
                .or_else(|| {
                    d.strip_suffix("/conf-available")
                        .map(|b| format!("{b}/conf-enabled"))
                })?;
            Some(format!("{base}/{}", p.file_name()?.to_str()?))
        });
        DesiredReplaced {
            path: path.to_string(),
            apps,
            enabled,
            backup: format!("{REPLACED_DIR}{path}"),
        }
    }
}

/// Root-only home of the Apache files apps replaced, each below its own path.
pub const REPLACED_DIR: &str = "/var/lib/wsgictl/replaced";

/// `{root}/releases/<id>` per release (`src`, `static`, `app.env`, `.wsgictl-release`), and
/// `{root}/current` pointing at the one that runs.
#[derive(Debug, Clone, Serialize)]
pub struct DesiredRelease {
    pub app: String,
    pub root: String,
    /// `{root}/releases`.
    pub dir: String,
    /// `{root}/current`.
    pub current: String,
    /// How many releases to keep (`releases`; never fewer than the current and the previous).
    pub keep: u32,
    /// The manifest's static directory: a link to `{root}/current/static`.
    pub static_link: String,
    pub user: String,
    pub group: String,
    pub overlay: bool,
    pub requirements_sha256: String,
}

impl DesiredRelease {
    /// Where an app deployed by wsgictl before releases keeps its code: `{root}/src`.
    pub fn legacy_src(&self) -> String {
        format!("{}/src", self.root)
    }

    /// `{root}/releases/<id>`.
    pub fn path(&self, id: &str) -> String {
        format!("{}/{id}", self.dir)
    }
}

/// The certificate an app's TLS vhost serves.
#[derive(Debug, Clone, Serialize)]
pub struct DesiredCert {
    pub app: String,
    /// Every name it must cover: the server name, then the aliases.
    pub names: Vec<String>,
    pub certificate: String,
    pub key: String,
    /// Where the manifest says so (`tls`), for findings.
    #[serde(skip)]
    pub span: Option<miette::SourceSpan>,
    pub acme: Option<DesiredAcme>,
}

/// A certificate certbot requests (webroot mode) and renews with its own timer.
#[derive(Debug, Clone, Serialize)]
pub struct DesiredAcme {
    pub email: String,
    pub directory: String,
    pub trust: Option<String>,
    pub lineage: String,
    /// `{root}/acme`: certbot writes the HTTP-01 tokens below it.
    pub webroot: String,
    /// The plain-HTTP vhost's port, where the challenge is served.
    pub http_port: u16,
    /// certbot's `--deploy-hook`: the script that tests and reloads this Apache instance.
    pub deploy_hook: String,
}

#[derive(Debug, Clone, Default)]
pub struct SettingsSpans {
    pub static_files: Option<miette::SourceSpan>,
    pub media: Option<miette::SourceSpan>,
    pub data: Option<miette::SourceSpan>,
}

/// `settings_check::PROGRAM` as `user`, with the daemon's module path.
#[derive(Debug, Clone, Serialize)]
pub struct DesiredSettingsCheck {
    /// The app's name in the manifest, for findings.
    #[serde(skip)]
    pub span: Option<miette::SourceSpan>,
    /// Its `static`, `media` and `data` nodes, where a settings finding's fix goes.
    #[serde(skip)]
    pub spans: SettingsSpans,
    pub user: String,
    pub venv: String,
    pub python_path: String,
    /// The manifest's `wsgi`; `None`: the `.wsgi` loads `WSGI_APPLICATION`.
    pub wsgi_module: Option<String>,
    pub expect: crate::settings_check::Expect,
}

impl DesiredState {
    /// App `app`'s file of kind `role` (its `.wsgi`, its env file …).
    pub fn file(&self, role: FileRole, app: &str) -> Option<&DesiredFile> {
        self.files
            .iter()
            .find(|f| f.role == role && f.app.as_deref() == Some(app))
    }

    /// The marker of a step owed for `app`: `collectstatic`, `migrate` or `touch`.
    pub fn owed(&self, app: &str, what: &str) -> String {
        format!("{}/{app}.{what}", self.owed_dir)
    }
}

/// `user` (whose primary group, when the account does not exist yet, is `group`) must be
/// able to reach `path`: traverse every directory from `/` down to it.
#[derive(Debug, Clone, Serialize)]
pub struct DesiredAccess {
    pub user: String,
    pub group: String,
    pub path: String,
}

/// `manage.py <args>` as the app's user, with the venv's Python and the app's environment.
#[derive(Debug, Clone, Serialize)]
pub struct DesiredHook {
    pub app: String,
    /// `collectstatic` or `migrate`.
    pub name: crate::resource_id::Hook,
    pub user: String,
    pub venv: String,
    pub src: String,
    pub env_file: String,
    pub settings: String,
    /// The daemon's `python-path`, as `PYTHONPATH`.
    pub python_path: String,
}

/// A system account an app's daemon runs as (no login shell, home = the app root).
#[derive(Debug, Clone, Serialize)]
pub struct DesiredAccount {
    pub user: String,
    pub group: String,
    pub home: String,
}

/// A local project directory synced to `dest`.
#[derive(Debug, Clone, Serialize)]
pub struct DesiredSource {
    pub app: String,
    pub local: std::path::PathBuf,
    pub exclude: Vec<String>,
    pub dest: String,
    pub owner: String,
    pub group: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DesiredVenv {
    pub app: String,
    pub path: String,
    pub python: String,
    /// The daemon user, who runs the venv's Python (and so its base interpreter).
    pub user: String,
    /// sha256 over the interpreter path, the requirements file and the packages: what apply
    /// records in the venv's `.wsgictl-requirements` after installing.
    pub requirements_sha256: String,
    /// What pip installs: the requirements file's lines, then the packages, one per line.
    pub requirements: String,
}

/// An enablement symlink and the Debian tool that makes it.
#[derive(Debug, Clone, Serialize)]
pub struct DesiredLink {
    pub path: String,
    pub target: String,
    pub app: Option<String>,
    /// `a2enmod`, `a2enconf` or `a2ensite` …
    pub tool: EnableTool,
    /// … and its argument …
    pub name: String,
    /// … run with this `APACHE_CONFDIR`.
    pub confdir: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnableTool {
    A2enmod,
    A2enconf,
    A2ensite,
}

impl EnableTool {
    pub fn command(self) -> &'static str {
        match self {
            EnableTool::A2enmod => "a2enmod",
            EnableTool::A2enconf => "a2enconf",
            EnableTool::A2ensite => "a2ensite",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DesiredDir {
    pub path: String,
    pub owner: String,
    pub group: String,
    #[serde(serialize_with = "octal")]
    pub mode: u32,
    pub app: Option<String>,
}

/// What a file is for; later stages pick handlers by it (a vhost change reloads Apache, an
/// env change touches the `.wsgi`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileRole {
    HostConf,
    Vhost,
    /// The HTTPS vhost of an app with `tls` (its `Vhost` is then the redirect).
    TlsVhost,
    WsgiScript,
    EnvFile,
    /// `wsgictl_settings.py` of an app with `django { overlay #true }`.
    Overlay,
    /// certbot's deploy hook of this Apache instance (with `acme`).
    DeployHook,
    /// A rootless account's `apachectl`, `envvars`, watchdog or systemd user unit.
    ServerFile,
}

#[derive(Debug, Serialize)]
pub struct DesiredFile {
    pub path: String,
    pub owner: String,
    pub group: String,
    #[serde(serialize_with = "octal")]
    pub mode: u32,
    pub role: FileRole,
    pub app: Option<String>,
    /// Built-in or override template it was rendered from.
    pub template: &'static str,
    pub content: Content,
}

/// File content, with a redacted twin when it holds secrets.
pub struct Content {
    text: String,
    redacted: Option<String>,
}

impl Content {
    pub fn plain(text: String) -> Self {
        Content {
            text,
            redacted: None,
        }
    }

    /// `text` holds secret values; `redacted` is the same text with them replaced.
    pub fn with_secrets(text: String, redacted: String) -> Self {
        let redacted = (redacted != text).then_some(redacted);
        Content { text, redacted }
    }

    /// The form safe to print.
    pub fn shown(&self) -> &str {
        self.redacted.as_deref().unwrap_or(&self.text)
    }

    /// The real bytes, for writing to the host. Never print these.
    pub fn secret_text(&self) -> &str {
        &self.text
    }

    pub fn has_secrets(&self) -> bool {
        self.redacted.is_some()
    }
}

impl std::fmt::Debug for Content {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Content").field(&self.shown()).finish()
    }
}

impl Serialize for Content {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.shown())
    }
}

/// `0o644` → `"0644"`.
pub fn mode_string(mode: u32) -> String {
    format!("{mode:04o}")
}

pub(crate) fn octal<S: serde::Serializer>(mode: &u32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&mode_string(*mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_content_never_shows() {
        let c = Content::with_secrets("K='s3cr3t'\n".into(), "K='<redacted>'\n".into());
        assert_eq!(c.shown(), "K='<redacted>'\n");
        assert!(!format!("{c:?}").contains("s3cr3t"));
        assert!(!serde_json::to_string(&c).unwrap().contains("s3cr3t"));
        assert_eq!(c.secret_text(), "K='s3cr3t'\n");
    }

    #[test]
    fn modes_print_in_octal() {
        assert_eq!(mode_string(0o644), "0644");
        assert_eq!(mode_string(0o2770), "2770");
    }
}
