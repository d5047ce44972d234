//! The keeper: a detached `wsgictl` that holds one SSH session to a target and runs the
//! scripts of later runs over it, one run at a time, until it is idle for its time.
//!
//! Stage: gather and apply (I/O).

use super::{HELLO, KEEPER_ARG, peer_is_us};
use crate::transport::Transport as _;
use crate::transport::ssh::{SshOptions, SshTransport, Target};
use serde::{Deserialize, Serialize};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The environment a keeper gets: what authenticating needs, and where its socket is.
const KEEPER_ENV: &[&str] = &[
    "SSH_AUTH_SOCK",
    crate::transport::ssh::KEY_VAR,
    "WSGICTL_KEY_PASSPHRASE",
    crate::transport::ssh::KNOWN_HOSTS_VAR,
    "XDG_RUNTIME_DIR",
    "TMPDIR",
];

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

/// Leave a keeper for `target` at `socket` ([`super::socket_path`]) behind this run (a run
/// that connected directly). Quiet: a keeper that cannot start costs the next run nothing but
/// its own direct connect.
pub fn spawn(
    target: &Target,
    socket: &std::path::Path,
    opts: &SshOptions,
    persist: Duration,
) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt as _;
    let socket = socket.to_path_buf();
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
    // Take the socket away, unless another keeper's has taken its place.
    let leave = || {
        if ours() {
            let _ = std::fs::remove_file(&o.socket);
        }
    };
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
        if !peer_is_us(&stream) {
            continue;
        }
        let hung_up = || {
            leave();
            std::process::exit(0);
        };
        match serve(&mut t, stream, opts.timeout, &hung_up) {
            Ok(()) => last = Instant::now(),
            Err(e) => break Err(e),
        }
    };
    leave();
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
            Err(e)
                if e.downcast_ref::<crate::transport::ssh::NoChannel>()
                    .is_some() =>
            {
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
