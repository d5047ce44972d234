//! The test lab: a real `sshd` on a free loopback port, with a throwaway host key pinned in a
//! test known_hosts, a client key, and three accounts: `wsgictl-lab` (passwordless sudo),
//! `wsgictl-pw` (sudo wants a password it does not have) and `wsgictl-rl` (no sudo at all:
//! rootless hosts). wsgictl runs with `HOME` set to the
//! lab's own home, so `~/.ssh` is the lab's and no agent is reachable.
//!
//! Needs root (sshd, useradd, sudoers). Each `Lab` has its own sshd and directory; accounts
//! and sudoers entries are shared and created once.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const USER: &str = "wsgictl-lab";
pub const PW_USER: &str = "wsgictl-pw";
/// An ordinary account: no sudo, in no group but its own (rootless hosts).
pub const RL_USER: &str = "wsgictl-rl";

pub struct Lab {
    dir: tempfile::TempDir,
    pub port: u16,
    sshd: Child,
}

impl Lab {
    pub fn start() -> Lab {
        Lab::start_logging("VERBOSE")
    }

    /// A lab whose sshd logs at `level` (`DEBUG1` shows forwarded channels: a bastion).
    pub fn start_logging(level: &str) -> Lab {
        ensure_accounts();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let home = d.join("home");
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        keygen(&d.join("host_ed25519"));
        keygen(&home.join(".ssh/id_ed25519"));
        keygen(&d.join("other_ed25519"));
        let authorized = d.join("authorized_keys");
        std::fs::copy(home.join(".ssh/id_ed25519.pub"), &authorized).unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();

        let port = free_port();
        let config = d.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nPidFile {d}/sshd.pid\n\
                 AuthorizedKeysFile {ak}\nUsePAM no\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nStrictModes no\n\
                 AllowUsers {USER} {PW_USER} {RL_USER}\nPermitRootLogin no\nLogLevel {level}\n",
                hk = d.join("host_ed25519").display(),
                ak = authorized.display(),
                d = d.display(),
            ),
        )
        .unwrap();
        let log = std::fs::File::create(d.join("sshd.log")).unwrap();
        let sshd = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting sshd (install openssh-server; run as root)");
        let lab = Lab { dir, port, sshd };
        lab.wait_listening();
        lab.pin_host_key();
        lab
    }

    fn wait_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not listen on {}: {}",
                self.port,
                self.sshd_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Record the lab's host key in `~/.ssh/known_hosts` of the lab home.
    pub fn pin_host_key(&self) {
        std::fs::write(self.known_hosts(), self.host_key_line()).unwrap();
    }

    pub fn host_key_line(&self) -> String {
        let pubkey = std::fs::read_to_string(self.dir.path().join("host_ed25519.pub")).unwrap();
        let mut f = pubkey.split_whitespace();
        format!(
            "[127.0.0.1]:{} {} {}\n",
            self.port,
            f.next().unwrap(),
            f.next().unwrap()
        )
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.home().join(".ssh/known_hosts")
    }

    /// Authorize another public key for every lab account.
    pub fn authorize(&self, pubkey: &Path) {
        use std::io::Write as _;
        let key = std::fs::read_to_string(pubkey).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("authorized_keys"))
            .unwrap();
        f.write_all(key.as_bytes()).unwrap();
    }

    /// A new ed25519 key pair under the lab directory, encrypted when `passphrase` is not empty.
    pub fn new_key(&self, name: &str, passphrase: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        keygen_with(&path, passphrase);
        path
    }

    /// A key that is not authorized on the lab.
    pub fn other_key(&self) -> PathBuf {
        self.dir.path().join("other_ed25519")
    }

    /// A manifest with `apps` copies of the blog example on this lab, each under its own root
    /// below `base`, configured into the Apache instance at `confdir`. `host_extra` goes into
    /// the host block (after address, port and user); `app_extra` into every app block.
    pub fn manifest(
        &self,
        base: &Path,
        confdir: &Path,
        apps: usize,
        host_extra: &str,
        app_extra: &str,
    ) -> PathBuf {
        self.manifest_on(base, confdir, 8080, apps, host_extra, app_extra)
    }

    /// As [`Lab::manifest`], with the apps on `port`.
    pub fn manifest_on(
        &self,
        base: &Path,
        confdir: &Path,
        port: u16,
        apps: usize,
        host_extra: &str,
        app_extra: &str,
    ) -> PathBuf {
        let blog = super::root().join("examples/single-app");
        let mut text = format!(
            "host \"lab\" {{\n    address \"127.0.0.1\"\n    port {}\n    user \"{USER}\"\n    sudo #true\n    apache {{\n        confdir \"{}\"\n    }}\n{host_extra}}}\n",
            self.port,
            confdir.display()
        );
        for n in 1..=apps {
            let root = base.join(format!("srv/app{n}"));
            text.push_str(&format!(
                "app \"app{n}\" {{\n    host \"lab\"\n    server-name \"app{n}.example.com\"\n    port {port}\n    root \"{root}\"\n    user \"blog\"\n    \
                 source \"{blog}/blog\"\n    venv {{\n        requirements \"{blog}/blog/requirements.txt\"\n    }}\n    \
                 django {{\n        settings \"blog.settings\"\n        static \"/static/\" \"{root}/static\"\n    }}\n    \
                 env {{\n        BLOG_GREETING \"hello {n}\"\n        DJANGO_ALLOWED_HOSTS \"app{n}.example.com\"\n        DJANGO_STATIC_ROOT \"{root}/static\"\n    }}\n    secret \"DJANGO_SECRET_KEY\" from-env=\"LAB_SECRET\"\n{app_extra}}}\n",
                root = root.display(),
                blog = blog.display(),
            ));
        }
        let path = base.join("site.kdl");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Run wsgictl with the lab's HOME and no ssh-agent.
    pub fn wsgictl(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wsgictl"));
        cmd.current_dir(super::root())
            .args(args)
            .env("HOME", self.home())
            .env("NO_COLOR", "1")
            .env_remove("SSH_AUTH_SOCK");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("running wsgictl")
    }

    /// The listening sshd: each connection's processes are its children.
    pub fn sshd_pid(&self) -> u32 {
        self.sshd.id()
    }

    pub fn sshd_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.sshd.kill();
        let _ = self.sshd.wait();
    }
}

fn keygen(path: &Path) {
    keygen_with(path, "");
}

fn keygen_with(path: &Path, passphrase: &str) {
    let comment = path.file_name().unwrap().to_str().unwrap();
    super::run_ok(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", passphrase, "-C", comment, "-f"])
            .arg(path),
    );
}

use super::free_port;

/// The lab accounts and their sudoers rules, created once per machine.
fn ensure_accounts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _guard = super::ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        for (user, rule) in [(USER, "NOPASSWD: ALL"), (PW_USER, "ALL")] {
            let exists = Command::new("getent")
                .args(["passwd", user])
                .output()
                .unwrap()
                .status
                .success();
            if !exists {
                run(Command::new("useradd").args(["--create-home", "--shell", "/bin/sh", user]));
            }
            // Not locked ("!"), or sshd refuses even a key without PAM; no password either.
            run(Command::new("usermod").args(["-p", "*", user]));
            let sudoers = format!("/etc/sudoers.d/{user}");
            std::fs::write(&sudoers, format!("{user} ALL=(ALL) {rule}\n")).unwrap();
            run(Command::new("chmod").args(["0440", &sudoers]));
        }
        let exists = Command::new("getent")
            .args(["passwd", RL_USER])
            .output()
            .unwrap()
            .status
            .success();
        if !exists {
            run(Command::new("useradd").args(["--create-home", "--shell", "/bin/sh", RL_USER]));
        }
        run(Command::new("usermod").args(["-p", "*", RL_USER]));
        // No sudo, no admin group: only its own.
        let _ = std::fs::remove_file(format!("/etc/sudoers.d/{RL_USER}"));
        run(Command::new("usermod").args(["-G", "", RL_USER]));
    });
}

fn run(cmd: &mut Command) {
    // Needs root: useradd, usermod, sudoers.
    super::run_ok(cmd);
}
