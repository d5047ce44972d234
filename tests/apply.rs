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
        let base = srv_tempdir("site");
        let port = crate::support::free_port();
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

    /// One app, already applied successfully.
    pub fn deployed() -> Site {
        let site = Site::new(1, "");
        site.applied();
        site
    }

    /// Apply, which must succeed (Apache's error log is shown when it does not).
    pub fn applied(&self) -> Output {
        let o = self.apply();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}\n{}",
            all(&o),
            self.apache.error_log()
        );
        o
    }

    pub fn wsgictl(&self, cmd: &str, extra: &[&str]) -> Output {
        let mut args = vec![cmd, "-f", self.manifest.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.lab.wsgictl(&args, &[SECRET])
    }

    /// A shell line that runs wsgictl on this site as [`Site::wsgictl`] does (the lab's HOME,
    /// its secret, no colour), with `args` (shell text) before `-f MANIFEST`.
    pub fn shell_line(&self, args: &str) -> String {
        let q = |s: &str| shlex::try_quote(s).unwrap().into_owned();
        format!(
            "HOME={} LAB_SECRET={} NO_COLOR=1 exec {} {args} -f {}",
            q(self.lab.home().to_str().unwrap()),
            q(KNOWN_SECRET),
            q(env!("CARGO_BIN_EXE_wsgictl")),
            q(self.manifest.to_str().unwrap())
        )
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

    /// Point the manifest at a vhost template override holding a directive Apache does not
    /// know: the next apply's configtest fails.
    pub fn break_vhost_template(&self) {
        let t = self.base.join("templates/apache");
        std::fs::create_dir_all(&t).unwrap();
        let builtin = include_str!("../modules/apache/vhost.conf.tera");
        std::fs::write(
            t.join("vhost.conf"),
            builtin.replace(
                "    WSGIProcessGroup",
                "    NoSuchDirective on\n    WSGIProcessGroup",
            ),
        )
        .unwrap();
        let text = std::fs::read_to_string(&self.manifest).unwrap();
        std::fs::write(&self.manifest, format!("templates \"./templates\"\n{text}")).unwrap();
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
    // Not on a terminal and no --yes: refused, nothing written.
    let o = site.wsgictl("apply", &[]);
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    assert!(
        stderr(&o).contains("not on a terminal: pass --yes"),
        "{}",
        all(&o)
    );
    assert!(!site.root(1).exists());

    let o = site.applied();
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
    // pip was given the host's one download cache, root's alone, in wsgictl's state. (What
    // lands in it depends on the index: this lab's registry proxy marks its answers
    // uncacheable, so its content is not asserted.)
    let cache = std::path::Path::new("/var/lib/wsgictl/pip-cache");
    let meta = std::fs::symlink_metadata(cache).expect("the host's pip cache");
    assert!(meta.is_dir());
    assert_eq!(
        (
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
            std::os::unix::fs::MetadataExt::uid(&meta)
        ),
        (0o700, 0)
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
        new_children(pid, &before),
        Vec::<u32>::new(),
        "Apache has new children: it was reloaded"
    );
    let new_log = &site.apache.error_log()[log.len()..];
    assert!(!new_log.contains("Graceful restart"), "{new_log}");
}

/// The pids of Apache's worker children: the children of `pid` that are not mod_wsgi daemon
/// processes (those show their display-name, `(wsgi:app1)`). A graceful reload replaces the
/// workers; touching a `.wsgi` replaces only daemons.
pub fn children(pid: u32) -> Vec<u32> {
    let text =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    let daemon = |p: &u32| {
        std::fs::read_to_string(format!("/proc/{p}/cmdline"))
            .unwrap_or_default()
            .starts_with("(wsgi:")
    };
    let mut v: Vec<u32> = text
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .filter(|p| !daemon(p))
        .collect();
    v.sort();
    v
}

/// Apache's children that were not among `before`, read again for up to 3 s until there are
/// none: a daemon restarted by a touched `.wsgi` is briefly a child with Apache's own command
/// line (between its fork and its display-name), while a reload replaces the workers for
/// good. A worker missing from `before` is no reload: the MPM retires an idle one on its own.
pub fn new_children(pid: u32, before: &[u32]) -> Vec<u32> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let new: Vec<u32> = children(pid)
            .into_iter()
            .filter(|c| !before.contains(c))
            .collect();
        if new.is_empty() || std::time::Instant::now() > deadline {
            return new;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

pub fn edit(path: &std::path::Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from:?} not in {}", path.display());
    std::fs::write(path, text.replace(from, to)).unwrap();
}

/// The daemon's pid, as the example page prints it.
fn daemon_pid(body: &str) -> String {
    body.lines()
        .find_map(|l| l.strip_prefix("pid: "))
        .unwrap_or("")
        .to_string()
}

#[test]
fn an_env_change_restarts_only_the_daemon() {
    let site = Site::deployed();
    let (_, body) = site.get(1, "/");
    let daemon = daemon_pid(&body);
    let apache = site.apache.pid().unwrap();
    let before = children(apache);
    let log = site.apache.error_log();

    edit(
        &site.manifest,
        "BLOG_GREETING \"hello 1\"",
        "BLOG_GREETING \"changed greeting\"",
    );
    let o = site.apply();
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    assert!(
        stdout(&o).contains("restarted app1 (Apache not reloaded)"),
        "{}",
        all(&o)
    );
    let (code, body) = site.get(1, "/");
    assert_eq!(code, 200);
    assert!(body.contains("greeting: changed greeting"), "{body}");
    assert_ne!(
        daemon_pid(&body),
        daemon,
        "the daemon process did not restart"
    );
    assert_eq!(site.apache.pid(), Some(apache));
    assert_eq!(
        new_children(apache, &before),
        Vec::<u32>::new(),
        "Apache has new children: it was reloaded"
    );
    assert!(
        !site.apache.error_log()[log.len()..].contains("Graceful restart"),
        "Apache was reloaded"
    );
}

#[test]
fn an_invalid_vhost_is_refused_and_the_previous_one_stays() {
    let site = Site::deployed();
    let vhost = site
        .apache
        .confdir()
        .join("sites-available/wsgictl-app1.conf");
    let good = std::fs::read_to_string(&vhost).unwrap();

    site.break_vhost_template();

    let o = site.apply();
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    let err = stderr(&o);
    assert!(
        err.contains("Apache's configuration test failed") && err.contains("NoSuchDirective"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&vhost).unwrap(),
        good,
        "the previous vhost is not back"
    );
    assert_eq!(site.get(1, "/").0, 200);
}

#[test]
fn a_stale_saved_plan_is_refused() {
    let site = Site::deployed();
    edit(
        &site.manifest,
        "BLOG_GREETING \"hello 1\"",
        "BLOG_GREETING \"planned\"",
    );
    let file = site.base.join("plan.json");
    let o = site.wsgictl("plan", &["--out", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    // Someone edits the file by hand after the plan.
    let env = site.root(1).join("current/app.env");
    let text = std::fs::read_to_string(&env).unwrap();
    std::fs::write(&env, format!("{text}# hand edit\n")).unwrap();

    let o = site.wsgictl("apply", &[file.to_str().unwrap(), "--yes"]);
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    assert!(
        stderr(&o).contains("remote file changed since plan; run plan again"),
        "{}",
        all(&o)
    );
    assert!(
        std::fs::read_to_string(&env)
            .unwrap()
            .ends_with("# hand edit\n"),
        "the stale plan wrote anyway"
    );
}

#[test]
fn a_second_concurrent_apply_fails_fast_and_names_the_holder() {
    let site = Site::new(1, "");
    let mut first = Command::new(env!("CARGO_BIN_EXE_wsgictl"));
    first
        .args(["apply", "--yes", "-f", site.manifest.to_str().unwrap()])
        .env("HOME", site.lab.home())
        .env("NO_COLOR", "1")
        .env_remove("SSH_AUTH_SOCK")
        .env(SECRET.0, SECRET.1)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let first = first.spawn().unwrap();
    let lock = format!("/run/wsgictl/apply{}.lock", site.apache.instance());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !std::fs::read_to_string(&lock)
        .unwrap_or_default()
        .contains(&format!("pid={}", first.id()))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the first apply never took the lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let started = std::time::Instant::now();
    let o = site.apply();
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    let err = stderr(&o);
    assert!(
        err.contains("another apply holds the lock")
            && err.contains(&format!("pid={}", first.id())),
        "{err}"
    );
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", all(&first));
}

#[test]
fn an_interrupted_run_is_finished_by_the_next_one() {
    let site = Site::deployed();
    edit(
        &site.manifest,
        "BLOG_GREETING \"hello 1\"",
        "BLOG_GREETING \"after the crash\"",
    );
    // A vhost change too, so this run must reload: threads 15 → 10.
    let text = std::fs::read_to_string(&site.manifest).unwrap();
    std::fs::write(
        &site.manifest,
        text.replace(
            "    health \"/\"",
            "    health \"/\"\n    daemon {\n        threads 10\n    }",
        ),
    )
    .unwrap();

    let o = site.lab.wsgictl(
        &["apply", "--yes", "-f", site.manifest.to_str().unwrap()],
        &[SECRET, ("WSGICTL_TEST_ABORT_AFTER", "env-file:app1")],
    );
    assert_ne!(o.status.code(), Some(0), "{}", all(&o));
    assert_eq!(
        site.get(1, "/").0,
        200,
        "the site went down after an interrupted run"
    );

    let o = site.wsgictl("plan", &["--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(2), "{}", all(&o));
    let o = site.apply();
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    assert!(stdout(&o).contains("Apache reloaded"), "{}", all(&o));
    let (code, body) = site.get(1, "/");
    assert_eq!(code, 200);
    assert!(body.contains("greeting: after the crash"), "{body}");
    assert!(
        std::fs::read_to_string(
            site.apache
                .confdir()
                .join("sites-available/wsgictl-app1.conf")
        )
        .unwrap()
        .contains("threads=10")
    );
}

#[test]
fn two_apps_on_one_host_keep_their_settings_and_secrets_apart() {
    let site = Site::new(1, "");
    let shop = root().join("examples/two-apps");
    let shop_root = site.base.join("srv/shop");
    let text = std::fs::read_to_string(&site.manifest).unwrap();
    std::fs::write(
        &site.manifest,
        format!(
            "{text}app \"shop\" {{\n    host \"lab\"\n    server-name \"shop.example.com\"\n    port {port}\n    root \"{r}\"\n    user \"shop\"\n    \
             source \"{s}/shop\"\n    venv {{\n        requirements \"{s}/shop/requirements.txt\"\n    }}\n    django {{\n        settings \"shop.settings\"\n        \
             collectstatic #true\n        static \"/assets/\" \"{r}/assets\"\n    }}\n    env {{\n        DJANGO_STATIC_ROOT \"{r}/assets\"\n    }}\n    \
             secret \"DJANGO_SECRET_KEY\" from-file=\"{s}/secrets/shop.key\"\n    health \"/\"\n}}\n",
            port = site.port,
            r = shop_root.display(),
            s = shop.display()
        ),
    )
    .unwrap();
    let m = wsgictl::manifest::load(&site.manifest).unwrap();
    ApacheInstance::ensure_accounts(&m, "lab");
    site.applied();

    let sha = |s: &str| wsgictl::source::sha256_hex(s.as_bytes())[..12].to_string();
    let (code, blog) = site.get(1, "/");
    assert_eq!(code, 200, "{blog}");
    assert!(
        blog.contains("settings: blog.settings")
            && blog.contains(&format!("secret-sha256: {}", sha(KNOWN_SECRET))),
        "{blog}"
    );
    let out = Command::new("curl")
        .args(["-s", "-H", "Host: shop.example.com"])
        .arg(format!("http://127.0.0.1:{}/", site.port))
        .output()
        .unwrap();
    let body = String::from_utf8_lossy(&out.stdout);
    let shop_key = std::fs::read_to_string(shop.join("secrets/shop.key")).unwrap();
    assert!(body.contains("shop: settings=shop.settings"), "{body}");
    assert!(
        body.contains(&format!("secret-sha256: {}", sha(shop_key.trim_end()))),
        "{body}"
    );
    assert!(body.contains("blog-greeting-visible: False"), "{body}");
}

#[test]
fn an_app_under_a_private_home_directory_is_made_reachable() {
    let site = Site::new(1, "");
    let home = site.base.join("home/alice");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let from = site.root(1).display().to_string();
    let to = home.join("app1").display().to_string();
    edit(&site.manifest, &from, &to);

    let o = site.wsgictl("plan", &[]);
    let text = all(&o);
    let home_s = home.display().to_string();
    assert!(
        text.contains(&format!("~ access:www-data:{home_s}"))
            && text.contains("grant it with ACL u:www-data:x"),
        "{text}"
    );
    assert!(text.contains(&format!("~ access:blog:{home_s}")), "{text}");

    site.applied();
    let (code, body) = site.get(1, "/");
    assert_eq!(code, 200, "{body}");
    assert_eq!(site.get(1, "/static/site.css").0, 200);
    // Only the two users got in; the directory is still 0700 for everyone else.
    let acl = Command::new("getfacl")
        .args(["--omit-header", "--absolute-names"])
        .arg(&home)
        .output()
        .unwrap();
    let acl = String::from_utf8_lossy(&acl.stdout);
    assert!(
        acl.contains("user:www-data:--x")
            && acl.contains("user:blog:--x")
            && acl.contains("other::---"),
        "{acl}"
    );
    assert_eq!(
        site.wsgictl("plan", &["--detailed-exitcode"]).status.code(),
        Some(0)
    );
}

#[test]
fn no_secret_in_any_output_or_command_line_during_apply() {
    let site = Site::new(1, "");
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut seen = std::collections::BTreeSet::new();
            let mut samples = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                seen.extend(command_lines().into_iter().map(|args| args.join(" ")));
                samples += 1;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            (seen, samples)
        })
    };
    let o = site.apply();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let (cmdlines, samples) = sampler.join().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    assert!(samples > 20, "only {samples} samples of the process list");
    // The sampler did see the apply at work (pip, the shell running the script).
    assert!(
        cmdlines.iter().any(|c| c.contains("pip")),
        "the sampler missed the apply"
    );
    for c in &cmdlines {
        assert!(
            !c.contains(KNOWN_SECRET),
            "a command line holds the secret: {c}"
        );
    }
    assert!(!all(&o).contains(KNOWN_SECRET));
    // It did reach the app: the secret is on the host, where it belongs.
    assert!(
        std::fs::read_to_string(site.root(1).join("current/app.env"))
            .unwrap()
            .contains(KNOWN_SECRET)
    );
}

#[test]
fn a_failing_host_does_not_stop_the_others() {
    let site = Site::new(1, "");
    // A second host that refuses connections, with an app of its own.
    let text = std::fs::read_to_string(&site.manifest).unwrap();
    let blog = root().join("examples/single-app");
    std::fs::write(
        &site.manifest,
        format!(
            "{text}host \"down\" {{\n    address \"127.0.0.1\"\n    port 1\n}}\napp \"other\" {{\n    host \"down\"\n    server-name \"other.example.com\"\n    \
             root \"/srv/other\"\n    user \"blog\"\n    source \"{b}/blog\"\n    venv {{\n        requirements \"{b}/blog/requirements.txt\"\n    }}\n    \
             django {{\n        settings \"blog.settings\"\n        static \"/static/\" \"/srv/other/static\"\n    }}\n}}\n",
            b = blog.display()
        ),
    )
    .unwrap();
    let o = site.apply();
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    assert!(
        stderr(&o).contains("error: down: connecting to down (127.0.0.1:1)"),
        "{}",
        all(&o)
    );
    assert!(stdout(&o).contains("lab: applied in"), "{}", all(&o));
    assert_eq!(site.get(1, "/").0, 200);
}

/// For CI: `--json` says per host what happened, `--quiet` prints nothing when all is well,
/// and the exit status says the same as the text would.
#[test]
fn json_and_quiet_outcomes_say_what_the_text_says() {
    let site = Site::deployed();
    let o = site.wsgictl("plan", &["--quiet", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    assert_eq!(stdout(&o), "", "quiet");
    let o = site.wsgictl("apply", &["--yes", "--quiet"]);
    assert_eq!(
        (o.status.code(), stdout(&o)),
        (Some(0), String::new()),
        "{}",
        all(&o)
    );
    let o = site.wsgictl("doctor", &["--quiet"]);
    assert_eq!(
        (o.status.code(), stdout(&o)),
        (Some(0), String::new()),
        "{}",
        all(&o)
    );

    let o = site.wsgictl("apply", &["--yes", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("one JSON document");
    assert_eq!(doc["ok"], true, "{doc:#}");
    let host = &doc["hosts"][0];
    assert_eq!(host["host"], "lab");
    assert_eq!(host["outcome"], "unchanged", "{doc:#}");
    assert_eq!(host["health"][0]["app"], "app1");
    assert_eq!(host["health"][0]["status"], 200);
    assert_eq!(host["health"][0]["good"], true);

    edit(
        &site.manifest,
        "BLOG_GREETING \"hello 1\"",
        "BLOG_GREETING \"said as json\"",
    );
    let o = site.wsgictl("plan", &["--quiet", "--detailed-exitcode"]);
    assert_eq!(
        (o.status.code(), stdout(&o)),
        (Some(2), String::new()),
        "{}",
        all(&o)
    );
    let o = site.wsgictl("apply", &["--yes", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    let text = stdout(&o);
    assert!(!text.contains(KNOWN_SECRET), "{text}");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("one JSON document");
    let host = &doc["hosts"][0];
    assert_eq!(host["outcome"], "applied", "{doc:#}");
    assert_eq!(host["reloaded"], false);
    assert_eq!(host["restarted"], serde_json::json!(["app1"]));
    assert!(
        host["steps"].as_array().is_some_and(|s| !s.is_empty()),
        "{doc:#}"
    );
    assert!(
        host["plan"]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == "env-file:app1"),
        "{doc:#}"
    );
    assert!(site.get(1, "/").1.contains("greeting: said as json"));
    // --json never asks: it needs --yes.
    let o = site.wsgictl("apply", &["--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    assert!(stderr(&o).contains("--yes"), "{}", all(&o));
}

/// Every process's arguments, read from /proc now.
fn command_lines() -> Vec<Vec<String>> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|cmd| {
            let cmd = cmd.strip_suffix(b"\0").unwrap_or(&cmd);
            cmd.split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .collect()
}

/// The venvs whose pip is running now, among those under `base`.
fn pips_running(base: &std::path::Path) -> std::collections::BTreeSet<String> {
    let base = base.display().to_string();
    command_lines()
        .into_iter()
        .filter(|args| args.iter().any(|a| a == "install"))
        .filter_map(|args| {
            args.into_iter()
                .find(|a| a.starts_with(&base) && a.ends_with("/venv/bin/pip"))
        })
        .collect()
}

/// A first deploy of three apps builds their venvs side by side, as many at once as the host
/// has cores and no more; the one whose requirements cannot be installed fails the run at its
/// own step with pip's message, the others' venvs are built and said to stay, and the next
/// apply, with the requirement fixed, finishes the deploy.
#[test]
fn venvs_build_side_by_side_one_per_core_and_a_failed_one_is_named() {
    let site = Site::new(3, "");
    let m = wsgictl::manifest::load(&site.manifest).unwrap();
    ApacheInstance::ensure_accounts(&m, "lab");
    let blog_req = root().join("examples/single-app/blog/requirements.txt");
    let req = site.base.join("app3-requirements.txt");
    let good = std::fs::read_to_string(&blog_req).unwrap();
    std::fs::write(&req, format!("{good}wsgictl-no-such-package==1.0\n")).unwrap();
    let text = std::fs::read_to_string(&site.manifest).unwrap();
    let (head, app3) = text.split_at(text.find("app \"app3\"").unwrap());
    let app3 = app3.replacen(
        &blog_req.display().to_string(),
        &req.display().to_string(),
        1,
    );
    std::fs::write(&site.manifest, format!("{head}{app3}")).unwrap();

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (stop, base) = (stop.clone(), site.base.clone());
        std::thread::spawn(move || {
            let mut most = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                most = most.max(pips_running(&base).len());
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            most
        })
    };
    let o = site.apply();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let most = watcher.join().unwrap();
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(most, cores.min(3), "pips at once on {cores} cores");

    let text = all(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains("pip (packages:app3)")
            && text.contains("No matching distribution found for wsgictl-no-such-package"),
        "{text}"
    );
    for app in [1, 2] {
        assert!(
            site.root(app).join("venv/.wsgictl-requirements").exists(),
            "app{app}'s venv"
        );
        assert!(
            text.contains(&format!("the packages pip installed for `app{app}`")),
            "{text}"
        );
    }
    assert!(!site.root(3).join("venv/.wsgictl-requirements").exists());

    std::fs::write(&req, good).unwrap();
    site.applied();
    for app in 1..=3 {
        assert_eq!(site.get(app, "/").0, 200, "app{app}");
    }
    let o = site.wsgictl("plan", &["--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
}

/// On a terminal, apply shows the host's step as it runs (`step 7/16 packages:app1`), and the
/// line ends as `applied in … s`; without a terminal no such line is printed.
#[test]
fn apply_on_a_terminal_shows_each_step_as_it_runs() {
    let site = Site::new(1, "");
    let command = site.shell_line("apply --yes -v");
    // util-linux `script` runs it on a pseudo-terminal and passes on what it drew.
    let o = Command::new("script")
        .args(["-qefc", &command, "/dev/null"])
        .env_remove("SSH_AUTH_SOCK")
        // A terminal keeps the connection by default (`transport::keep`): not for a test.
        .env("WSGICTL_SSH_PERSIST", "0")
        .output()
        .unwrap();
    let drawn = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(0), "{drawn}");
    let shown = |id: &str| {
        regex::Regex::new(&format!(r"step (\d+)/(\d+) {}", regex::escape(id)))
            .unwrap()
            .captures(&drawn)
            .map(|c| (c[1].parse::<u32>().unwrap(), c[2].parse::<u32>().unwrap()))
    };
    let (k, n) = shown("packages:app1").unwrap_or_else(|| panic!("no pip step: {drawn}"));
    // `-v` lists the steps run: the pip step is the k-th of n.
    let steps: Vec<&str> = drawn
        .lines()
        .find_map(|l| l.trim().strip_prefix("lab: steps: "))
        .unwrap_or_else(|| panic!("no steps line: {drawn}"))
        .split(", ")
        .collect();
    assert_eq!(steps.len(), n as usize, "{steps:?}");
    assert_eq!(steps[k as usize - 1], "packages:app1", "{steps:?}");

    crate::apply::edit(&site.manifest, "hello 1", "hello again");
    let o = site.apply();
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    assert!(!all(&o).contains("step "), "{}", all(&o));
}
