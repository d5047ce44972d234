//! `wsgictl apply` end to end: real sshd, a running Apache instance with mod_wsgi, and the
//! example Django project installed from PyPI into the app's venv.

use crate::support::apache::ApacheInstance;
use crate::support::lab::Lab;
use crate::support::*;
use std::path::PathBuf;
use std::process::{Command, Output};

const SECRET: (&str, &str) = ("LAB_SECRET", KNOWN_SECRET);

pub struct Site {
    pub lab: Lab,
    pub apache: ApacheInstance,
    _base: tempfile::TempDir,
    pub base: PathBuf,
    pub manifest: PathBuf,
    pub port: u16,
}

impl Site {
    /// `apps` copies of the blog example, roots under /srv/wsgictl-tests (traversable).
    pub fn new(apps: usize, app_extra: &str) -> Site {
        let lab = Lab::start();
        let apache = ApacheInstance::new();
        std::fs::create_dir_all("/srv/wsgictl-tests").unwrap();
        let base = tempfile::Builder::new()
            .prefix("site")
            .tempdir_in("/srv/wsgictl-tests")
            .unwrap();
        std::fs::set_permissions(
            base.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let extra = format!("    collectstatic #true\n    health \"/\"\n{app_extra}");
        let manifest = lab.manifest_on(
            base.path(),
            apache.confdir(),
            port,
            apps,
            "",
            &extra.replace("    collectstatic #true\n", ""),
        );
        // collectstatic belongs in the django block.
        let text = std::fs::read_to_string(&manifest).unwrap().replace(
            "        static \"/static/\"",
            "        collectstatic #true\n        static \"/static/\"",
        );
        std::fs::write(&manifest, text).unwrap();
        Site {
            base: base.path().to_path_buf(),
            _base: base,
            lab,
            apache,
            manifest,
            port,
        }
    }

    pub fn wsgictl(&self, cmd: &str, extra: &[&str]) -> Output {
        let mut args = vec![cmd, "-f", self.manifest.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.lab.wsgictl(&args, &[SECRET])
    }

    pub fn apply(&self) -> Output {
        self.wsgictl("apply", &["--yes"])
    }

    /// GET `path` from Apache with `Host: appN.example.com`: (status, body).
    pub fn get(&self, app: usize, path: &str) -> (u16, String) {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "20", "-w", "\n%{http_code}", "-H"])
            .arg(format!("Host: app{app}.example.com"))
            .arg(format!("http://127.0.0.1:{}{path}", self.port))
            .output()
            .expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    pub fn root(&self, app: usize) -> PathBuf {
        self.base.join(format!("srv/app{app}"))
    }
}

pub fn all(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

#[test]
fn a_fresh_host_serves_django_and_a_second_apply_changes_nothing() {
    let site = Site::new(1, "");
    let o = site.apply();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}\n{}",
        all(&o),
        site.apache.error_log()
    );
    assert!(
        stdout(&o).contains("lab: applied in") && stdout(&o).contains("Apache reloaded"),
        "{}",
        all(&o)
    );
    assert!(
        stdout(&o).contains(&format!(
            "app1: http://app1.example.com:{}/ → 200",
            site.port
        )),
        "{}",
        all(&o)
    );

    let (code, body) = site.get(1, "/");
    assert_eq!(code, 200, "{body}\n{}", site.apache.error_log());
    assert!(
        body.contains("blog: hello from Django under mod_wsgi")
            && body.contains("greeting: hello 1"),
        "{body}"
    );
    let (code, css) = site.get(1, "/static/site.css");
    assert_eq!(
        (code, css.as_str()),
        (200, "body { font-family: sans-serif; }\n")
    );

    // Second run: nothing to do, nothing reloaded, the same Apache children serving.
    let pid = site.apache.pid().unwrap();
    let before = children(pid);
    let log = site.apache.error_log();
    let o = site.apply();
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    assert!(stdout(&o).contains("lab: no changes."), "{}", all(&o));
    assert_eq!(site.apache.pid(), Some(pid));
    assert_eq!(
        children(pid),
        before,
        "Apache's children changed: it was reloaded"
    );
    let new_log = &site.apache.error_log()[log.len()..];
    assert!(!new_log.contains("Graceful restart"), "{new_log}");
}

/// The pids of `pid`'s children.
pub fn children(pid: u32) -> Vec<u32> {
    let text =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    let mut v: Vec<u32> = text
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    v.sort();
    v
}
