//! The SSH transport (ssh2): connect, verify the host key, authenticate, run scripts.
//!
//! Stage: gather and apply (I/O). One session per host, owned by one thread. Host keys fail
//! closed: an unknown host is refused with its fingerprint and the way to trust it (or trusted
//! once with `accept_new_host_key`), a mismatch or a revoked key is refused always. Every
//! error names the host, its address and port, and the step that failed. The traps measured in
//! DESIGN.md are avoided here: timeouts are set before the handshake, the host-key method is
//! restricted to the known key types, stdout and stderr are merged, and a command killed by a
//! signal is not mistaken for success. The agent is never forwarded.

use super::known_hosts::{self, Verdict};
use super::{ExecOutput, Stats, Transport, sh_command, sudo_error, sudo_wants_password};
use anyhow::{Context as _, bail};
use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Where and as whom to connect, after `~/.ssh/config`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Target {
    /// The manifest's host name, for messages.
    pub name: String,
    /// The host name or address connected to (and looked up in known_hosts).
    pub address: String,
    pub port: u16,
    pub user: String,
    /// Explicit identity files, tried first.
    pub identities: Vec<PathBuf>,
    pub known_hosts: PathBuf,
    /// `~/.ssh`, for the default identities.
    pub ssh_dir: PathBuf,
    /// The jump host the connection goes through (`jump`, or `ProxyJump` in `~/.ssh/config`).
    pub jump: Option<Box<Target>>,
    /// How `~/.ssh/config` was read (`ssh -G` or `ssh2-config`), for `-v`.
    #[serde(skip)]
    pub config: &'static str,
}

impl Target {
    /// Resolve a manifest host: its own values, then `~/.ssh/config`, then defaults; and its
    /// jump host (`jump`, else `ProxyJump`) by the same rule, checked in the same known_hosts.
    pub fn resolve(host: &crate::manifest::Host, home: &std::path::Path) -> anyhow::Result<Self> {
        let ssh_dir = home.join(".ssh");
        let known_hosts = host
            .known_hosts
            .clone()
            .unwrap_or_else(|| ssh_dir.join("known_hosts"));
        let own = crate::manifest::Jump {
            address: host.address.clone(),
            port: host.port,
            user: host.user.clone(),
            identity: host.identity.clone(),
        };
        let (mut target, cfg) = Target::one(host.name.value.clone(), &own, &ssh_dir, &known_hosts)?;
        let jump = host.jump.clone().or_else(|| {
            cfg.proxy_jump
                .as_deref()
                .and_then(crate::manifest::Jump::parse)
        });
        if let Some(j) = jump {
            let name = format!("{} (jump host of {})", j.address, host.name.value);
            target.jump = Some(Box::new(Target::one(name, &j, &ssh_dir, &known_hosts)?.0));
        }
        Ok(target)
    }

    /// One hop: `given`'s values, then `~/.ssh/config` for its address, then the defaults
    /// (port 22, the local user); with what the config said, for its `ProxyJump`.
    fn one(
        name: String,
        given: &crate::manifest::Jump,
        ssh_dir: &std::path::Path,
        known_hosts: &std::path::Path,
    ) -> anyhow::Result<(Self, super::ssh_config::Resolved)> {
        let cfg = super::ssh_config::resolve(&ssh_dir.join("config"), &given.address)?;
        let local_user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "root".into());
        let mut identities: Vec<PathBuf> = given.identity.iter().cloned().collect();
        if identities.is_empty() {
            identities = cfg.identity_files.clone();
        }
        let target = Target {
            name,
            address: cfg
                .host_name
                .clone()
                .unwrap_or_else(|| given.address.clone()),
            port: given.port.or(cfg.port).unwrap_or(22),
            user: given
                .user
                .clone()
                .or(cfg.user.clone())
                .unwrap_or(local_user),
            identities,
            known_hosts: known_hosts.to_path_buf(),
            ssh_dir: ssh_dir.to_path_buf(),
            jump: None,
            config: cfg.via,
        };
        Ok((target, cfg))
    }

    pub fn describe(&self) -> String {
        match &self.jump {
            Some(j) => format!(
                "{} ({}:{} via {}@{}:{})",
                self.name, self.address, self.port, j.user, j.address, j.port
            ),
            None => format!("{} ({}:{})", self.name, self.address, self.port),
        }
    }
}

/// Why a host key was refused. Callers may branch on it.
#[derive(Debug, thiserror::Error)]
pub enum HostKeyError {
    #[error(
        "verifying host key of {target}: the host is not in {known_hosts}; its {key_type} key is {fingerprint}. \
         If that is right, run again with --accept-new-host-key to record it (or add it with \
         `ssh-keyscan -p {port} {address} >> {known_hosts}` after checking the fingerprint)"
    )]
    Unknown {
        target: String,
        address: String,
        port: u16,
        known_hosts: String,
        key_type: String,
        fingerprint: String,
    },
    #[error(
        "verifying host key of {target}: HOST KEY MISMATCH. The host presented the {key_type} key {fingerprint}, \
         which is not the key recorded in {known_hosts} (line {lines}). Someone may be intercepting the \
         connection, or the host was reinstalled. wsgictl refuses to connect; if the change is expected, \
         remove the old entry (`ssh-keygen -R '{name}' -f {known_hosts}`) and verify the new fingerprint"
    )]
    Mismatch {
        target: String,
        name: String,
        known_hosts: String,
        key_type: String,
        fingerprint: String,
        lines: String,
    },
    #[error(
        "verifying host key of {target}: its key {fingerprint} is marked @revoked in {known_hosts} (line {line})"
    )]
    Revoked {
        target: String,
        known_hosts: String,
        fingerprint: String,
        line: usize,
    },
}

pub struct SshOptions {
    pub accept_new_host_key: bool,
    pub connect_timeout: Duration,
    /// Bound on the handshake and authentication, and on each script's whole run.
    pub timeout: Duration,
    /// A keepalive is sent after this long without output from a running script.
    pub keepalive: Duration,
}

impl Default for SshOptions {
    fn default() -> Self {
        SshOptions {
            accept_new_host_key: false,
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(120),
            keepalive: Duration::from_secs(15),
        }
    }
}

pub struct SshTransport {
    target: Target,
    session: ssh2::Session,
    /// The session's socket (a second descriptor of it), to acknowledge at once while a
    /// channel opens (`open`); `None` over a jump host.
    tcp: Option<TcpStream>,
    stats: Stats,
    timeout: Duration,
}

impl SshTransport {
    pub fn connect(target: Target, opts: &SshOptions) -> anyhow::Result<Self> {
        let started = Instant::now();
        let desc = target.describe();
        let mut session = ssh2::Session::new().with_context(|| format!("connecting to {desc}"))?;
        session.set_timeout(opts.timeout.as_millis().min(u32::MAX as u128) as u32);
        let mut own_tcp = None;
        match &target.jump {
            // Through the jump host: its key checked and its login done first, then this
            // session over one of its channels.
            Some(jump) => {
                let hop = SshTransport::connect((**jump).clone(), opts)
                    .with_context(|| format!("connecting to {desc}"))?;
                let channel =
                    super::open::channel(&hop.session, hop.tcp.as_ref(), opts.timeout, |s| {
                        s.channel_direct_tcpip(&target.address, target.port, None)
                    })
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "connecting to {desc}: opening a channel to {}:{} through {}: {e}",
                            target.address,
                            target.port,
                            hop.target.describe()
                        )
                    })?;
                let stream =
                    super::jump::bridge(hop.session.clone(), channel, &target.address, target.port)
                        .with_context(|| format!("connecting to {desc}"))?;
                session.set_tcp_stream(stream);
            }
            None => {
                let tcp = connect_tcp(&target, opts.connect_timeout)
                    .with_context(|| format!("connecting to {desc}"))?;
                own_tcp = tcp.try_clone().ok();
                session.set_tcp_stream(tcp);
            }
        }

        let mut text = std::fs::read_to_string(&target.known_hosts).unwrap_or_default();
        // A CI runner's known host keys, from the environment, as known_hosts lines.
        if let Ok(lines) = std::env::var(KNOWN_HOSTS_VAR) {
            text.push('\n');
            text.push_str(&lines);
        }
        let entries = known_hosts::entries_for(&text, &target.address, target.port);
        if let Some(pref) = known_hosts::method_preference(&entries) {
            session
                .method_pref(ssh2::MethodType::HostKey, &pref)
                .with_context(|| {
                    format!("connecting to {desc}: setting host key preference {pref}")
                })?;
        }
        session
            .handshake()
            .with_context(|| format!("connecting to {desc}: SSH handshake"))?;
        verify_host_key(&session, &target, &entries, opts.accept_new_host_key)?;
        authenticate(&session, &target)?;
        // From here on, blocking calls wake up every `keepalive` so a quiet script (pip, a
        // migration) keeps the connection alive; `run_script` enforces the overall timeout.
        let interval = opts.keepalive.as_secs().clamp(1, u64::from(u32::MAX)) as u32;
        session.set_keepalive(true, interval);
        session.set_timeout(opts.keepalive.as_millis().clamp(1, u128::from(u32::MAX)) as u32);
        let stats = Stats {
            connect: started.elapsed(),
            exec_channels: 0,
            config: target.config,
            kept: false,
        };
        Ok(SshTransport {
            target,
            session,
            tcp: own_tcp,
            stats,
            timeout: opts.timeout,
        })
    }

    /// Send a keepalive (a kept connection's idle time); `Err` when the session is gone.
    pub fn keepalive(&self) -> anyhow::Result<()> {
        self.session
            .keepalive_send()
            .map(|_| ())
            .with_context(|| format!("keeping {} alive", self.target.describe()))
    }
}

/// No channel could be opened: the session is unusable, and nothing ran.
#[derive(Debug, thiserror::Error)]
#[error("opening a channel: {0}")]
pub struct NoChannel(String);

impl Transport for SshTransport {
    fn run_script_watched(
        &mut self,
        script: &str,
        sudo: bool,
        line: &mut dyn FnMut(&str),
    ) -> anyhow::Result<ExecOutput> {
        let desc = self.target.describe();
        let what = || format!("running a script on {desc}");
        let mut ch = super::open::channel(&self.session, self.tcp.as_ref(), self.timeout, |s| {
            s.channel_session()
        })
        .map_err(|e| anyhow::Error::new(NoChannel(e.message().to_string())))
        .with_context(what)?;
        self.stats.exec_channels += 1;
        ch.handle_extended_data(ssh2::ExtendedData::Merge)
            .with_context(what)?;
        ch.exec(sh_command(sudo)).with_context(what)?;
        let deadline = Instant::now() + self.timeout;
        // The remote shell reads the whole group before it runs it (`framed`), so writing only
        // waits on the network; a slow link is kept alive, within the script's deadline.
        let input = super::framed(script);
        let mut sent = 0;
        while sent < input.len() {
            let end = input.len().min(sent + 256 * 1024);
            match ch.write(&input[sent..end]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut && Instant::now() < deadline => {
                    self.session.keepalive_send().with_context(what)?;
                }
                Err(e) => return Err(e).with_context(what),
            }
        }
        ch.send_eof().with_context(what)?;
        let mut output = Vec::new();
        let mut lines = super::Lines::default();
        let mut buf = [0u8; 32 * 1024];
        loop {
            match ch.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    output.extend_from_slice(&buf[..n]);
                    lines.push(&buf[..n], line);
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut && Instant::now() < deadline => {
                    self.session.keepalive_send().with_context(what)?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => bail!(
                    "{}: no end after {} s (the script still runs on the host; its output so far: {})",
                    what(),
                    self.timeout.as_secs(),
                    String::from_utf8_lossy(&output)
                        .lines()
                        .last()
                        .unwrap_or("none")
                ),
                Err(e) => return Err(e).with_context(what),
            }
        }
        ch.wait_close().with_context(what)?;
        if let Ok(sig) = ch.exit_signal()
            && let Some(name) = sig.exit_signal
        {
            bail!("{}: the remote shell was killed by signal {name}", what());
        }
        let out = ExecOutput {
            output,
            status: ch.exit_status().with_context(what)?,
        };
        if sudo && sudo_wants_password(&out) {
            return Err(sudo_error(&desc, &self.target.user));
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
        self.target.describe()
    }
}

fn connect_tcp(target: &Target, timeout: Duration) -> anyhow::Result<TcpStream> {
    let addrs: Vec<_> = (target.address.as_str(), target.port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {}", target.address))?
        .collect();
    let mut last = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(s) => {
                // libssh2 writes a packet in more than one send(); with Nagle's algorithm the
                // second waits for the peer's delayed ACK (40 ms on Linux) at every exchange
                // of the handshake. Measured: connects of 73 ms or 111 ms, at random, on
                // loopback.
                s.set_nodelay(true)
                    .with_context(|| format!("{addr}: setting TCP_NODELAY"))?;
                return Ok(s);
            }
            Err(e) => last = Some(anyhow::anyhow!("{addr}: {e}")),
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("{} resolves to no address", target.address)))
}

fn verify_host_key(
    session: &ssh2::Session,
    target: &Target,
    entries: &[known_hosts::Entry],
    accept_new: bool,
) -> anyhow::Result<()> {
    let desc = target.describe();
    let (key, kind) = session
        .host_key()
        .with_context(|| format!("verifying host key of {desc}: none presented"))?;
    let key_type = key_type_name(kind);
    let fingerprint = known_hosts::fingerprint(key);
    let mut kh = target.known_hosts.display().to_string();
    if std::env::var_os(KNOWN_HOSTS_VAR).is_some() {
        kh = format!("{kh} (with {KNOWN_HOSTS_VAR} after it)");
    }
    match known_hosts::verdict(entries, key) {
        Verdict::Match => Ok(()),
        Verdict::Unknown if accept_new => {
            let line = known_hosts::line_for(&target.address, target.port, &key_type, key);
            known_hosts::append(&target.known_hosts, &line)
                .with_context(|| format!("recording the host key of {desc} in {kh}"))?;
            eprintln!(
                "warning: trusted new host key of {desc}: {key_type} {fingerprint} (recorded in {kh})"
            );
            Ok(())
        }
        Verdict::Unknown => Err(HostKeyError::Unknown {
            target: desc,
            address: target.address.clone(),
            port: target.port,
            known_hosts: kh,
            key_type,
            fingerprint,
        }
        .into()),
        Verdict::Mismatch { known_lines } => Err(HostKeyError::Mismatch {
            target: desc,
            name: known_hosts::host_name(&target.address, target.port),
            known_hosts: kh,
            key_type,
            fingerprint,
            lines: known_lines
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        }
        .into()),
        Verdict::Revoked { line } => Err(HostKeyError::Revoked {
            target: desc,
            known_hosts: kh,
            fingerprint,
            line,
        }
        .into()),
    }
}

fn key_type_name(kind: ssh2::HostKeyType) -> String {
    match kind {
        ssh2::HostKeyType::Rsa => "ssh-rsa",
        ssh2::HostKeyType::Dss => "ssh-dss",
        ssh2::HostKeyType::Ecdsa256 => "ecdsa-sha2-nistp256",
        ssh2::HostKeyType::Ecdsa384 => "ecdsa-sha2-nistp384",
        ssh2::HostKeyType::Ecdsa521 => "ecdsa-sha2-nistp521",
        ssh2::HostKeyType::Ed25519 => "ssh-ed25519",
        ssh2::HostKeyType::Unknown => "unknown",
    }
    .to_string()
}

/// The private key's text, for runners without key files (CI secrets).
pub const KEY_VAR: &str = "WSGICTL_SSH_KEY";
/// known_hosts lines, checked with those of the known_hosts file.
pub const KNOWN_HOSTS_VAR: &str = "WSGICTL_KNOWN_HOSTS";

/// `WSGICTL_SSH_KEY` when set, the manifest's identity, then every ssh-agent identity, then
/// the default key files; the error lists each attempt and how it ended.
fn authenticate(session: &ssh2::Session, target: &Target) -> anyhow::Result<()> {
    let user = &target.user;
    let mut tried: Vec<String> = Vec::new();
    let explicit = !target.identities.is_empty();

    // A CI runner's key, from the environment: held in memory, never written anywhere.
    if let Ok(key) = std::env::var(KEY_VAR)
        && !key.trim().is_empty()
    {
        let passphrase = std::env::var("WSGICTL_KEY_PASSPHRASE").ok();
        match session.userauth_pubkey_memory(user, None, &key, passphrase.as_deref()) {
            Ok(()) if session.authenticated() => return Ok(()),
            Ok(()) => tried.push(format!("{KEY_VAR} (refused)")),
            // libssh2's message names neither the key nor its text.
            Err(e) => tried.push(format!("{KEY_VAR} ({})", e.message())),
        }
    }
    for path in &target.identities {
        if try_key_file(session, user, path, &mut tried) {
            return Ok(());
        }
    }
    if !explicit {
        match agent_auth(session, user, &mut tried) {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => tried.push(format!("ssh-agent ({e})")),
        }
        for name in ["id_ed25519", "id_ecdsa", "id_rsa"] {
            let path = target.ssh_dir.join(name);
            if path.exists() && try_key_file(session, user, &path, &mut tried) {
                return Ok(());
            }
            if !path.exists() {
                tried.push(format!("{} (not found)", path.display()));
            }
        }
    }
    bail!(
        "authenticating as {user} on {}: every key was refused; tried: {}. \
         Give the right key with `identity \"...\"` in the host block, load it into ssh-agent, \
         or add its public key to ~{user}/.ssh/authorized_keys on the host",
        target.describe(),
        tried.join("; ")
    )
}

fn try_key_file(
    session: &ssh2::Session,
    user: &str,
    path: &std::path::Path,
    tried: &mut Vec<String>,
) -> bool {
    if !path.exists() {
        tried.push(format!("{} (not found)", path.display()));
        return false;
    }
    let passphrase = std::env::var("WSGICTL_KEY_PASSPHRASE").ok();
    match session.userauth_pubkey_file(user, None, path, passphrase.as_deref()) {
        Ok(()) if session.authenticated() => return true,
        Ok(()) => {}
        Err(e) => {
            // An encrypted key without a passphrase: ask on a terminal, once.
            let encrypted = std::fs::read_to_string(path)
                .is_ok_and(|k| k.contains("ENCRYPTED") || is_encrypted_openssh(&k));
            if passphrase.is_none()
                && encrypted
                && std::io::IsTerminal::is_terminal(&std::io::stdin())
                && let Ok(p) =
                    rpassword::prompt_password(format!("passphrase for {}: ", path.display()))
                && session
                    .userauth_pubkey_file(user, None, path, Some(&p))
                    .is_ok()
                && session.authenticated()
            {
                return true;
            }
            let why = if encrypted && passphrase.is_none() {
                "encrypted; set WSGICTL_KEY_PASSPHRASE or run on a terminal".to_string()
            } else {
                e.message().to_string()
            };
            tried.push(format!("{} ({why})", path.display()));
            return false;
        }
    }
    tried.push(format!("{} (refused)", path.display()));
    false
}

/// An OpenSSH-format private key whose cipher is not `none`.
fn is_encrypted_openssh(text: &str) -> bool {
    use base64::Engine as _;
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(body) else {
        return false;
    };
    // "openssh-key-v1\0" then a length-prefixed cipher name.
    let Some(rest) = bytes.strip_prefix(b"openssh-key-v1\0") else {
        return false;
    };
    rest.get(4..8).is_some_and(|c| c != b"none")
}

fn agent_auth(
    session: &ssh2::Session,
    user: &str,
    tried: &mut Vec<String>,
) -> anyhow::Result<bool> {
    if std::env::var_os("SSH_AUTH_SOCK").is_none() {
        tried.push("ssh-agent (not running: SSH_AUTH_SOCK is unset)".into());
        return Ok(false);
    }
    let mut agent = session.agent()?;
    agent.connect()?;
    agent.list_identities()?;
    let ids = agent.identities()?;
    if ids.is_empty() {
        tried.push("ssh-agent (no identities)".into());
    }
    for id in ids {
        if agent.userauth(user, &id).is_ok() && session.authenticated() {
            return Ok(true);
        }
        tried.push(format!("ssh-agent key {} (refused)", id.comment()));
    }
    let _ = agent.disconnect();
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_sends_each_packet_at_once() {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let target = Target {
            name: "t".into(),
            address: "127.0.0.1".into(),
            port: listener.local_addr().unwrap().port(),
            user: "u".into(),
            identities: vec![],
            known_hosts: PathBuf::new(),
            ssh_dir: PathBuf::new(),
            jump: None,
            config: "none",
        };
        let tcp = connect_tcp(&target, Duration::from_secs(5)).unwrap();
        assert!(tcp.nodelay().unwrap(), "Nagle's algorithm is on");
    }
}
