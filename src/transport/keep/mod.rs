//! A connection kept open between runs (what OpenSSH's `ControlPersist` does for `ssh`).
//!
//! Stage: gather and apply (I/O). After a run connects to a host directly, it may leave a
//! small process behind, the *keeper*: `wsgictl` itself, started detached, which makes its
//! own SSH connection to the same target (host key checked as ever, never trusting a new
//! one) and then runs, one at a time, the scripts later runs hand it over a Unix socket. The
//! next `plan` within the keeper's idle time skips the TCP connect, the key exchange and the
//! login: it costs the host one exec, not one sshd start.
//!
//! When: `WSGICTL_SSH_PERSIST` in seconds (`0` turns it off); without it, 60 s when stderr is
//! a terminal (a person at a laptop planning again and again) and off otherwise, so that a CI
//! job or a script leaves no process behind. The socket lives in a directory only this
//! account can enter (`$XDG_RUNTIME_DIR/wsgictl`, else `/tmp/wsgictl-<uid>`, checked 0700
//! and ours before use), is named by a digest of everything the connection was made with
//! (address, port, user, identities, known_hosts, jump host, the key and known hosts from the
//! environment), and both ends check the other's uid (`SO_PEERCRED`). Nothing is written to
//! disk but the socket; the keeper's command line holds no value (its target comes on stdin).
//!
//! A keeper that is busy (another run's apply) does not greet within [`GREETING`]: the run
//! connects directly. A keeper whose session died says so before anything ran (`gone`), exits,
//! and the run connects directly. It exits when idle for its time, when its session fails, or
//! when its socket is no longer its own.

mod client;
mod keeper;

pub use client::{KeptTransport, reuse};
pub use keeper::{keeper_main, spawn};

use super::local::effective_uid;
use super::ssh::Target;
use anyhow::{Context as _, bail};
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Seconds a keeper waits for the next run: `0` keeps nothing.
pub const PERSIST_VAR: &str = "WSGICTL_SSH_PERSIST";

/// The keeper's first argument (not a subcommand: it is never typed).
pub const KEEPER_ARG: &str = "__wsgictl-ssh-keeper";

/// The default idle time on a terminal.
const DEFAULT_PERSIST: Duration = Duration::from_secs(60);

/// What a keeper says first to each run it serves.
pub(super) const HELLO: &[u8] = b"wsgictl-keeper 1\n";

/// How long a keeper waits for runs: from `WSGICTL_SSH_PERSIST` (seconds), else 60 s when
/// stderr is a terminal, else none.
pub fn persist() -> Option<Duration> {
    persist_from(
        std::env::var(PERSIST_VAR).ok().as_deref(),
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
    )
}

fn persist_from(var: Option<&str>, terminal: bool) -> Option<Duration> {
    match var.map(str::trim) {
        Some(v) if !v.is_empty() => match v.parse::<u64>() {
            Ok(0) | Err(_) => None,
            Ok(s) => Some(Duration::from_secs(s)),
        },
        _ => terminal.then_some(DEFAULT_PERSIST),
    }
}

/// The directory of this account's keepers' sockets, made 0700 if missing; `Err` says why it
/// cannot be used (not ours, open to others, not a directory).
fn socket_dir() -> anyhow::Result<PathBuf> {
    let uid = effective_uid();
    let dir = match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if Path::new(&d).is_absolute() && Path::new(&d).is_dir() => {
            PathBuf::from(d).join("wsgictl")
        }
        _ => std::env::temp_dir().join(format!("wsgictl-{uid}")),
    };
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
    }
    let meta = std::fs::symlink_metadata(&dir)?;
    if !meta.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    if meta.uid() != uid {
        bail!("{} belongs to uid {}, not {uid}", dir.display(), meta.uid());
    }
    if meta.mode() & 0o077 != 0 {
        bail!(
            "{} is open to others (mode {:o}; want 0700)",
            dir.display(),
            meta.mode() & 0o7777
        );
    }
    Ok(dir)
}

/// Where the keeper of `target` listens: [`socket_dir`] and [`socket_name`]. A run computes
/// it once, to reach a keeper and to leave one.
pub fn socket_path(target: &Target) -> anyhow::Result<PathBuf> {
    Ok(socket_dir()?.join(socket_name(target)))
}

/// The socket's name: a digest of everything the connection is made with.
fn socket_name(target: &Target) -> String {
    let mut material = format!("wsgictl {}\0", env!("CARGO_PKG_VERSION"));
    material.push_str(&serde_json::to_string(target).unwrap_or_default());
    for var in [super::ssh::KEY_VAR, super::ssh::KNOWN_HOSTS_VAR] {
        material.push('\0');
        material.push_str(&std::env::var(var).unwrap_or_default());
    }
    format!(
        "{}.sock",
        &crate::source::sha256_hex(material.as_bytes())[..20]
    )
}

/// The other end of a Unix socket runs as this account.
pub(super) fn peer_is_us(s: &impl std::os::fd::AsRawFd) -> bool {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: a valid socket descriptor and a ucred buffer of the length given.
    let r = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    r == 0 && cred.uid == effective_uid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idle_time_comes_from_the_variable_else_from_the_terminal() {
        assert_eq!(persist_from(None, true), Some(DEFAULT_PERSIST));
        assert_eq!(persist_from(None, false), None);
        assert_eq!(persist_from(Some(""), false), None);
        assert_eq!(persist_from(Some("0"), true), None);
        assert_eq!(persist_from(Some("5"), false), Some(Duration::from_secs(5)));
        assert_eq!(
            persist_from(Some(" 90 "), false),
            Some(Duration::from_secs(90))
        );
        assert_eq!(persist_from(Some("soon"), true), None, "not a number: off");
    }

    fn target(port: u16) -> Target {
        Target {
            name: "web1".into(),
            address: "203.0.113.10".into(),
            port,
            user: "deploy".into(),
            identities: vec![],
            known_hosts: "/home/u/.ssh/known_hosts".into(),
            ssh_dir: "/home/u/.ssh".into(),
            jump: None,
            config: "",
        }
    }

    #[test]
    fn each_way_of_connecting_has_a_socket_of_its_own() {
        let a = socket_name(&target(22));
        assert_eq!(a, socket_name(&target(22)));
        assert_ne!(a, socket_name(&target(2222)));
        let mut j = target(22);
        j.jump = Some(Box::new(target(2200)));
        assert_ne!(a, socket_name(&j));
        let mut k = target(22);
        k.identities = vec!["/home/u/.ssh/deploy".into()];
        assert_ne!(a, socket_name(&k));
        assert!(a.len() < 40 && a.ends_with(".sock"), "{a}");
    }
}
