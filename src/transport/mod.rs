//! Transports: how a script reaches a host and its output comes back.
//!
//! Stage: gather and apply (I/O). A transport runs one POSIX `sh` script per call, on stdin of
//! `sh -s` (through `sudo -n` when the host says `sudo #true`), and returns its merged
//! stdout/stderr and exit status. It counts the exec channels it opens, so `plan -v` (and a
//! test) can show that gathering costs one round trip whatever the number of apps. Nothing
//! here builds shell text beyond the fixed `sh -s` command: scripts come from `crate::shell`.

pub mod jump;
pub mod keep;
pub mod known_hosts;
pub mod local;
pub mod open;
pub mod ssh;
pub mod ssh_config;

use std::time::Duration;

/// What one script run returned.
#[derive(Debug, Clone)]
pub struct ExecOutput {
    /// stdout and stderr, merged.
    pub output: Vec<u8>,
    pub status: i32,
}

/// Cost of talking to a host, for `-v`.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Stats {
    pub connect: Duration,
    pub exec_channels: u32,
    /// How `~/.ssh/config` was read: `ssh -G`, `ssh2-config`, or empty (not over SSH).
    pub config: &'static str,
    /// The scripts went through a kept connection (`keep`): no connect, no login.
    pub kept: bool,
}

pub trait Transport: Send {
    /// Run `script` with `sh -s` on the host, privileged through `sudo -n` when `sudo`.
    fn run_script(&mut self, script: &str, sudo: bool) -> anyhow::Result<ExecOutput> {
        self.run_script_watched(script, sudo, &mut |_| {})
    }

    /// [`Transport::run_script`], handing each line of output to `line` as it arrives (the
    /// apply's progress).
    fn run_script_watched(
        &mut self,
        script: &str,
        sudo: bool,
        line: &mut dyn FnMut(&str),
    ) -> anyhow::Result<ExecOutput>;

    fn stats(&self) -> Stats;

    /// Bound on each later script's whole run (apply's installs take longer than a gather).
    fn set_script_timeout(&mut self, _timeout: Duration) {}

    /// `web1 (203.0.113.10:22)`, for messages.
    fn describe(&self) -> String;
}

/// What is sent on the shell's stdin: the script as one `{ … } </dev/null` group. The shell
/// reads a whole group before it runs any of it, so (1) no command in the script can read
/// the rest of the script (its stdin is /dev/null), and (2) the writer is never stuck behind
/// a silent step (apt, `flock -w`) that stops the shell from reading: all of it is read first,
/// and an early refusal is the script's own answer, not a transport timeout.
pub(crate) fn framed(script: &str) -> Vec<u8> {
    let mut s = String::with_capacity(script.len() + 32);
    s.push_str("{\n");
    s.push_str(script);
    if !script.ends_with('\n') {
        s.push('\n');
    }
    s.push_str("} </dev/null\n");
    s.into_bytes()
}

/// Output that arrives in chunks, cut into lines for a watcher: [`Lines::push`] hands over
/// every line a chunk completes; a last line without its newline is never handed over.
#[derive(Default)]
pub(crate) struct Lines {
    pending: Vec<u8>,
}

impl Lines {
    pub(crate) fn push(&mut self, chunk: &[u8], line: &mut dyn FnMut(&str)) {
        self.pending.extend_from_slice(chunk);
        let Some(end) = self.pending.iter().rposition(|b| *b == b'\n') else {
            return;
        };
        for l in self.pending[..end].split(|b| *b == b'\n') {
            line(&String::from_utf8_lossy(l));
        }
        self.pending.drain(..=end);
    }
}

/// The command a script is run with.
pub(crate) fn sh_command(sudo: bool) -> &'static str {
    if sudo { "sudo -n sh -s" } else { "sh -s" }
}

/// sudo's own refusal when it would need a password (`sudo -n`).
pub(crate) fn sudo_wants_password(out: &ExecOutput) -> bool {
    let text = String::from_utf8_lossy(&out.output);
    out.status != 0
        && text.lines().take(3).any(|l| {
            l.starts_with("sudo:")
                && (l.contains("a password is required") || l.contains("a terminal is required"))
        })
}

/// The error for a sudo that wants a password, with the fix.
pub(crate) fn sudo_error(target: &str, user: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "sudo on {target} wants a password for {user}; wsgictl runs `sudo -n` and never types one. \
         Allow it without a password, e.g. `{user} ALL=(root) NOPASSWD: ALL` in /etc/sudoers.d/wsgictl \
         (edit with `visudo -f /etc/sudoers.d/wsgictl`), or set `sudo #false` and connect as root"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_handed_over_whole_whatever_the_chunks() {
        let mut got = Vec::new();
        let mut l = Lines::default();
        for chunk in ["WSGICTL n STEP a", "\nWSGICTL n ST", "EP b\n\nlast"] {
            l.push(chunk.as_bytes(), &mut |s| got.push(s.to_string()));
        }
        assert_eq!(got, ["WSGICTL n STEP a", "WSGICTL n STEP b", ""]);
    }
}
