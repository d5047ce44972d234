//! A real ACME server for the tests: Debian's `pebble` (Let's Encrypt's test CA) with
//! `pebble-challtestsrv` as its DNS server, which answers 127.0.0.1 for every name, so that
//! pebble validates HTTP-01 against the lab's Apache on loopback. Each instance has its own
//! ports; pebble's HTTPS listener uses a certificate of a throwaway CA ([`super::tls::Ca`]),
//! which certbot is told to trust (the manifest's `acme { trust }`).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Pebble {
    _dir: tempfile::TempDir,
    /// The ACME directory URL.
    pub directory: String,
    /// The CA bundle certbot must trust to talk to pebble.
    pub trust: PathBuf,
    management: u16,
    listen: u16,
    children: Vec<Child>,
}

use super::free_port;

fn wait(port: u16, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {port}: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Pebble {
    /// Start pebble, validating HTTP-01 challenges on `http_port` of 127.0.0.1.
    pub fn start(http_port: u16) -> Pebble {
        for bin in [
            "/usr/bin/pebble",
            "/usr/bin/pebble-challtestsrv",
            "/usr/bin/certbot",
        ] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: install pebble and certbot (tests/run.sh installs what the suite needs)"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ca = super::tls::Ca::new(&d.join("ca"));
        let (cert, key) = ca.issue_valid("pebble", &["localhost"], 30);
        let (listen, management, dns) = (free_port(), free_port(), free_port());
        let config = d.join("pebble.json");
        std::fs::write(
            &config,
            serde_json::json!({ "pebble": {
                "listenAddress": format!("127.0.0.1:{listen}"),
                "managementListenAddress": format!("127.0.0.1:{management}"),
                "certificate": cert, "privateKey": key,
                "httpPort": http_port, "tlsPort": free_port(),
                "ocspResponderURL": "", "externalAccountBindingRequired": false,
            }})
            .to_string(),
        )
        .unwrap();
        let log = |name: &str| std::fs::File::create(d.join(name)).unwrap();
        let dns_server = Command::new("pebble-challtestsrv")
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .args(["-dns01", &format!("127.0.0.1:{dns}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-management", &format!("127.0.0.1:{}", free_port())])
            .stdin(Stdio::null())
            .stdout(log("challtestsrv.log"))
            .stderr(log("challtestsrv.err"))
            .spawn()
            .expect("pebble-challtestsrv");
        let pebble = Command::new("pebble")
            .args(["-config"])
            .arg(&config)
            .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
            // No random waits and no random nonce rejections: the tests are about wsgictl.
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdin(Stdio::null())
            .stdout(log("pebble.log"))
            .stderr(log("pebble.err"))
            .spawn()
            .expect("pebble");
        let p = Pebble {
            directory: format!("https://localhost:{listen}/dir"),
            trust: ca.cert.clone(),
            management,
            listen,
            children: vec![dns_server, pebble],
            _dir: dir,
        };
        wait(
            dns,
            "pebble-challtestsrv's DNS",
            &p._dir.path().join("challtestsrv.err"),
        );
        wait(listen, "pebble", &p._dir.path().join("pebble.log"));
        wait(
            management,
            "pebble's management interface",
            &p._dir.path().join("pebble.log"),
        );
        p
    }

    /// Pebble's issuing root (it makes a new one each start), PEM, to verify served
    /// certificates against.
    pub fn root(&self, to: &Path) -> PathBuf {
        let out = Command::new("curl")
            .args(["-sf", "--cacert"])
            .arg(&self.trust)
            .arg(format!("https://localhost:{}/roots/0", self.management))
            .output()
            .expect("curl");
        assert!(out.status.success(), "fetching pebble's root failed");
        std::fs::write(to, &out.stdout).unwrap();
        to.to_path_buf()
    }

    /// What pebble logged (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("pebble.log")).unwrap_or_default()
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        // certbot's account with this (gone) server.
        let _ = std::fs::remove_dir_all(format!(
            "/etc/letsencrypt/accounts/localhost:{}",
            self.listen
        ));
    }
}

/// certbot's lineage `name`, deleted when the test ends however it ends: the host's certbot
/// timer must not try to renew it against a pebble that is gone.
pub struct Lineage(pub String);

impl Drop for Lineage {
    fn drop(&mut self) {
        let _ = Command::new("certbot")
            .args(["delete", "--non-interactive", "--cert-name", &self.0])
            .output();
    }
}
