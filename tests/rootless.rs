//! Rootless hosts on the lab: an ordinary account (key auth, no sudo, no admin group) deploys
//! two copies of the example app to an Apache of its own, kept running by cron's watchdog, with
//! the host's Apache in front of it through the snippet the plan prints.

use crate::support::apache::ApacheInstance;
use crate::support::lab::{Lab, RL_USER};
use crate::support::{KNOWN_SECRET, free_port, root, run_ok, stderr, stdout};
use std::process::Command;
use std::time::{Duration, Instant};

const SECRET: (&str, &str) = ("LAB_SECRET", KNOWN_SECRET);

fn home() -> String {
    format!("/home/{RL_USER}")
}

fn server_root() -> String {
    format!("{}/.local/share/wsgictl/apache", home())
}

fn as_rl(args: &[&str]) -> std::process::Output {
    Command::new("runuser")
        .args(["-u", RL_USER, "--"])
        .args(args)
        .output()
        .unwrap()
}

/// GET `path` of `name` on the account's port: status and body.
fn get(port: u16, name: &str, path: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "--max-time", "10", "-H"])
        .arg(format!("Host: {name}"))
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// `(wsgi:APP)` daemon pids of the account, sorted.
fn daemons(app: &str) -> Vec<u32> {
    let out = Command::new("ps")
        .args(["-u", RL_USER, "-o", "pid=,args="])
        .output()
        .unwrap();
    let mut v: Vec<u32> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&format!("(wsgi:{app})")))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    v.sort();
    v
}

fn main_pid() -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(format!("{}/run/httpd.pid", server_root()))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    alive(pid).then_some(pid)
}

/// A process that runs (a zombie does not).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| Some(s.rsplit_once(") ")?.1.chars().next()? != 'Z'))
        .unwrap_or(false)
}

fn graceful_restarts() -> usize {
    std::fs::read_to_string(format!("{}/logs/error.log", server_root()))
        .unwrap_or_default()
        .matches("Doing graceful restart")
        .count()
}

/// Nothing of an earlier run: no process, crontab or files of the account's.
fn clean_account() {
    let _ = Command::new("pkill")
        .args(["-KILL", "-u", RL_USER])
        .status();
    std::thread::sleep(Duration::from_millis(300));
    let _ = Command::new("crontab").args(["-r", "-u", RL_USER]).output();
    for d in [".local", "sites", ".config"] {
        let _ = std::fs::remove_dir_all(format!("{}/{d}", home()));
    }
}

/// The host's cron daemon, as a real host runs it.
fn ensure_cron() {
    let running = Command::new("pgrep")
        .args(["-x", "cron"])
        .output()
        .unwrap()
        .status
        .success();
    if !running {
        run_ok(&mut Command::new("/usr/sbin/cron"));
    }
}

fn manifest(
    dir: &std::path::Path,
    lab: &Lab,
    port: u16,
    front: u16,
    greeting: &str,
    extra: &str,
) -> std::path::PathBuf {
    let blog = root().join("examples/single-app");
    let mut text = format!(
        "{extra}host \"shared\" {{\n    address \"127.0.0.1\"\n    port {}\n    user \"{RL_USER}\"\n    rootless #true\n    watchdog 1\n}}\n",
        lab.port
    );
    for (n, name) in [(1, "rootless1"), (2, "rootless2")] {
        let r = format!("{}/sites/{name}", home());
        let g = if n == 1 {
            greeting.to_string()
        } else {
            "hello two".to_string()
        };
        text.push_str(&format!(
            "app \"{name}\" {{\n    host \"shared\"\n    server-name \"{name}.example.net\"\n    port {port}\n    front-port {front}\n    root \"{r}\"\n    \
             source \"{blog}/blog\"\n    venv {{\n        requirements \"{blog}/blog/requirements.txt\"\n    }}\n    \
             django {{\n        settings \"blog.settings\"\n        static \"/static/\" \"{r}/static\"\n    }}\n    \
             env {{\n        BLOG_GREETING \"{g}\"\n        DJANGO_ALLOWED_HOSTS \"{name}.example.net\"\n        DJANGO_STATIC_ROOT \"{r}/static\"\n    }}\n    \
             secret \"DJANGO_SECRET_KEY\" from-env=\"LAB_SECRET\"\n    health \"/\"\n}}\n",
            blog = blog.display(),
        ));
    }
    let path = dir.join("site.kdl");
    std::fs::write(&path, text).unwrap();
    path
}

/// The block for the host's Apache, as the plan printed it.
fn apache_snippet(plan: &str, name: &str) -> String {
    let start = plan
        .find(&format!("  {name}, in the host's Apache"))
        .expect("the plan prints the front end's snippet");
    plan[start..]
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("  or "))
        .map(|l| l.trim().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn an_account_without_sudo_deploys_to_an_apache_of_its_own() {
    let lab = Lab::start();
    clean_account();
    ensure_cron();
    // The account really has no sudo (asked before the stamp: sudo records the attempt).
    let sudo = as_rl(&["sudo", "-n", "true"]);
    assert!(
        !sudo.status.success(),
        "the rootless account must not have sudo"
    );
    let dir = tempfile::tempdir().unwrap();
    let stamp = dir.path().join("stamp");
    std::fs::write(&stamp, "").unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let (port, front) = (free_port(), free_port());
    let m = manifest(dir.path(), &lab, port, front, "hello one", "");
    let f = m.to_str().unwrap();

    let plan = lab.wsgictl(&["plan", "-f", f, "--detailed-exitcode"], &[SECRET]);
    let plan_out = stdout(&plan);
    assert_eq!(plan.status.code(), Some(2), "{plan_out}{}", stderr(&plan));
    assert!(
        plan_out.contains(&format!(
            "rootless: the Apache of account `{RL_USER}` in {}",
            server_root()
        )),
        "{plan_out}"
    );
    assert!(plan_out.contains("kept running by cron"), "{plan_out}");
    assert!(plan_out.contains("+ supervision:shared"), "{plan_out}");
    assert!(
        plan_out.contains(&format!("ProxyPass        / http://127.0.0.1:{port}/")),
        "{plan_out}"
    );
    assert_eq!(
        plan_out.matches("in front: the account's Apache").count(),
        1,
        "the snippets are printed once: {plan_out}"
    );
    let snippet = apache_snippet(&plan_out, "rootless1.example.net");

    // A broken template override (an unknown directive in the vhost).
    let templates = dir.path().join("templates/apache");
    std::fs::create_dir_all(&templates).unwrap();
    let builtin = stdout(&lab.wsgictl(&["templates", "show", "apache/vhost.conf"], &[]));
    std::fs::write(
        templates.join("vhost.conf"),
        builtin.replace("</VirtualHost>", "    NoSuchDirective on\n</VirtualHost>"),
    )
    .unwrap();

    // A first apply that its configtest refuses: after the crontab was written, and put back
    // with everything else; nothing runs.
    manifest(
        dir.path(),
        &lab,
        port,
        front,
        "hello one",
        "templates \"./templates\"\n",
    );
    let refused = lab.wsgictl(&["apply", "-f", f, "--yes"], &[SECRET]);
    let out = format!("{}{}", stdout(&refused), stderr(&refused));
    assert!(!refused.status.success(), "{out}");
    assert!(out.contains("NoSuchDirective"), "{out}");
    let crontab = as_rl(&["crontab", "-l"]);
    assert!(
        !crontab.status.success(),
        "the crontab is put back (none): {}",
        stdout(&crontab)
    );
    assert_eq!(main_pid(), None, "nothing started");
    assert!(!std::path::Path::new(&format!("{}/httpd.conf", server_root())).exists());
    manifest(dir.path(), &lab, port, front, "hello one", "");

    let apply = lab.wsgictl(&["apply", "-f", f, "--yes"], &[SECRET]);
    let out = format!("{}{}", stdout(&apply), stderr(&apply));
    assert!(apply.status.success(), "{out}");
    assert!(!out.contains(KNOWN_SECRET), "{out}");
    let (code, body) = get(port, "rootless1.example.net", "/");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("greeting: hello one"), "{body}");
    let (code, body) = get(port, "rootless2.example.net", "/");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("greeting: hello two"), "{body}");

    // Every Apache process of that server root is the account's.
    let ps = run_ok(Command::new("ps").args(["-eo", "user:32=,args="]));
    let procs: Vec<String> = String::from_utf8_lossy(&ps.stdout)
        .lines()
        .filter(|l| l.contains(&server_root()) && !l.contains("rotatelogs"))
        .map(str::to_string)
        .collect();
    assert!(procs.len() >= 3, "{procs:?}");
    assert!(
        procs
            .iter()
            .all(|l| l.split_whitespace().next() == Some(RL_USER)),
        "{procs:?}"
    );
    let crontab = stdout(&as_rl(&["crontab", "-l"]));
    assert!(
        crontab.contains("*/1 * * * *") && crontab.contains("@reboot"),
        "{crontab}"
    );

    // pip downloaded through one cache in the account's own state directory, its alone.
    let cache = format!("{}/.local/share/wsgictl/pip-cache", home());
    let meta = std::fs::symlink_metadata(&cache).expect("the account's pip cache");
    let owner = run_ok(Command::new("stat").args(["-c", "%U %a"]).arg(&cache));
    assert!(meta.is_dir());
    assert_eq!(stdout(&owner).trim(), format!("{RL_USER} 700"));

    // A second apply changes nothing and reloads nothing.
    let (pid, restarts) = (main_pid(), graceful_restarts());
    let (d1, d2) = (daemons("rootless1"), daemons("rootless2"));
    let again = lab.wsgictl(&["apply", "-f", f, "--yes"], &[SECRET]);
    let out = stdout(&again);
    assert!(again.status.success(), "{out}{}", stderr(&again));
    assert!(
        out.contains("shared: 0 to create, 0 to change, 0 to delete."),
        "{out}"
    );
    assert_eq!((main_pid(), graceful_restarts()), (pid, restarts));
    assert_eq!(
        (daemons("rootless1"), daemons("rootless2")),
        (d1.clone(), d2.clone())
    );

    // An env change restarts that app's daemon alone, without a reload.
    manifest(dir.path(), &lab, port, front, "hello again", "");
    let changed = lab.wsgictl(&["apply", "-f", f, "--yes"], &[SECRET]);
    let out = stdout(&changed);
    assert!(changed.status.success(), "{out}{}", stderr(&changed));
    assert!(out.contains("env-file:rootless1"), "{out}");
    let (code, body) = get(port, "rootless1.example.net", "/");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("greeting: hello again"), "{body}");
    assert_ne!(daemons("rootless1"), d1, "app one's daemon restarted");
    assert_eq!(daemons("rootless2"), d2, "app two's daemon untouched");
    assert_eq!(
        (main_pid(), graceful_restarts()),
        (pid, restarts),
        "no reload"
    );

    // Releases and rollback as on any host: back to the first release, then forward again.
    let back = lab.wsgictl(
        &["rollback", "-f", f, "--app", "rootless1", "--yes"],
        &[SECRET],
    );
    assert!(back.status.success(), "{}{}", stdout(&back), stderr(&back));
    let (code, body) = get(port, "rootless1.example.net", "/");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("greeting: hello one"), "{body}");
    let forward = lab.wsgictl(&["apply", "-f", f, "--yes"], &[SECRET]);
    assert!(
        forward.status.success(),
        "{}{}",
        stdout(&forward),
        stderr(&forward)
    );
    assert!(
        get(port, "rootless1.example.net", "/")
            .1
            .contains("greeting: hello again")
    );

    // A broken template override: the configtest refuses it, everything is put back, and the
    // site keeps answering.
    let vhost = format!("{}/sites/wsgictl-rootless1.conf", server_root());
    let before = std::fs::read_to_string(&vhost).unwrap();
    manifest(
        dir.path(),
        &lab,
        port,
        front,
        "hello again",
        "templates \"./templates\"\n",
    );
    let broken = lab.wsgictl(&["apply", "-f", f, "--yes"], &[SECRET]);
    let out = format!("{}{}", stdout(&broken), stderr(&broken));
    assert!(!broken.status.success(), "{out}");
    assert!(
        out.contains("NoSuchDirective"),
        "Apache's message is shown: {out}"
    );
    assert_eq!(std::fs::read_to_string(&vhost).unwrap(), before, "put back");
    assert_eq!(get(port, "rootless1.example.net", "/").0, 200);
    manifest(dir.path(), &lab, port, front, "hello again", "");

    // doctor: the front end is missing (nothing on the front port).
    let doctor = lab.wsgictl(&["doctor", "-f", f], &[SECRET]);
    let out = stdout(&doctor);
    assert!(!doctor.status.success(), "{out}");
    assert!(out.contains("rootless-front-end-missing (#64)"), "{out}");
    assert!(
        out.contains(&format!("nothing answers on port {front}")),
        "{out}"
    );

    // The host's Apache in front, with the snippet the plan printed: the app answers through
    // it, and doctor finds nothing missing.
    let host_apache = ApacheInstance::new();
    let conf = host_apache.confdir();
    for m in [
        "proxy.load",
        "proxy.conf",
        "proxy_http.load",
        "headers.load",
    ] {
        let link = conf.join("mods-enabled").join(m);
        if !link.exists() {
            std::os::unix::fs::symlink(format!("../mods-available/{m}"), link).unwrap();
        }
    }
    std::fs::write(
        conf.join("conf-enabled/front.conf"),
        format!(
            "Listen {front}\n<VirtualHost *:{front}>\n    ServerName rootless1.example.net\n    ServerAlias rootless2.example.net\n{snippet}\n</VirtualHost>\n"
        ),
    )
    .unwrap();
    host_apache.start();
    let (code, body) = get(front, "rootless1.example.net", "/");
    assert_eq!(code, 200, "{body}{}", host_apache.error_log());
    assert!(body.contains("greeting: hello again"), "{body}");
    let doctor = lab.wsgictl(&["doctor", "-f", f], &[SECRET]);
    let out = stdout(&doctor);
    assert!(!out.contains("rootless-front-end-missing"), "{out}");
    assert!(doctor.status.success(), "{out}");

    // doctor: the account's Apache down, and its port taken. The watchdog is kept out by
    // taking the account's crontab away until the apply below puts it back: holding the apply
    // lock instead left a window between its release and the apply's gather in which cron
    // could start the server, and the apply then had nothing to start (seen once in CI).
    let removed = as_rl(&["crontab", "-r"]);
    assert!(removed.status.success(), "{}", stderr(&removed));
    run_ok(
        Command::new("runuser")
            .args(["-u", RL_USER, "--"])
            .arg(format!("{}/apachectl", server_root()))
            .args(["-k", "stop"]),
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while main_pid().is_some() || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(
            Instant::now() < deadline,
            "the account's Apache did not stop"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let squatter = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let doctor = lab.wsgictl(&["doctor", "-f", f], &[SECRET]);
    let out = stdout(&doctor);
    assert!(!doctor.status.success(), "{out}");
    assert!(out.contains("rootless-server-down (#62)"), "{out}");
    assert!(out.contains("rootless-port-taken (#63)"), "{out}");
    drop(squatter);

    // apply starts a stopped server (its plan says so), and puts the watchdog back.
    let started = lab.wsgictl(&["apply", "-f", f, "--yes"], &[SECRET]);
    let out = stdout(&started);
    assert!(started.status.success(), "{out}{}", stderr(&started));
    assert!(out.contains("~ service:apache"), "{out}");
    assert!(
        stdout(&as_rl(&["crontab", "-l"])).contains("*/1 * * * *"),
        "{out}"
    );
    assert_eq!(get(port, "rootless2.example.net", "/").0, 200);

    // Killed, it is brought back by the watchdog (cron, every minute here).
    let killed = main_pid().expect("running");
    let _ = Command::new("pkill")
        .args(["-KILL", "-u", RL_USER, "-x", "apache2"])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(killed) {
        assert!(Instant::now() < deadline, "{killed} did not die");
        std::thread::sleep(Duration::from_millis(50));
    }
    let deadline = Instant::now() + Duration::from_secs(130);
    while main_pid().is_none_or(|p| p == killed) || get(port, "rootless2.example.net", "/").0 != 200
    {
        assert!(
            Instant::now() < deadline,
            "cron's watchdog did not restart the killed Apache"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let log = std::fs::read_to_string(format!("{}/logs/watchdog.log", server_root())).unwrap();
    assert!(log.contains("starting the account's Apache"), "{log}");

    // The secret is in the releases' env files only: not in the server root, its logs, the
    // state directory (backups of a run), nor the crontab.
    let grep = Command::new("grep")
        .args(["-rlF", KNOWN_SECRET])
        .arg(format!("{}/.local/share/wsgictl", home()))
        .output()
        .unwrap();
    assert!(
        grep.stdout.is_empty(),
        "the secret is in: {}",
        String::from_utf8_lossy(&grep.stdout)
    );
    assert!(!stdout(&as_rl(&["crontab", "-l"])).contains(KNOWN_SECRET));

    // Nothing wsgictl made is root's: no file of the account's, nor one naming its apps.
    let found = Command::new("find")
        .args(["/", "-xdev", "-newer"])
        .arg(&stamp)
        .args(["-user", "root"])
        .output()
        .unwrap();
    let root_owned: Vec<String> = String::from_utf8_lossy(&found.stdout)
        .lines()
        .filter(|l| {
            l.starts_with(&home())
                || l.contains("rootless1")
                || l.contains("rootless2")
                || l.contains(RL_USER)
        })
        .map(str::to_string)
        .collect();
    assert!(
        root_owned.is_empty(),
        "root-owned files made during the run: {root_owned:?}"
    );
    clean_account();
}
