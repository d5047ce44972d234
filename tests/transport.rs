//! The SSH transport against a real sshd: host keys fail closed, auth says what it tried,
//! sudo that wants a password is an error, not a hang.

use crate::support::lab::{Lab, PW_USER, USER};
use wsgictl::transport::Transport as _;
use wsgictl::transport::ssh::{HostKeyError, SshOptions, SshTransport, Target};

fn target(lab: &Lab, user: &str) -> Target {
    Target {
        name: "lab".into(),
        address: "127.0.0.1".into(),
        port: lab.port,
        user: user.into(),
        identities: vec![],
        known_hosts: lab.known_hosts(),
        ssh_dir: lab.home().join(".ssh"),
        jump: None,
        config: "",
    }
}

#[test]
fn runs_scripts_as_the_user_and_through_sudo() {
    let lab = Lab::start();
    let mut t = SshTransport::connect(target(&lab, USER), &SshOptions::default())
        .unwrap_or_else(|e| panic!("{e:#}\n{}", lab.sshd_log()));
    let out = t
        .run_script("id -un; echo to-stderr >&2; exit 3\n", false)
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.output),
        format!("{USER}\nto-stderr\n")
    );
    assert_eq!(out.status, 3);
    let out = t.run_script("id -un\n", true).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.output), "root\n");
    assert_eq!(t.stats().exec_channels, 2);
}

#[test]
fn sudo_that_wants_a_password_is_a_clear_error() {
    let lab = Lab::start();
    let mut t = SshTransport::connect(target(&lab, PW_USER), &SshOptions::default()).unwrap();
    let started = std::time::Instant::now();
    let err = format!("{:#}", t.run_script("id -un\n", true).unwrap_err());
    assert!(
        err.contains("sudo on lab (127.0.0.1:") && err.contains("wants a password for wsgictl-pw"),
        "{err}"
    );
    assert!(err.contains("NOPASSWD"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn an_unknown_host_key_is_refused_with_its_fingerprint() {
    let lab = Lab::start();
    std::fs::write(lab.known_hosts(), "").unwrap();
    let err = SshTransport::connect(target(&lab, USER), &SshOptions::default())
        .err()
        .unwrap();
    let typed = err.downcast_ref::<HostKeyError>();
    assert!(
        matches!(typed, Some(HostKeyError::Unknown { .. })),
        "{err:#}"
    );
    let msg = format!("{err:#}");
    assert!(
        msg.contains("SHA256:") && msg.contains("--accept-new-host-key"),
        "{msg}"
    );
    // Nothing was logged in as anyone.
    assert!(
        !lab.sshd_log().contains("Accepted publickey"),
        "{}",
        lab.sshd_log()
    );

    // Accepting records it, and the next connection matches without the flag.
    let opts = SshOptions {
        accept_new_host_key: true,
        ..Default::default()
    };
    SshTransport::connect(target(&lab, USER), &opts).unwrap();
    assert_eq!(
        std::fs::read_to_string(lab.known_hosts()).unwrap(),
        lab.host_key_line()
    );
    SshTransport::connect(target(&lab, USER), &SshOptions::default()).unwrap();
}

#[test]
fn a_mismatched_host_key_is_refused_even_when_accepting_new_keys() {
    let lab = Lab::start();
    let other = std::fs::read_to_string(format!("{}.pub", lab.other_key().display())).unwrap();
    let mut f = other.split_whitespace();
    std::fs::write(
        lab.known_hosts(),
        format!(
            "[127.0.0.1]:{} {} {}\n",
            lab.port,
            f.next().unwrap(),
            f.next().unwrap()
        ),
    )
    .unwrap();
    let opts = SshOptions {
        accept_new_host_key: true,
        ..Default::default()
    };
    let err = SshTransport::connect(target(&lab, USER), &opts)
        .err()
        .unwrap();
    assert!(
        matches!(
            err.downcast_ref::<HostKeyError>(),
            Some(HostKeyError::Mismatch { .. })
        ),
        "{err:#}"
    );
    assert!(format!("{err:#}").contains("HOST KEY MISMATCH"));
    assert!(!lab.sshd_log().contains("Accepted publickey"));
}

#[test]
fn a_refused_key_lists_what_was_tried() {
    let lab = Lab::start();
    let mut t = target(&lab, USER);
    t.identities = vec![lab.other_key()];
    let err = format!(
        "{:#}",
        SshTransport::connect(t, &SshOptions::default())
            .err()
            .unwrap()
    );
    assert!(
        err.contains(&format!(
            "authenticating as {USER} on lab (127.0.0.1:{})",
            lab.port
        )),
        "{err}"
    );
    assert!(
        err.contains(&lab.other_key().display().to_string()),
        "{err}"
    );
}

#[test]
fn an_encrypted_identity_uses_the_passphrase_from_the_environment() {
    let lab = Lab::start();
    let key = lab.new_key("encrypted", "correct horse");
    lab.authorize(&key.with_extension("pub"));
    let identity = format!("    identity \"{}\"\n", key.display());

    // No passphrase and no terminal: refused, and the error says how to give one.
    let out = lab_wsgictl_facts(&lab, &identity, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("encrypted; set WSGICTL_KEY_PASSPHRASE"),
        "{err}"
    );

    let out = lab_wsgictl_facts(
        &lab,
        &identity,
        &[("WSGICTL_KEY_PASSPHRASE", "correct horse")],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn each_agent_identity_is_tried_in_turn() {
    let lab = Lab::start();
    // The agent holds an unauthorized key first, then the authorized one; no key files.
    let sock = lab.home().join("agent.sock");
    let mut agent = std::process::Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !sock.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "ssh-agent did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let authorized = lab.home().join(".ssh/id_ed25519");
    for key in [lab.other_key(), authorized.clone()] {
        crate::support::run_ok(
            std::process::Command::new("ssh-add")
                .arg(&key)
                .env("SSH_AUTH_SOCK", &sock),
        );
    }
    std::fs::rename(&authorized, lab.home().join("moved-away")).unwrap();

    let out = lab_wsgictl_facts(&lab, "", &[("SSH_AUTH_SOCK", sock.to_str().unwrap())]);
    let _ = agent.kill();
    let _ = agent.wait();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `wsgictl facts` on a one-host manifest for the lab (`host_extra` in its host block), in
/// its own process with `env` (and no agent unless `env` names one).
fn lab_wsgictl_facts(lab: &Lab, host_extra: &str, env: &[(&str, &str)]) -> std::process::Output {
    let base = tempfile::tempdir().unwrap();
    let confdir = base.path().join("apache");
    std::fs::create_dir_all(&confdir).unwrap();
    let manifest = lab.manifest(base.path(), &confdir, 1, host_extra, "");
    let mut all = vec![("LAB_SECRET", "x")];
    all.extend_from_slice(env);
    lab.wsgictl(
        &["facts", "--host", "lab", "-f", manifest.to_str().unwrap()],
        &all,
    )
}

#[test]
fn a_quiet_script_is_kept_alive_and_a_hung_one_times_out() {
    let lab = Lab::start();
    let opts = SshOptions {
        keepalive: std::time::Duration::from_secs(1),
        timeout: std::time::Duration::from_secs(4),
        ..Default::default()
    };
    let mut t = SshTransport::connect(target(&lab, USER), &opts).unwrap();
    // Silent for longer than the keepalive interval: still completes.
    let out = t.run_script("sleep 2.5; echo done\n", false).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.output), "done\n");
    // Longer than the whole timeout: an error that says so, not a hang.
    let started = std::time::Instant::now();
    let err = format!(
        "{:#}",
        t.run_script("echo started; sleep 30\n", false).unwrap_err()
    );
    assert!(
        err.contains("no end after 4 s") && err.contains("started"),
        "{err}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

/// A script that sleeps first and then carries more data than the channel buffers: the writer
/// must not be stuck (and time out) while the remote shell is busy.
#[test]
fn a_large_script_is_sent_while_the_remote_is_silent() {
    let lab = Lab::start();
    let opts = SshOptions {
        keepalive: std::time::Duration::from_secs(1),
        timeout: std::time::Duration::from_secs(60),
        ..Default::default()
    };
    let mut t = SshTransport::connect(target(&lab, USER), &opts).unwrap();
    let data = "x".repeat(100) + "\n";
    let script = format!(
        "sleep 3\nwc -c <<'EOF'\n{}EOF\necho done\n",
        data.repeat(80_000)
    );
    let out = t.run_script(&script, false).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.output)
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["8080000", "done"]
    );
}

/// The local transport writes and reads at once (a script that prints a lot before it has
/// read all of its input), and ends a script that runs past its timeout.
#[test]
fn the_local_transport_neither_deadlocks_nor_waits_forever() {
    use wsgictl::transport::Transport as _;
    let mut t = wsgictl::transport::local::LocalTransport::new("here");
    let script = format!(
        "head -c 3000000 /dev/zero | tr '\\0' y\nwc -c <<'EOF'\n{}EOF\n",
        "z".repeat(99).repeat(30_000) + "\n"
    );
    let out = t.run_script(&script, false).unwrap();
    assert_eq!(out.output.len(), 3_000_000 + "2970001\n".len());
    t.set_script_timeout(std::time::Duration::from_secs(1));
    let started = std::time::Instant::now();
    let err = format!("{:#}", t.run_script("sleep 30\n", false).unwrap_err());
    assert!(err.contains("no end after 1 s"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

/// A CI runner without key files: the key and the host key come from the environment, and
/// neither is written to disk or printed.
#[test]
fn a_key_and_known_hosts_from_the_environment_need_no_files() {
    let lab = Lab::start();
    let base = tempfile::tempdir().unwrap();
    let confdir = base.path().join("apache");
    std::fs::create_dir_all(&confdir).unwrap();
    let manifest = lab.manifest(base.path(), &confdir, 1, "", "");
    let key = std::fs::read_to_string(lab.home().join(".ssh/id_ed25519")).unwrap();
    let known = lab.host_key_line();
    // An empty home: no ~/.ssh at all.
    let home = tempfile::tempdir().unwrap();
    let run = |env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_wsgictl"));
        cmd.args(["facts", "--host", "lab", "-f", manifest.to_str().unwrap()])
            .env("HOME", home.path())
            .env("NO_COLOR", "1")
            .env("LAB_SECRET", "x")
            .env_remove("SSH_AUTH_SOCK");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let o = run(&[("WSGICTL_SSH_KEY", &key), ("WSGICTL_KNOWN_HOSTS", &known)]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{all}\n{}", lab.sshd_log());
    assert!(all.contains("\"os_id\""), "{all}");
    let body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(!all.contains(&body[..40]), "the key is never printed");
    assert!(
        std::fs::read_dir(home.path()).unwrap().next().is_none(),
        "nothing written to the home"
    );

    // Without the known host key, the host is unknown and nothing is recorded.
    let o = run(&[("WSGICTL_SSH_KEY", &key)]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success());
    assert!(err.contains("the host is not in"), "{err}");
    // A key the host refuses: named by its variable, its text never shown.
    let other = std::fs::read_to_string(lab.other_key()).unwrap();
    let o = run(&[("WSGICTL_SSH_KEY", &other), ("WSGICTL_KNOWN_HOSTS", &known)]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success());
    assert!(
        err.contains("WSGICTL_SSH_KEY (refused)") || err.contains("WSGICTL_SSH_KEY ("),
        "{err}"
    );
    let body: String = other.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(!err.contains(&body[..40]), "{err}");
}

/// ProxyJump: the connection to the lab goes through a second sshd acting as a bastion
/// (`jump "bastion"` naming its host block), and the host key is checked at both hops.
#[test]
fn a_jump_host_carries_the_connection_and_both_host_keys_are_checked() {
    let lab = Lab::start();
    let bastion = Lab::start_logging("DEBUG1");
    bastion.authorize(&lab.home().join(".ssh/id_ed25519.pub"));
    let base = tempfile::tempdir().unwrap();
    let confdir = base.path().join("apache");
    std::fs::create_dir_all(&confdir).unwrap();
    let manifest = lab.manifest(base.path(), &confdir, 1, "    jump \"bastion\"\n", "");
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    text.push_str(&format!(
        "host \"bastion\" {{\n    address \"127.0.0.1\"\n    port {}\n    user \"{USER}\"\n}}\n",
        bastion.port
    ));
    std::fs::write(&manifest, text).unwrap();
    let facts = |known: String| {
        std::fs::write(lab.known_hosts(), known).unwrap();
        lab.wsgictl(
            &["facts", "--host", "lab", "-f", manifest.to_str().unwrap()],
            &[("LAB_SECRET", "x")],
        )
    };

    let o = facts(format!(
        "{}{}",
        lab.host_key_line(),
        bastion.host_key_line()
    ));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        o.status.success(),
        "{all}\nbastion:\n{}\nlab:\n{}",
        bastion.sshd_log(),
        lab.sshd_log()
    );
    assert!(all.contains("\"os_id\""), "{all}");
    let log = bastion.sshd_log();
    assert!(
        log.contains(&format!(
            "server_request_direct_tcpip: originator 127.0.0.1 port 22, target 127.0.0.1 port {}",
            lab.port
        )) || log.contains(&format!("target 127.0.0.1 port {}", lab.port)),
        "the bastion forwarded a channel to the lab: {log}"
    );
    assert!(
        log.contains(&format!("Accepted publickey for {USER}")),
        "{log}"
    );
    assert!(
        lab.sshd_log()
            .contains(&format!("Accepted publickey for {USER}")),
        "the lab's sshd saw the login"
    );

    // The bastion's key unknown: refused at the first hop, which the error names.
    let o = facts(lab.host_key_line());
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success());
    assert!(
        err.contains("jump host of lab") && err.contains("the host is not in"),
        "{err}"
    );
    // The lab's key unknown: the bastion lets the connection through, the lab's key is
    // refused.
    let o = facts(bastion.host_key_line());
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success());
    assert!(
        err.contains(&format!("via {USER}@127.0.0.1:{}", bastion.port))
            && err.contains("the host is not in"),
        "{err}"
    );
}

/// `~/.ssh/config` is read by `ssh -G` when OpenSSH's client is there: a `Match` block (which
/// ssh2-config cannot read) resolves the alias, and `plan -v` says which reader it was.
#[test]
fn an_alias_from_a_match_block_resolves_through_ssh_g() {
    let lab = Lab::start();
    std::fs::write(
        lab.home().join(".ssh/config"),
        format!(
            "Match originalhost other\n    Port 1\n    User nobody\nMatch originalhost labmatch\n    HostName 127.0.0.1\n    Port {}\n    User {USER}\n",
            lab.port
        ),
    )
    .unwrap();
    let base = tempfile::tempdir().unwrap();
    let confdir = base.path().join("apache");
    std::fs::create_dir_all(&confdir).unwrap();
    let manifest = lab.manifest(base.path(), &confdir, 1, "", "");
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("address \"127.0.0.1\"", "address \"labmatch\"")
        .replace(&format!("    port {}\n", lab.port), "")
        .replace(&format!("    user \"{USER}\"\n"), "");
    assert!(!text.contains(&lab.port.to_string()), "{text}");
    std::fs::write(&manifest, text).unwrap();
    let f = manifest.to_str().unwrap();
    let o = lab.wsgictl(&["plan", "-v", "-f", f], &[("LAB_SECRET", "x")]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{err}{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(err.contains("~/.ssh/config read with ssh -G"), "{err}");
    // Without ssh -G (WSGICTL_NO_SSH_G, or no OpenSSH client) ssh2-config reads it, and -v
    // says so.
    let o = lab.wsgictl(
        &["plan", "-v", "-f", f],
        &[("LAB_SECRET", "x"), ("WSGICTL_NO_SSH_G", "1")],
    );
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(err.contains("~/.ssh/config read with ssh2-config"), "{err}");
}
