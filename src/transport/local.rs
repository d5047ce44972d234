//! The local transport: runs scripts on this machine with `sh -s`, no SSH.
//!
//! Stage: gather and apply (I/O). For `--local` (running on the server itself) and for tests
//! of everything above the transport; the SSH path is covered end to end separately.

use super::{ExecOutput, Stats, Transport, sh_command, sudo_error, sudo_wants_password};
use anyhow::Context as _;
use std::io::Write as _;
use std::process::{Command, Stdio};

pub struct LocalTransport {
    name: String,
    stats: Stats,
}

impl LocalTransport {
    pub fn new(name: &str) -> Self {
        LocalTransport {
            name: name.to_string(),
            stats: Stats::default(),
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
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(script.as_bytes())
            .with_context(what)?;
        let out = child.wait_with_output().with_context(what)?;
        let status = match out.status.code() {
            Some(c) => c,
            None => anyhow::bail!("{}: the shell was killed by a signal", what()),
        };
        let out = ExecOutput {
            output: out.stdout,
            status,
        };
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
