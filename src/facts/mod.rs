//! Facts: what is true on a host, gathered in one round trip.
//!
//! Stage: gather. Resources say which [`Probe`]s they need; [`gather`] deduplicates them,
//! builds one script ([`script::build`]), runs it through one exec of the transport, splits
//! the framed output ([`frame::split`]) and parses each frame ([`parse`]). A probe that fails,
//! or that the output was cut off before, becomes [`Fact::Unknown`] with the reason, never a
//! panic. Everything but [`gather`] is pure and tested on fixtures.

pub mod accounts;
pub mod apache;
pub mod cert;
pub mod frame;
pub mod parse;
pub mod paths;
pub mod releases;
pub mod script;
pub mod settings;
pub mod trees;
pub mod user_server;
pub mod venvs;

use crate::transport::Transport;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One thing to find out on a host.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "probe", rename_all = "kebab-case")]
pub enum Probe {
    System,
    /// Detect Apache; `confdir` from the manifest, else the layout's default.
    Apache {
        confdir: Option<String>,
    },
    /// A rootless host: the account's own Apache below `server_root` (`user_server`).
    UserApache {
        server_root: String,
    },
    /// Type, mode, owner, sha256; the content too when its sha256 is not `want_sha256`.
    Path {
        path: String,
        want_sha256: Option<String>,
    },
    /// Where the Path pass keeps the sha256s it read (`paths::CACHE` in the state directory;
    /// the venvs pass keeps its Pythons' answers beside it, `venvs::CACHE`); runs nothing
    /// itself.
    SumsCache {
        file: String,
    },
    Account {
        name: String,
    },
    Group {
        name: String,
    },
    Venv {
        path: String,
    },
    /// Every regular file below a directory: relative path, mode, sha256.
    Tree {
        path: String,
    },
    /// The version of an interpreter (`3.11.2`), or why it does not run.
    Interpreter {
        path: String,
    },
    /// Whether `user` (or `nobody` while the account does not exist) can run `path`, and if
    /// not, the first directory on the way (symlinks resolved) it cannot traverse.
    Reach {
        user: String,
        path: String,
    },
    /// Housekeeping, run when root and while no apply holds `lock`: remove the backup
    /// directories (`<prefix>*`, and `backup.*` of earlier versions) that killed applies
    /// left behind. Reports how many it removed.
    Leftovers {
        lock: String,
        prefix: String,
        /// The lock's directory: root's `/run/wsgictl`, or a rootless account's own (then
        /// the probe runs as that account, and only where an apply made the directory).
        run_dir: String,
    },
    /// `apply` only: GET `url` from the host itself with `Host: host`; the HTTP status, and
    /// whether the body holds `expect`.
    Health {
        app: String,
        url: String,
        /// curl's arguments that reach the app (`doctor::live::curl_target`).
        target: String,
        expect: Option<String>,
        /// Requests made, a second apart, until one answers well (after an apply: a daemon
        /// being replaced may answer the first the old way).
        attempts: u8,
    },
    /// The app's releases, `current` link, legacy `{root}/src` and static link (`releases`).
    Releases {
        root: String,
        static_link: String,
    },
    /// What `openssl` says of a certificate (subject, SAN, issuer, expiry) and whether `key`
    /// is its key (`cert::script`).
    Certificate {
        cert: String,
        key: String,
    },
    /// Django's settings as the daemon user sees them: one pass for all apps
    /// (`settings`), `data` being this app's lines of it (`settings::data`).
    Settings {
        app: String,
        data: String,
    },
    /// `apply` only: record the error logs' sizes for `doctor` (`doctor::live::record_offsets`).
    RecordOffsets {
        script: String,
    },
}

/// What [`Probe::Reach`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Reach {
    Ok,
    /// `path` (with its `ls -l` mode, owner and group) stops the user.
    Denied {
        path: String,
        stat: String,
    },
    /// Not run: the gather is not root.
    Skipped,
}

/// A reach check, and whether it ran as `nobody` because the account does not exist yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reached {
    pub reach: Reach,
    pub as_nobody: bool,
}

/// A fact, or why it could not be learnt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fact<T> {
    Known(T),
    Unknown { error: String },
}

impl<T> From<Result<T, String>> for Fact<T> {
    fn from(r: Result<T, String>) -> Self {
        r.map_or_else(|error| Fact::Unknown { error }, Fact::Known)
    }
}

impl<T> Fact<T> {
    pub fn known(&self) -> Option<&T> {
        match self {
            Fact::Known(t) => Some(t),
            Fact::Unknown { .. } => None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct System {
    pub os_id: String,
    pub os_like: String,
    pub os_version: String,
    pub uid: u32,
    pub acl: bool,
    pub systemd: bool,
    /// `certbot` is on the PATH (ACME).
    pub certbot: bool,
    /// `getenforce`, lower-cased: `enforcing`, `permissive`, `disabled`, or `absent`.
    pub selinux: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Apache {
    pub layout: crate::manifest::Layout,
    pub confdir: String,
    pub version: String,
    pub user: Option<String>,
    pub group: Option<String>,
    pub running: bool,
    pub modules: BTreeSet<String>,
    /// Ports some configuration other than wsgictl's own file listens on.
    pub listen_ports: BTreeSet<u16>,
    /// Each `Listen` port with the file it is in (empty file: an older gather's).
    #[serde(default)]
    pub listen_files: Vec<(u16, String)>,
    pub wsgi_so: Option<String>,
    /// `3.11`: the Python mod_wsgi is linked against.
    pub wsgi_python: Option<String>,
    /// Every included file with a `LoadModule wsgi_module` (one is right).
    pub wsgi_loads: Vec<String>,
    /// `WSGIDaemonProcess` names defined outside wsgictl's files: (name, file).
    pub foreign_daemons: Vec<(String, String)>,
    /// Name-based vhosts from `-S`: (port, server name or alias, file).
    pub vhosts: Vec<(u16, String, String)>,
    /// Apache's run directory (where mod_wsgi's sockets go on Debian).
    pub run_dir: Option<String>,
    /// Set when the Apache user cannot traverse the run directory: its mode and owner.
    pub run_dir_denied: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum PathState {
    Missing,
    File {
        #[serde(serialize_with = "crate::desired::octal")]
        mode: u32,
        owner: String,
        group: String,
        sha256: String,
        /// Present only when it differs from the desired content. May hold secrets: never
        /// serialised; shown only through the plan's redacting diff.
        #[serde(skip)]
        content: Option<Vec<u8>>,
    },
    Dir {
        #[serde(serialize_with = "crate::desired::octal")]
        mode: u32,
        owner: String,
        group: String,
        /// Extended ACL entries (`user:www-data:--x`, `mask::r-x`); empty without ACLs.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        acl: Vec<String>,
    },
    Link {
        target: String,
    },
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub shell: String,
    /// Every group the account is in, the primary one first.
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Venv {
    /// `3.11.2`, or the error the venv's python printed.
    pub python: String,
    /// `home` from pyvenv.cfg: where its base interpreter lives.
    pub home: Option<String>,
    /// What apply recorded as installed (`.wsgictl-requirements`).
    pub marker: Option<String>,
    /// The digest of site-packages now (`facts::script::SITE_DIGEST`).
    pub installed: Option<String>,
    /// The digest apply recorded after its last install; `None` from earlier versions.
    pub recorded: Option<String>,
    /// `path owner mode` of what a non-root account controls on the way to the venv's
    /// python; it was not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub untrusted: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TreeFile {
    pub path: String,
    #[serde(serialize_with = "crate::desired::octal")]
    pub mode: u32,
    pub sha256: String,
}

/// Everything learnt about one host.
#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    pub host: String,
    pub system: Fact<System>,
    /// `None` inside: no Apache installed.
    pub apache: Fact<Option<Apache>>,
    /// A rootless host's account and its Apache (`None`: not a rootless host).
    pub rootless: Option<Fact<user_server::UserServer>>,
    pub paths: BTreeMap<String, Fact<PathState>>,
    pub accounts: BTreeMap<String, Fact<Option<Account>>>,
    pub groups: BTreeMap<String, Fact<Option<Group>>>,
    pub venvs: BTreeMap<String, Fact<Option<Venv>>>,
    pub trees: BTreeMap<String, Fact<Option<Vec<TreeFile>>>>,
    /// Interpreter path → `3.11.2`, or `None` when it is missing or does not run.
    pub interpreters: BTreeMap<String, Fact<Option<String>>>,
    /// Interpreter path → `path owner mode` of what a non-root account controls on the way
    /// to it: such an interpreter was not run (`facts::script::UNTRUSTED`).
    pub untrusted: BTreeMap<String, String>,
    /// Interpreter path → whether it can create a venv (`ensurepip`; Debian splits it out
    /// into `python3-venv`).
    pub interpreter_venv: BTreeMap<String, Fact<bool>>,
    /// `"<user> <path>"` → whether that user can run that path.
    pub reach: BTreeMap<String, Fact<Reached>>,
    /// `tree PATH` / `venv PATH` → the fingerprint apply re-checks (`script::FINGERPRINTS`).
    pub fingerprints: BTreeMap<String, String>,
    /// Leftover backup directories removed by this gather (`None`: not root, or an apply
    /// held the lock).
    pub leftovers_removed: Option<u32>,
    /// Certificate path → what is there.
    pub certificates: BTreeMap<String, Fact<cert::CertState>>,
    /// App → its settings report; `None` when the venv or source is not in place yet (or
    /// the gather did not run as root).
    pub settings: BTreeMap<String, Fact<Option<crate::settings_check::Report>>>,
    /// App → the HTTP status its health path answered from the host (`apply` only).
    pub health: BTreeMap<String, Fact<u16>>,
    /// App root → its release directories.
    pub releases: BTreeMap<String, Fact<releases::Releases>>,
    /// Output outside any frame (login banners, shell warnings), for `facts`.
    pub stray: String,
    /// Processes the host started during the gather (all of them, not only the gather's: on
    /// a busy host it counts more), when /proc told.
    pub processes: Option<u32>,
}

impl Facts {
    /// Facts of `host` with nothing learnt yet: system and Apache unknown, every map empty.
    pub fn empty(host: &str) -> Facts {
        fn not_probed<T>() -> Fact<T> {
            Fact::Unknown {
                error: "not probed".into(),
            }
        }
        Facts {
            host: host.to_string(),
            system: not_probed(),
            apache: not_probed(),
            rootless: None,
            paths: BTreeMap::new(),
            accounts: BTreeMap::new(),
            groups: BTreeMap::new(),
            venvs: BTreeMap::new(),
            trees: BTreeMap::new(),
            interpreters: BTreeMap::new(),
            reach: BTreeMap::new(),
            interpreter_venv: BTreeMap::new(),
            untrusted: BTreeMap::new(),
            fingerprints: BTreeMap::new(),
            leftovers_removed: None,
            certificates: BTreeMap::new(),
            settings: BTreeMap::new(),
            health: BTreeMap::new(),
            releases: BTreeMap::new(),
            stray: String::new(),
            processes: None,
        }
    }
}

impl Facts {
    /// Replace every secret value in what programs of the app printed (the settings
    /// check's exception and values) with `<redacted>`.
    pub fn scrub(&mut self, secrets: &[String]) {
        let s = |t: &mut String| *t = crate::render::scrub(t, secrets);
        for fact in self.settings.values_mut() {
            match fact {
                Fact::Known(Some(r)) => {
                    if let Some(e) = &mut r.error {
                        s(e);
                    }
                    for p in &mut r.problems {
                        p.value.iter_mut().chain(p.want.iter_mut()).for_each(s);
                    }
                    r.static_root
                        .iter_mut()
                        .chain(r.media_root.iter_mut())
                        .for_each(s);
                }
                Fact::Known(None) => {}
                Fact::Unknown { error } => s(error),
            }
        }
    }
}

/// Run every probe on the host in one script, one exec.
pub fn gather(
    transport: &mut dyn Transport,
    host: &str,
    probes: &[Probe],
    sudo: bool,
) -> anyhow::Result<Facts> {
    // First occurrence wins, order kept: the script runs probes in the order resources asked.
    let mut seen = std::collections::HashSet::new();
    let unique: Vec<Probe> = probes.iter().filter(|p| seen.insert(*p)).cloned().collect();
    let nonce = nonce()?;
    let script = script::build(&unique, &nonce);
    let out = transport.run_script(&script, sudo)?;
    let text = String::from_utf8_lossy(&out.output);
    Ok(parse::facts(host, &unique, &frame::split(&text, &nonce)))
}

/// 16 random hex digits from the kernel (frames gather and apply output).
pub(crate) fn nonce() -> anyhow::Result<String> {
    use std::io::Read as _;
    let mut b = [0u8; 8];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}
