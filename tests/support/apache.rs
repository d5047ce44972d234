//! A throwaway Debian Apache instance for tests: its own `APACHE_CONFDIR` under a temp dir,
//! the system's modules (mod_wsgi enabled), no sites, no Listen lines of its own.
//! See /usr/share/doc/apache2/README.multiple-instances.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use wsgictl::desired::{DesiredState, FileRole};

const SYSTEM_CONFDIR: &str = "/etc/apache2";
const MOD_WSGI: &str = "/usr/lib/apache2/modules/mod_wsgi.so";

pub struct ApacheInstance {
    dir: tempfile::TempDir,
}

impl ApacheInstance {
    /// A fresh instance. Panics with the fix when Apache or mod_wsgi is not installed.
    pub fn new() -> Self {
        for (path, package) in [
            ("/usr/sbin/apache2", "apache2"),
            (MOD_WSGI, "libapache2-mod-wsgi-py3"),
        ] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: install {package} (tests/run.sh installs what the suite needs)"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path();
        for sub in [
            "conf-available",
            "conf-enabled",
            "sites-available",
            "sites-enabled",
            "mods-enabled",
            "run",
            "lock",
            "log",
        ] {
            std::fs::create_dir_all(conf.join(sub)).unwrap();
        }
        for file in ["apache2.conf", "magic"] {
            std::fs::copy(Path::new(SYSTEM_CONFDIR).join(file), conf.join(file)).unwrap();
        }
        copy_dir(
            &Path::new(SYSTEM_CONFDIR).join("mods-available"),
            &conf.join("mods-available"),
        );
        // The system's enabled modules, as the same relative symlinks, plus wsgi.
        for entry in std::fs::read_dir(Path::new(SYSTEM_CONFDIR).join("mods-enabled")).unwrap() {
            let entry = entry.unwrap();
            let target = std::fs::read_link(entry.path()).unwrap();
            symlink(target, conf.join("mods-enabled").join(entry.file_name())).unwrap();
        }
        for f in ["wsgi.load", "wsgi.conf"] {
            let link = conf.join("mods-enabled").join(f);
            if !link.exists() {
                symlink(format!("../mods-available/{f}"), link).unwrap();
            }
        }
        std::fs::write(
            conf.join("ports.conf"),
            "# Listen lines come from wsgictl's host-wide file\n",
        )
        .unwrap();
        let d = conf.display();
        std::fs::write(
            conf.join("envvars"),
            format!(
                "export APACHE_RUN_USER=www-data\nexport APACHE_RUN_GROUP=www-data\n\
                 export APACHE_PID_FILE={d}/run/apache2.pid\nexport APACHE_RUN_DIR={d}/run\n\
                 export APACHE_LOCK_DIR={d}/lock\nexport APACHE_LOG_DIR={d}/log\nexport LANG=C\n"
            ),
        )
        .unwrap();
        // Apache's children (www-data) reach mod_wsgi's sockets in run/: the path must be
        // traversable, as on a real host (/var/run/apache2 is 0755).
        for p in [conf.to_path_buf(), conf.join("run")] {
            std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
        }
        ApacheInstance { dir }
    }

    /// Start the instance and wait until it runs; panics with Apache's message otherwise.
    pub fn start(&self) {
        let out = self.ctl(&["start"]);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.pid().is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "Apache did not start: {}{}",
                String::from_utf8_lossy(&out.stderr),
                self.error_log()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The main process's pid, when the instance runs.
    pub fn pid(&self) -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(self.confdir().join("run/apache2.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
    }

    /// The instance's main error log.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.confdir().join("log/error.log")).unwrap_or_default()
    }

    /// App `app`'s own error log (its vhost's `ErrorLog`, where its daemons and mod_wsgi's
    /// forwarding write).
    pub fn app_error_log(&self, app: &str) -> String {
        std::fs::read_to_string(self.confdir().join(format!("log/wsgictl-{app}-error.log")))
            .unwrap_or_default()
    }

    /// Create the accounts the apps of `m` on `host` run as, as apply does before it writes a
    /// vhost: mod_wsgi resolves `WSGIDaemonProcess user=` while parsing the configuration.
    pub fn ensure_accounts(m: &wsgictl::manifest::Manifest, host: &str) {
        let _guard = super::ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        for app in m.apps_on(host) {
            if !exists("group", &app.group) {
                run(Command::new("groupadd").args(["--system", &app.group]));
            }
            if !exists("passwd", &app.user) {
                run(Command::new("useradd").args([
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    "--gid",
                    &app.group,
                    &app.user,
                ]));
            }
        }
    }

    pub fn confdir(&self) -> &Path {
        self.dir.path()
    }

    /// What wsgictl names this instance's state files after (`HostEnv::instance`): the
    /// confdir with `/` as `_`, as in `/var/lib/wsgictl/log-offsets_tmp_.tmpAbc123`.
    pub fn instance(&self) -> String {
        self.confdir().display().to_string().replace('/', "_")
    }

    /// Write the state's Apache files (rendered with this instance's confdir) and enable them
    /// as `a2ensite` / `a2enconf` would.
    pub fn install(&self, state: &DesiredState) -> Vec<PathBuf> {
        let mut written = Vec::new();
        for f in &state.files {
            let enabled = match f.role {
                FileRole::Vhost | FileRole::TlsVhost => "sites-enabled",
                FileRole::HostConf => "conf-enabled",
                FileRole::WsgiScript
                | FileRole::EnvFile
                | FileRole::Overlay
                | FileRole::ServerFile
                | FileRole::DeployHook => {
                    continue;
                }
            };
            let path = PathBuf::from(&f.path);
            assert!(
                path.starts_with(self.confdir()),
                "{} is outside the instance",
                f.path
            );
            std::fs::write(&path, f.content.shown()).unwrap();
            let available = path
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_str()
                .unwrap();
            let name = path.file_name().unwrap();
            let link = self.confdir().join(enabled).join(name);
            let _ = std::fs::remove_file(&link);
            symlink(format!("../{available}/{}", name.to_str().unwrap()), link).unwrap();
            written.push(path);
        }
        // Modules the state enables (mod_ssl, mod_rewrite, mod_headers with tls), with
        // mod_ssl's dependency, as a2enmod would.
        for l in &state.links {
            if l.tool != wsgictl::desired::EnableTool::A2enmod {
                continue;
            }
            let file = l.path.rsplit('/').next().unwrap().to_string();
            let mut files = vec![file.clone()];
            if file == "ssl.load" {
                files.push("socache_shmcb.load".into());
            }
            for f in files {
                let link = self.confdir().join("mods-enabled").join(&f);
                if !link.exists() {
                    symlink(format!("../mods-available/{f}"), link).unwrap();
                }
            }
        }
        written
    }

    /// `apache2ctl` with this instance's `APACHE_CONFDIR`.
    pub fn ctl(&self, args: &[&str]) -> Output {
        Command::new("apache2ctl")
            .args(args)
            .env("APACHE_CONFDIR", self.confdir())
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .output()
            .expect("running apache2ctl")
    }
}

impl Drop for ApacheInstance {
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            // SIGTERM is what `apache2ctl stop` sends, without its config test: a test that
            // left the configuration broken must not leave Apache running.
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while Path::new(&format!("/proc/{pid}")).exists()
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn exists(db: &str, name: &str) -> bool {
    Command::new("getent")
        .args([db, name])
        .output()
        .unwrap()
        .status
        .success()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed (the Apache tests create the apps' accounts and need root; run tests/run.sh as root): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
