//! The local transport: runs scripts on this machine with `sh -s`, no SSH.
//!
//! Stage: gather and apply (I/O). For `--local` (running on the server itself) and for tests
//! of everything above the transport; the SSH path is covered end to end separately.

use super::{ExecOutput, Stats, Transport, framed, sh_command, sudo_error, sudo_wants_password};
use anyhow::Context as _;
use std::io::{Read as _, Write as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct LocalTransport {
    name: String,
    stats: Stats,
    timeout: Duration,
}

impl LocalTransport {
    pub fn new(name: &str) -> Self {
        LocalTransport {
            name: name.to_string(),
            stats: Stats::default(),
            timeout: Duration::from_secs(120),
        }
    }
}

impl Transport for LocalTransport {
    fn run_script_watched(
        &mut self,
        script: &str,
        sudo: bool,
        line: &mut dyn FnMut(&str),
    ) -> anyhow::Result<ExecOutput> {
        // Already root: sudo adds nothing and may not be installed.
        let sudo = sudo && !is_root();
        let what = || format!("running a script on {} (local)", self.name);
        // `exec 2>&1` merges the streams in the child, like the SSH channel does.
        let mut child = Command::new("sh")
            .args(["-c", &format!("exec 2>&1; exec {}", sh_command(sudo))])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(what)?;
        self.stats.exec_channels += 1;
        // Write and read at once: a script that prints a lot before it has read all of its
        // input must not wait on us while we wait on it.
        let mut stdin = child.stdin.take().expect("piped");
        let input = framed(script);
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        // The output comes over a channel as it is read: handed to `line` as it arrives, and
        // the end of the output (the shell closed it) is seen at once.
        let mut stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel::<std::io::Result<Vec<u8>>>();
        std::thread::spawn(move || {
            let mut buf = [0u8; 32 * 1024];
            loop {
                match stdout.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if tx.send(Ok(buf[..n].to_vec())).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        break;
                    }
                }
            }
        });
        let deadline = Instant::now() + self.timeout;
        let mut output = Vec::new();
        let mut lines = super::Lines::default();
        let overdue = |child: &mut std::process::Child| {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::anyhow!("{}: no end after {} s", what(), self.timeout.as_secs())
        };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(chunk) => {
                    let chunk = chunk.with_context(what)?;
                    output.extend_from_slice(&chunk);
                    lines.push(&chunk, line);
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => return Err(overdue(&mut child)),
            }
        }
        // The output ended: the shell has exited or is about to. (A program left running in
        // the background with the output open keeps the loop above waiting, to the deadline.)
        let status = loop {
            if let Some(status) = child.try_wait().with_context(what)? {
                break status;
            }
            if Instant::now() >= deadline {
                return Err(overdue(&mut child));
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        // A script that ends before reading all of its input closes the pipe: not an error.
        let _ = writer.join();
        let status = match status.code() {
            Some(c) => c,
            None => anyhow::bail!("{}: the shell was killed by a signal", what()),
        };
        let out = ExecOutput { output, status };
        if sudo && sudo_wants_password(&out) {
            return Err(sudo_error(
                &format!("{} (local)", self.name),
                &std::env::var("USER").unwrap_or_default(),
            ));
        }
        Ok(out)
    }

    fn stats(&self) -> Stats {
        self.stats
    }

    fn set_script_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    fn describe(&self) -> String {
        format!("{} (local)", self.name)
    }
}

fn is_root() -> bool {
    effective_uid() == 0
}

/// This process's effective uid.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}
