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
    fn run_script(&mut self, script: &str, sudo: bool) -> anyhow::Result<ExecOutput> {
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
        let mut stdout = child.stdout.take().expect("piped");
        let reader = std::thread::spawn(move || {
            let mut out = Vec::new();
            stdout.read_to_end(&mut out).map(|_| out)
        });
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            if let Some(status) = child.try_wait().with_context(what)? {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                anyhow::bail!("{}: no end after {} s", what(), self.timeout.as_secs());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // A script that ends before reading all of its input closes the pipe: not an error.
        let _ = writer.join();
        let output = reader
            .join()
            .map_err(|_| anyhow::anyhow!("{}: the reader panicked", what()))?
            .with_context(what)?;
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
    effective_uid() == Some(0)
}

/// This process's effective uid, from /proc (no libc binding needed for one number).
pub fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("Uid:"))?
        .split_whitespace()
        .nth(2)?
        .parse()
        .ok()
}
