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

use super::ssh::{SshOptions, SshTransport, Target};
use super::{ExecOutput, Stats, Transport};
use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Seconds a keeper waits for the next run: `0` keeps nothing.
pub const PERSIST_VAR: &str = "WSGICTL_SSH_PERSIST";

/// The keeper's first argument (not a subcommand: it is never typed).
pub const KEEPER_ARG: &str = "__wsgictl-ssh-keeper";

/// The default idle time on a terminal.
const DEFAULT_PERSIST: Duration = Duration::from_secs(60);

/// The environment a keeper gets: what authenticating needs, and where its socket is.
const KEEPER_ENV: &[&str] = &[
    "SSH_AUTH_SOCK",
    super::ssh::KEY_VAR,
    "WSGICTL_KEY_PASSPHRASE",
    super::ssh::KNOWN_HOSTS_VAR,
    "XDG_RUNTIME_DIR",
    "TMPDIR",
];

/// How long a run waits for a keeper's greeting before it connects directly.
const GREETING: Duration = Duration::from_millis(300);

const HELLO: &[u8] = b"wsgictl-keeper 1\n";

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
pub fn socket_dir() -> anyhow::Result<PathBuf> {
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
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

/// The uid at the other end of a Unix socket.
fn peer_uid(s: &impl std::os::fd::AsRawFd) -> Option<u32> {
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
    (r == 0).then_some(cred.uid)
}

fn own_uid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// Write all of `bytes` to `s` without SIGPIPE (wsgictl keeps its default disposition for
/// `| head`): a keeper that is gone is an `EPIPE` error here, not the run's death.
fn send_all(s: &UnixStream, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: a valid socket and a buffer of the length given.
        let n = unsafe {
            libc::send(
                s.as_raw_fd(),
                bytes.as_ptr().cast(),
                bytes.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        bytes = &bytes[n as usize..];
    }
    Ok(())
}

/// A run's side: scripts go to the keeper, until it says its session is gone; then to a
/// direct connection made on the spot.
pub struct KeptTransport {
    target: Target,
    opts: SshOptions,
    conn: Option<BufReader<UnixStream>>,
    direct: Option<SshTransport>,
    stats: Stats,
    timeout: Duration,
}

/// Reach the keeper of `target`, if one is running, free and ours.
pub fn reuse(target: &Target, opts: &SshOptions) -> Option<KeptTransport> {
    let started = Instant::now();
    let path = socket_dir().ok()?.join(socket_name(target));
    let stream = UnixStream::connect(&path).ok()?;
    if peer_uid(&stream) != Some(own_uid()) {
        return None;
    }
    stream.set_read_timeout(Some(GREETING)).ok()?;
    let mut conn = BufReader::new(stream);
    let mut hello = Vec::new();
    conn.read_until(b'\n', &mut hello).ok()?;
    if hello != HELLO {
        return None;
    }
    conn.get_ref().set_read_timeout(None).ok()?;
    Some(KeptTransport {
        target: target.clone(),
        opts: SshOptions {
            accept_new_host_key: false,
            connect_timeout: opts.connect_timeout,
            timeout: opts.timeout,
            keepalive: opts.keepalive,
        },
        conn: Some(conn),
        direct: None,
        stats: Stats {
            connect: started.elapsed(),
            exec_channels: 0,
            config: target.config,
            kept: true,
        },
        timeout: opts.timeout,
    })
}

/// What the keeper answers to one script.
enum Answer {
    Done(ExecOutput),
    Failed(String),
    /// Its session is unusable; nothing ran.
    Gone,
}

impl KeptTransport {
    fn ask(
        conn: &mut BufReader<UnixStream>,
        script: &str,
        sudo: bool,
        timeout: Duration,
        line: &mut dyn FnMut(&str),
    ) -> anyhow::Result<Answer> {
        let head = format!(
            "run {} {} {}\n",
            u8::from(sudo),
            timeout.as_millis(),
            script.len()
        );
        // Not a byte of it reached a keeper that is gone (killed): nothing ran.
        if send_all(conn.get_ref(), head.as_bytes()).is_err() {
            return Ok(Answer::Gone);
        }
        send_all(conn.get_ref(), script.as_bytes())?;
        loop {
            let mut header = String::new();
            if conn.read_line(&mut header)? == 0 {
                bail!("the kept connection closed while a script ran");
            }
            let mut words = header.split_whitespace();
            let kind = words.next().unwrap_or_default();
            let nums: Vec<i64> = words.filter_map(|w| w.parse().ok()).collect();
            let body = |conn: &mut BufReader<UnixStream>, len: i64| -> anyhow::Result<Vec<u8>> {
                let mut b = vec![0; usize::try_from(len).unwrap_or(0)];
                conn.read_exact(&mut b)?;
                Ok(b)
            };
            match (kind, nums.as_slice()) {
                ("l", [len]) => line(&String::from_utf8_lossy(&body(conn, *len)?)),
                ("x", [status, len]) => {
                    return Ok(Answer::Done(ExecOutput {
                        output: body(conn, *len)?,
                        status: *status as i32,
                    }));
                }
                ("e", [len]) => {
                    return Ok(Answer::Failed(
                        String::from_utf8_lossy(&body(conn, *len)?).into_owned(),
                    ));
                }
                ("g", []) => return Ok(Answer::Gone),
                _ => bail!("the kept connection answered {header:?}"),
            }
        }
    }
}

impl Transport for KeptTransport {
    fn run_script_watched(
        &mut self,
        script: &str,
        sudo: bool,
        line: &mut dyn FnMut(&str),
    ) -> anyhow::Result<ExecOutput> {
        if let Some(conn) = &mut self.conn {
            let what = || {
                format!(
                    "running a script on {} (kept connection)",
                    self.target.describe()
                )
            };
            match KeptTransport::ask(conn, script, sudo, self.timeout, line).with_context(what)? {
                Answer::Done(out) => {
                    self.stats.exec_channels += 1;
                    return Ok(out);
                }
                Answer::Failed(msg) => {
                    // The keeper leaves after a failure: a next script connects itself.
                    self.conn = None;
                    bail!("{msg}")
                }
                Answer::Gone => self.conn = None,
            }
        }
        if self.direct.is_none() {
            let started = Instant::now();
            let mut t = SshTransport::connect(self.target.clone(), &self.opts)?;
            t.set_script_timeout(self.timeout);
            self.stats.connect += started.elapsed();
            self.stats.kept = false;
            self.direct = Some(t);
        }
        let t = self.direct.as_mut().expect("connected above");
        let out = t.run_script_watched(script, sudo, line);
        self.stats.exec_channels += 1;
        out
    }

    fn stats(&self) -> Stats {
        self.stats
    }

    fn set_script_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
        if let Some(t) = &mut self.direct {
            t.set_script_timeout(timeout);
        }
    }

    fn describe(&self) -> String {
        self.target.describe()
    }
}

/// What a keeper is started with, on its stdin.
#[derive(Serialize, Deserialize)]
struct Orders {
    target: Target,
    socket: PathBuf,
    persist_ms: u64,
    connect_timeout_ms: u64,
    keepalive_ms: u64,
    timeout_ms: u64,
}

/// Leave a keeper for `target` behind this run (a run that connected directly). Quiet: a
/// keeper that cannot start costs the next run nothing but its own direct connect.
pub fn spawn(target: &Target, opts: &SshOptions, persist: Duration) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt as _;
    let socket = socket_dir()?.join(socket_name(target));
    let orders = serde_json::to_vec(&Orders {
        target: target.clone(),
        socket,
        persist_ms: persist.as_millis() as u64,
        connect_timeout_ms: opts.connect_timeout.as_millis() as u64,
        keepalive_ms: opts.keepalive.as_millis() as u64,
        timeout_ms: opts.timeout.as_millis() as u64,
    })?;
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    // Only what a login needs: no secret of the manifest's (`from-env`) stays in its
    // environment for its lifetime.
    cmd.env_clear();
    for var in KEEPER_ENV {
        if let Some(v) = std::env::var_os(var) {
            cmd.env(var, v);
        }
    }
    cmd.arg(KEEPER_ARG)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .current_dir("/");
    // SAFETY: setsid is async-signal-safe; the keeper leaves the terminal's session, so a
    // Ctrl-C or a closed terminal does not reach it.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(&orders)?;
    }
    // Reaped if it leaves while this run still runs (another keeper already served).
    std::thread::spawn(move || child.wait());
    Ok(())
}

/// The keeper's life: read the orders, connect, serve runs until idle. Exit status 0 always
/// (nobody waits for it).
pub fn keeper_main() -> std::process::ExitCode {
    let mut text = Vec::new();
    if std::io::stdin().read_to_end(&mut text).is_err() {
        return std::process::ExitCode::SUCCESS;
    }
    if let Ok(orders) = serde_json::from_slice::<Orders>(&text) {
        let _ = keep(orders);
    }
    std::process::ExitCode::SUCCESS
}

fn keep(o: Orders) -> anyhow::Result<()> {
    let ms = Duration::from_millis;
    let opts = SshOptions {
        accept_new_host_key: false,
        connect_timeout: ms(o.connect_timeout_ms),
        timeout: ms(o.timeout_ms),
        keepalive: ms(o.keepalive_ms),
    };
    // Another keeper already serves this target: nothing to do.
    if UnixStream::connect(&o.socket).is_ok() {
        return Ok(());
    }
    let mut t = SshTransport::connect(o.target, &opts)?;
    let tmp = o
        .socket
        .with_extension(format!("new.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let listener = UnixListener::bind(&tmp)?;
    std::fs::rename(&tmp, &o.socket)?;
    let ino = std::fs::symlink_metadata(&o.socket)?.ino();
    let ours = || std::fs::symlink_metadata(&o.socket).is_ok_and(|m| m.ino() == ino);
    let persist = ms(o.persist_ms);
    let keepalive = opts.keepalive.max(ms(1000));
    let mut last = Instant::now();
    let result = loop {
        let left = persist.saturating_sub(last.elapsed());
        if left.is_zero() || !ours() {
            break Ok(());
        }
        if !readable(&listener, left.min(keepalive)) {
            if let Err(e) = t.keepalive() {
                break Err(e);
            }
            continue;
        }
        let Ok((stream, _)) = listener.accept() else {
            continue;
        };
        if peer_uid(&stream) != Some(own_uid()) {
            continue;
        }
        let hung_up = || {
            if ours() {
                let _ = std::fs::remove_file(&o.socket);
            }
            std::process::exit(0);
        };
        match serve(&mut t, stream, opts.timeout, &hung_up) {
            Ok(()) => last = Instant::now(),
            Err(e) => break Err(e),
        }
    };
    if ours() {
        let _ = std::fs::remove_file(&o.socket);
    }
    result
}

/// Wait until a run knocks, or `wait` passes.
fn readable(listener: &UnixListener, wait: Duration) -> bool {
    let mut fd = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = wait.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut fd, 1, ms) > 0 }
}

/// One run's scripts, until it hangs up. `Err` when the session is gone (the keeper exits).
fn serve(
    t: &mut SshTransport,
    stream: UnixStream,
    timeout: Duration,
    hung_up: &dyn Fn(),
) -> anyhow::Result<()> {
    let mut conn = BufReader::new(stream);
    conn.get_mut().write_all(HELLO)?;
    loop {
        let mut header = String::new();
        if conn.read_line(&mut header).unwrap_or(0) == 0 {
            return Ok(());
        }
        let w: Vec<&str> = header.split_whitespace().collect();
        let (sudo, ms, len) = match w.as_slice() {
            ["run", s, m, l] => (
                *s == "1",
                m.parse::<u64>().unwrap_or(0),
                l.parse::<usize>().unwrap_or(0),
            ),
            _ => return Ok(()),
        };
        let mut script = vec![0; len];
        if conn.read_exact(&mut script).is_err() {
            return Ok(());
        }
        let script = String::from_utf8_lossy(&script).into_owned();
        let timeout = if ms == 0 {
            timeout
        } else {
            Duration::from_millis(ms)
        };
        t.set_script_timeout(timeout);
        let mut out = conn.get_ref().try_clone()?;
        let got = t.run_script_watched(&script, sudo, &mut |l| {
            // The run is gone (Ctrl-C): end the session as its own connection would have
            // ended, and with it the script.
            if out
                .write_all(format!("l {}\n{l}", l.len()).as_bytes())
                .is_err()
            {
                hung_up();
            }
        });
        let w = conn.get_mut();
        match got {
            Ok(o) => {
                w.write_all(format!("x {} {}\n", o.status, o.output.len()).as_bytes())?;
                w.write_all(&o.output)?;
            }
            Err(e) if e.downcast_ref::<super::ssh::NoChannel>().is_some() => {
                let _ = w.write_all(b"g\n");
                return Err(e);
            }
            Err(e) => {
                let msg = format!("{e:#}");
                w.write_all(format!("e {}\n{msg}", msg.len()).as_bytes())?;
                return Err(e);
            }
        }
    }
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
