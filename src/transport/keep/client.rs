//! A run's side of a kept connection: the keeper's greeting, a script out, its lines and its
//! end back; a direct connection made on the spot when the keeper's session is gone.
//!
//! Stage: gather and apply (I/O).

use super::{HELLO, peer_is_us};
use crate::transport::ssh::{SshOptions, SshTransport, Target};
use crate::transport::{ExecOutput, Stats, Transport};
use anyhow::{Context as _, bail};
use std::io::{BufRead as _, BufReader, Read as _};
use std::os::fd::AsRawFd as _;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a run waits for a keeper's greeting before it connects directly.
const GREETING: Duration = Duration::from_millis(300);

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

/// Reach the keeper of `target` at `socket` ([`super::socket_path`]), if one is running, free
/// and ours.
pub fn reuse(target: &Target, socket: &Path, opts: &SshOptions) -> Option<KeptTransport> {
    let started = Instant::now();
    let stream = UnixStream::connect(socket).ok()?;
    if !peer_is_us(&stream) {
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
