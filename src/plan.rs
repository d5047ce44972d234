//! The plan: what apply would do on one host, as plain serde data.
//!
//! Stage: plan (data only). One [`Change`] per resource, in apply order, no-ops included with
//! their reason. `before` fingerprints what the plan saw, for apply to re-check under the host
//! lock. No secret value is ever stored here: files are identified by the sha256 of their
//! desired content, and apply re-renders them and checks the hash.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub host: String,
    /// Preflight findings; an error blocks apply.
    #[serde(default)]
    pub findings: Vec<crate::preflight::Finding>,
    pub changes: Vec<Change>,
    pub handlers: Vec<Handler>,
    /// When it was planned (seconds since the epoch): new releases are named from it.
    #[serde(default)]
    pub planned_at: u64,
    /// A rootless host: whose Apache, where, what keeps it running, and (when an app's vhost
    /// is new) the front end's snippets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootless: Option<RootlessSummary>,
}

/// What the plan's header says of a rootless host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootlessSummary {
    pub account: String,
    pub server_root: String,
    pub supervision: crate::render::Supervision,
    /// What to put in front of the account's Apache, for the apps whose vhost is new.
    #[serde(default)]
    pub front_end: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Create,
    Update,
    Delete,
    NoOp,
}

impl Action {
    pub fn symbol(self) -> char {
        match self {
            Action::Create => '+',
            Action::Update => '~',
            Action::Delete => '-',
            Action::NoOp => ' ',
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Change {
    /// `vhost:blog`, `account:blog`, `source:blog`, ... (printed and saved as that string).
    pub id: crate::resource_id::ResourceId,
    pub action: Action,
    /// For people only; apply never branches on it.
    pub reason: String,
    /// What the plan saw, when it matters for staleness.
    pub before: Option<Fingerprint>,
    /// Human details: `mode 0640 → 0644`, changed paths, `secret X changed`.
    pub details: Vec<String>,
    /// Redacted unified diff of a file's content, when it changes.
    pub diff: Option<String>,
    pub ops: Vec<Op>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub exists: bool,
    pub sha256: Option<String>,
    pub mode: Option<String>,
    pub owner: Option<String>,
    /// For what is not one file or directory: how apply re-checks it, and what it saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<Seen>,
}

/// What the plan saw of a source tree, a venv, an account, a group or a link, in the words
/// of the apply script's check of that kind (`tree_fp`, `venv_fp`, `getent`, `readlink`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub kind: SeenKind,
    /// The path or name checked.
    pub of: String,
    /// What the check printed at plan time (`missing`, a digest, `symlink to …`).
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SeenKind {
    Tree,
    Venv,
    Account,
    Group,
    Link,
}

impl Fingerprint {
    /// What the apply script's `fingerprint` prints for a file or directory in this state.
    pub fn printed(&self) -> String {
        let attrs = || {
            format!(
                "{} {}",
                self.mode.as_deref().unwrap_or("").trim_start_matches('0'),
                self.owner.as_deref().unwrap_or("")
            )
        };
        match (self.exists, &self.sha256) {
            (false, _) => "missing".to_string(),
            (true, Some(sha)) => format!("file {sha} {}", attrs()),
            (true, None) => format!("dir {}", attrs()),
        }
    }

    /// A fingerprint that is a [`Seen`] check only.
    pub fn seen(kind: SeenKind, of: &str, value: &str) -> Fingerprint {
        Fingerprint {
            exists: value != "missing",
            sha256: None,
            mode: None,
            owner: None,
            seen: Some(Seen {
                kind,
                of: of.to_string(),
                value: value.to_string(),
            }),
        }
    }
}

/// One step of apply. Closed: apply is one `match` over it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Op {
    CreateGroup {
        name: String,
    },
    CreateUser {
        name: String,
        group: String,
        home: String,
    },
    MkDir {
        path: String,
        owner: String,
        group: String,
        mode: String,
    },
    Chmod {
        path: String,
        mode: String,
    },
    Chown {
        path: String,
        owner: String,
        group: String,
    },
    SyncSource {
        app: String,
        dest: String,
        owner: String,
        group: String,
        upload: Vec<String>,
        delete: Vec<String>,
        /// sha256 over every local file's hash, mode and path as planned.
        #[serde(default)]
        content_sha256: String,
    },
    CreateVenv {
        path: String,
        python: String,
    },
    PipInstall {
        venv: String,
        requirements_sha256: String,
        /// Reinstall what is already there (`--force-reinstall`): site-packages was changed
        /// by hand, so pip's own view of what is installed cannot be trusted.
        #[serde(default)]
        force: bool,
    },
    WriteFile {
        path: String,
        owner: String,
        group: String,
        mode: String,
        sha256: String,
    },
    /// Let `user` traverse `path`: an ACL entry `u:USER:x` when `acl`, else `o+x`.
    GrantTraverse {
        path: String,
        user: String,
        acl: bool,
    },
    /// `manage.py NAME --noinput` in `src` as `user`, with the venv's Python and the env file.
    Manage {
        app: String,
        name: String,
        user: String,
        venv: String,
        src: String,
        env_file: String,
        settings: String,
        /// `PYTHONPATH` (the daemon's `python-path`); plans of earlier versions have none.
        #[serde(default)]
        python_path: Option<String>,
        /// collectstatic into this directory (the release's `static`), whatever STATIC_ROOT
        /// says: Django's STATIC_ROOT is the link to the running release's.
        #[serde(default)]
        static_root: Option<String>,
        /// migrate: append each migration it applies to this release record.
        #[serde(default)]
        record: Option<String>,
    },
    /// Make release directory `dir` (`{root}/releases/<id>`): `src`, `static`, `app.wsgi` and
    /// `app.env` hard-linked from `from` (the running release, or a host's `{root}/src`
    /// from before releases), then its record without `prepared`. A directory of that name
    /// that is not the running release (a killed apply's) is removed first.
    CreateRelease {
        app: String,
        dir: String,
        from: Option<ReleaseBase>,
        user: String,
        group: String,
        /// The record's lines (`facts::releases`), `prepared` excepted.
        record: String,
    },
    /// Mark release `to` prepared, point `current` at it (a new link renamed over the old
    /// one), and make the static directory the link to `current/static`.
    Switch {
        app: String,
        current: String,
        /// `releases/<id>`, relative to the app root.
        to: String,
        /// What `current` pointed at, checked under the lock and restored on failure.
        from: Option<String>,
        static_link: String,
    },
    /// Debian: `a2enmod`/`a2enconf`/`a2ensite NAME` with `APACHE_CONFDIR` set.
    Enable {
        tool: crate::desired::EnableTool,
        name: String,
        confdir: String,
    },
    /// A hand-written Apache file an app replaces: its enablement `link` removed, the file
    /// moved to `backup` (directories 0700; a backup already there is kept, the new one gets
    /// a suffix). A failed configtest puts both back.
    Retire {
        path: Option<String>,
        link: Option<String>,
        backup: String,
    },
    InstallPackages {
        manager: crate::resources::packages::Manager,
        names: Vec<String>,
    },
    /// Rootless with cron: replace wsgictl's lines in the account's crontab with `block`
    /// (between `desired::CRON_BEGIN` and `CRON_END`); a failed run puts the old crontab back.
    Crontab {
        block: String,
    },
    /// Rootless with systemd: `systemctl --user daemon-reload` and enable the account's unit.
    EnableUserUnit {
        unit: String,
    },
    /// Configtest and a graceful reload now, mid-run: the plain-HTTP vhost must serve the
    /// ACME challenge before certbot asks for a certificate. A failed configtest restores.
    ReloadApache,
    /// `certbot certonly --webroot` for `names` into lineage `lineage`; certbot's timer renews
    /// it and runs `deploy_hook`.
    RequestCertificate {
        app: String,
        lineage: String,
        names: Vec<String>,
        email: String,
        directory: String,
        trust: Option<String>,
        webroot: String,
        http_port: u16,
        deploy_hook: String,
        /// A certificate is there but will not do (expiring, or names missing): replace it.
        renew: bool,
    },
    /// Load Django's settings as the daemon user and stop, before any hook, when they
    /// contradict the manifest (`settings_check`).
    CheckSettings {
        user: String,
        venv: String,
        python_path: String,
        expect: crate::settings_check::Expect,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "handler", rename_all = "kebab-case")]
pub enum Handler {
    /// Apache configuration changed: configtest the whole tree, then a graceful reload.
    ConfigtestAndReload,
    /// Only this app's code, packages or environment changed: touch its `.wsgi`.
    TouchWsgi { app: String, path: String },
    /// After the switch and the reload or restart: remove releases beyond `releases`
    /// (never the current or the previous), unfinished ones, and a pre-release `{root}/src`.
    RemoveReleases { app: String, paths: Vec<String> },
}

/// What a new release is hard-linked from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ReleaseBase {
    /// A release directory (`src`, `static`, `app.wsgi`, `app.env` inside).
    Release { dir: String },
    /// A host deployed before releases: `{root}/src`, and its static directory.
    Legacy { src: String, static_dir: String },
    /// A site wsgictl did not deploy (`import`): only its static directory, when it is a
    /// real directory, is carried into the first release (the code comes from the source).
    Adopted { static_dir: String },
}

impl Plan {
    /// Whether a preflight error forbids applying this plan.
    pub fn blocked(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.severity == crate::preflight::Severity::Error)
    }

    pub fn counts(&self) -> (usize, usize, usize) {
        let n = |a| self.changes.iter().filter(|c| c.action == a).count();
        (n(Action::Create), n(Action::Update), n(Action::Delete))
    }

    pub fn is_empty(&self) -> bool {
        self.counts() == (0, 0, 0)
    }

    /// `web1: 3 to create, 1 to change, 0 to delete.`
    pub fn summary(&self) -> String {
        let (c, u, d) = self.counts();
        format!(
            "{}: {c} to create, {u} to change, {d} to delete.",
            self.host
        )
    }
}
