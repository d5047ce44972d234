//! `wsgictl doctor` end to end: a site deployed on the lab (real sshd, Apache, mod_wsgi,
//! Django), then broken for real in ten catalogue ways; `doctor` must name each scenario and
//! its fix, and exit 0 only on a healthy site.

use crate::apply::{Site, all};
use crate::support::root as root_dir;
use crate::support::*;
use std::path::Path;
use std::process::Command;

fn sh(cmd: &str) {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(out.status.success(), "{cmd}: {}", all(&out));
}

fn doctor(site: &Site) -> (i32, String) {
    let o = site.wsgictl("doctor", &[]);
    (o.status.code().unwrap_or(-1), all(&o))
}

/// `doctor` exits 1 and names every one of `ids` with its fix text (`fixes`).
fn diagnosed(site: &Site, ids: &[&str], fixes: &[&str]) -> String {
    let (code, out) = doctor(site);
    assert_eq!(code, 1, "doctor should find a problem:\n{out}");
    for id in ids {
        assert!(
            out.contains(&format!("✗ {id} (#")) || out.contains(&format!("✗ {id}:")),
            "doctor should name {id}:\n{out}"
        );
    }
    for fix in fixes {
        assert!(out.contains(fix), "doctor should say {fix:?}:\n{out}");
    }
    assert!(out.contains("broken"), "{out}");
    out
}

/// `doctor` exits 0 and calls app1 healthy: its output.
fn healthy(site: &Site) -> String {
    let (code, out) = doctor(site);
    assert_eq!(
        code,
        0,
        "doctor should find nothing wrong:\n{out}\n{}",
        logs_since_offsets(site)
    );
    assert!(
        out.contains("app app1: healthy") && out.contains("All 1 app healthy."),
        "{out}"
    );
    out
}

/// The offsets apply and doctor record, and each log's lines past its offset, with their
/// timestamps: what a failed `healthy` shows, to tell a stale offset from a late line.
fn logs_since_offsets(site: &Site) -> String {
    let instance = site.apache.instance();
    let path = format!("/var/lib/wsgictl/log-offsets{instance}");
    let offsets = std::fs::read_to_string(&path).unwrap_or_else(|e| format!("({e})"));
    let mut out = format!("{path}:\n{offsets}");
    for line in offsets.lines() {
        let Some((log, off)) = line.split_once('\t') else {
            continue;
        };
        let text = std::fs::read(log).unwrap_or_default();
        let off = off.parse::<usize>().unwrap_or(0).min(text.len());
        out += &format!(
            "{log} ({} bytes) past {off}:\n{}\n",
            text.len(),
            String::from_utf8_lossy(&text[off..])
        );
    }
    out
}

fn vhost(site: &Site) -> std::path::PathBuf {
    site.apache
        .confdir()
        .join("sites-available/wsgictl-app1.conf")
}

#[test]
fn permissions_by_hand_are_diagnosed() {
    let site = Site::deployed();
    healthy(&site);
    let root = site.root(1);
    let json = |site: &Site| {
        let o = site.wsgictl("doctor", &["--json", "--host", "lab", "--app", "app1"]);
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("doctor --json: {e}\n{}", all(&o)));
        (o.status.code(), doc)
    };
    let (code, doc) = json(&site);
    assert_eq!(code, Some(0), "{doc:#}");
    assert_eq!(doc["healthy"], true, "{doc:#}");
    let app = &doc["hosts"][0]["apps"][0];
    assert_eq!(
        (&app["app"], &app["status"], &app["healthy"]),
        (&"app1".into(), &200.into(), &true.into()),
        "{doc:#}"
    );
    assert_eq!(
        app["log_since"], "apply",
        "apply records the logs' offsets: {doc:#}"
    );
    assert!(
        app["daemons"].as_array().is_some_and(|d| d.len() == 2),
        "two daemon processes by default: {doc:#}"
    );

    // A parent directory wsgictl does not manage made 0700.
    let parent = site.base.clone();
    sh(&format!("chmod 0700 '{}'", parent.display()));
    assert_eq!(site.get(1, "/").0, 403);
    diagnosed(
        &site,
        &["directory-not-traversable"],
        &[
            &format!("cannot traverse {}", parent.display()),
            &format!("chmod o+x {}", parent.display()),
        ],
    );
    let (code, doc) = json(&site);
    assert_eq!((code, &doc["healthy"]), (Some(1), &false.into()), "{doc:#}");
    let findings = doc["hosts"][0]["apps"][0]["findings"]
        .as_array()
        .unwrap()
        .clone();
    let f = findings
        .iter()
        .find(|f| f["scenario"] == "directory-not-traversable")
        .unwrap_or_else(|| panic!("{doc:#}"));
    assert_eq!(f["number"], 12);
    assert!(f["fix"].as_str().unwrap().contains("chmod o+x"), "{f:#}");
    sh(&format!("chmod 0755 '{}'", parent.display()));
    assert_eq!(site.get(1, "/").0, 200);

    // The .wsgi made unreadable by the daemon user (touched, so the daemon reloads it).
    let wsgi = root.join("current/app.wsgi");
    sh(&format!("chmod 0600 '{0}' && touch '{0}'", wsgi.display()));
    answers(&site, 500);
    diagnosed(
        &site,
        &["wsgi-file-unreadable-by-daemon", "drift"],
        &[
            &format!("`blog` cannot read {}", wsgi.display()),
            "wsgictl apply",
        ],
    );
    site.applied();
    assert_eq!(site.get(1, "/").0, 200);

    // `Require all granted` removed from the vhost by hand, Apache reloaded.
    let text = std::fs::read_to_string(vhost(&site)).unwrap();
    let files = text.find("<Files").expect("the vhost grants the script");
    let grant = files + text[files..].find("Require all granted").unwrap();
    let cut = format!(
        "{}{}",
        &text[..grant],
        &text[grant + "Require all granted".len()..]
    );
    assert_ne!(text, cut, "the vhost should grant the script");
    std::fs::write(vhost(&site), cut).unwrap();
    let o = site.apache.ctl(&["graceful"]);
    assert!(o.status.success(), "{}", all(&o));
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(site.get(1, "/").0, 403);
    diagnosed(
        &site,
        &["missing-require-all-granted", "drift"],
        &[
            "AH01630",
            "restores the vhost with its `Require all granted`",
        ],
    );
    site.applied();
    healthy(&site);
}

#[test]
fn python_and_django_breakage_is_diagnosed() {
    let site = Site::deployed();
    let root = site.root(1);

    // A syntax error in the settings on the host.
    let settings = root.join("current/src/blog/settings.py");
    sh(&format!(
        "printf 'DEBUG = = True\\n' >> '{}' && touch '{}'",
        settings.display(),
        root.join("current/app.wsgi").display()
    ));
    answers(&site, 500);
    let out = diagnosed(&site, &["wsgi-import-exception", "drift"], &["SyntaxError"]);
    assert!(out.contains("settings.py"), "{out}");
    site.applied();
    assert_eq!(site.get(1, "/").0, 200);

    // A manifest whose ALLOWED_HOSTS refuses the server name: apply stops before the switch.
    let text = std::fs::read_to_string(&site.manifest).unwrap();
    let wrong = text.replace(
        "DJANGO_ALLOWED_HOSTS \"app1.example.com\"",
        "DJANGO_ALLOWED_HOSTS \"other.example.com\"",
    );
    assert_ne!(text, wrong);
    std::fs::write(&site.manifest, &wrong).unwrap();
    let o = site.apply();
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    assert!(
        all(&o).contains("ALLOWED_HOSTS refuses app1.example.com")
            && all(&o).contains("nothing was switched"),
        "{}",
        all(&o)
    );
    let env = std::fs::read_to_string(root.join("current/app.env")).unwrap();
    assert!(
        env.contains("DJANGO_ALLOWED_HOSTS=app1.example.com"),
        "the env file is put back: {env}"
    );
    assert_eq!(
        site.get(1, "/").0,
        200,
        "the site keeps its previous environment"
    );
    std::fs::write(&site.manifest, &text).unwrap();

    // ALLOWED_HOSTS changed by hand on the host.
    let env = root.join("current/app.env");
    sh(&format!(
        "sed -i 's/^DJANGO_ALLOWED_HOSTS=.*/DJANGO_ALLOWED_HOSTS=other.example.com/' '{}' && touch '{}'",
        env.display(),
        root.join("current/app.wsgi").display()
    ));
    answers(&site, 400);
    let line = text
        .lines()
        .position(|l| l.contains("server-name \"app1.example.com\""))
        .unwrap()
        + 1;
    diagnosed(
        &site,
        &["django-allowed-hosts-400", "drift"],
        &[
            "does not allow app1.example.com",
            &format!("site.kdl:{line}: server-name \"app1.example.com\""),
        ],
    );
    site.applied();
    assert_eq!(site.get(1, "/").0, 200);

    // Code whose WSGI module does not import (manage.py and collectstatic never load it):
    // the import test stops apply before the switch, and says why.
    let code = site.base.join("code");
    sh(&format!(
        "cp -r '{}' '{}' && printf 'application = = 1\\n' >> '{}/blog/wsgi.py'",
        root_dir().join("examples/single-app/blog").display(),
        code.display(),
        code.display()
    ));
    let blog = root_dir().join("examples/single-app/blog");
    let broken = text.replace(
        &format!("source \"{}\"", blog.display()),
        &format!("source \"{}\"", code.display()),
    );
    assert_ne!(broken, text);
    std::fs::write(&site.manifest, &broken).unwrap();
    let o = site.apply();
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    assert!(
        all(&o).contains("app `app1` does not import") && all(&o).contains("SyntaxError"),
        "{}",
        all(&o)
    );
    assert_eq!(
        site.get(1, "/").0,
        200,
        "the running daemons were not restarted"
    );
    std::fs::write(&site.manifest, &text).unwrap();
    site.applied();

    // The venv removed; Apache restarts its daemons.
    sh(&format!("rm -rf '{}'", root.join("venv").display()));
    let o = site.apache.ctl(&["graceful"]);
    assert!(o.status.success(), "{}", all(&o));
    std::thread::sleep(std::time::Duration::from_millis(500));
    // The request hangs while the daemon fails to start: doctor's own request finds that.
    diagnosed(
        &site,
        &["python-home-missing-or-unreadable", "drift"],
        &["venv/bin/python does not exist", "recreates the venv"],
    );
    site.applied();
    healthy(&site);
}

#[test]
fn apache_configuration_breakage_is_diagnosed() {
    // Its own daemon account: this test deletes it.
    let site = Site::new(1, "");
    let text = std::fs::read_to_string(&site.manifest)
        .unwrap()
        .replace("user \"blog\"", "user \"wsgictl-gone\"");
    std::fs::write(&site.manifest, text).unwrap();
    site.applied();
    healthy(&site);
    let conf = site.apache.confdir();

    // mod_wsgi disabled (as `a2dismod wsgi` does); the running Apache still serves.
    sh(&format!(
        "rm '{0}/mods-enabled/wsgi.load' '{0}/mods-enabled/wsgi.conf'",
        conf.display()
    ));
    diagnosed(
        &site,
        &["module-not-loaded", "drift"],
        &["Invalid command 'WSGIDaemonProcess'", "a2enmod wsgi"],
    );
    site.applied();
    healthy(&site);

    // A vhost wsgictl does not manage defines a daemon process of the same name.
    let hand = conf.join("sites-enabled/zz-by-hand.conf");
    std::fs::write(
        &hand,
        format!(
            "<VirtualHost *:{}>\n    ServerName by-hand.example.com\n    WSGIDaemonProcess app1\n</VirtualHost>\n",
            site.port
        ),
    )
    .unwrap();
    diagnosed(
        &site,
        &["duplicate-daemon-name"],
        &[
            "remove or rename `WSGIDaemonProcess app1`",
            "zz-by-hand.conf",
        ],
    );
    // plan finds it too, before anything is deployed, and apply refuses.
    let o = site.wsgictl("plan", &[]);
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    assert!(
        all(&o).contains("preflight::duplicate-daemon-name (#4)")
            && all(&o).contains("`WSGIDaemonProcess app1` is already defined in")
            && all(&o).contains("zz-by-hand.conf"),
        "{}",
        all(&o)
    );
    std::fs::remove_file(&hand).unwrap();
    healthy(&site);

    // The daemon user deleted.
    {
        let _guard = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        sh("userdel -f wsgictl-gone");
    }
    diagnosed(
        &site,
        &["daemon-user-invalid-or-root"],
        &[
            "bad user name wsgictl-gone",
            "creates the account `wsgictl-gone`",
        ],
    );
    site.applied();
    let (code, out) = doctor(&site);
    assert!(
        !out.contains("daemon-user-invalid-or-root"),
        "{code}\n{out}"
    );
}

#[test]
fn a_slow_view_that_hits_request_timeout_is_diagnosed() {
    // The example's code plus a view that sleeps, and a 2-second request-timeout.
    let site = Site::new(
        1,
        "    daemon {\n        processes 1\n        threads 1\n        request-timeout 2\n    }\n",
    );
    let code = site.base.join("code");
    sh(&format!(
        "cp -r '{}' '{}'",
        root().join("examples/single-app/blog").display(),
        code.display()
    ));
    std::fs::write(
        code.join("blog/urls.py"),
        "import time\n\nfrom django.http import HttpResponse\nfrom django.urls import path\n\nfrom . import views\n\n\ndef slow(request):\n    time.sleep(30)\n    return HttpResponse(\"late\")\n\n\nurlpatterns = [path(\"\", views.index), path(\"slow\", slow)]\n",
    )
    .unwrap();
    let blog = root().join("examples/single-app/blog");
    let text = std::fs::read_to_string(&site.manifest).unwrap().replace(
        &format!("source \"{}\"", blog.display()),
        &format!("source \"{}\"", code.display()),
    );
    std::fs::write(&site.manifest, text).unwrap();
    site.applied();
    healthy(&site);
    let started = std::time::Instant::now();
    let (status, _) = site.get(1, "/slow");
    assert!(
        status >= 500,
        "the slow view should be cut off, got {status}"
    );
    assert!(
        started.elapsed().as_secs() < 25,
        "request-timeout should cut it short"
    );
    std::thread::sleep(std::time::Duration::from_secs(1));
    diagnosed(
        &site,
        &["request-timeout-restart"],
        &["request-timeout (2 s)", "time limit exceeded"],
    );
    assert!(Path::new(&code).exists());
}

/// Wait (up to 10 s) until the site answers `code`: a daemon that was still loading the `.wsgi`
/// when it was touched answers once more the old way before it restarts (the `.wsgi`'s own
/// check, `promises::a_touch_during_a_slow_load_reaches_that_daemon`).
fn answers(site: &Site, code: u16) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (got, body) = site.get(1, "/");
        if got == code {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{got} instead of {code}: {body}"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

/// Evidence is what happened since the last apply (a no-op one included) or the last doctor
/// run: a problem fixed by hand is not reported again from old log lines.
#[test]
fn log_lines_from_before_the_last_apply_or_doctor_are_not_evidence() {
    let site = Site::deployed();
    let wsgi = site.root(1).join("current/app.wsgi");
    let w = wsgi.display();
    let break_it = || {
        sh(&format!("chmod 0600 '{w}' && touch '{w}'"));
        answers(&site, 500);
    };
    let fix_by_hand = || sh(&format!("chmod 0644 '{w}' && touch '{w}'"));

    break_it();
    diagnosed(&site, &["wsgi-file-unreadable-by-daemon"], &[]);
    fix_by_hand();
    healthy(&site);

    break_it();
    fix_by_hand();
    let o = site.applied();
    assert!(stdout(&o).contains("no changes"), "{}", all(&o));
    healthy(&site);
}

/// A daemon that starts while the script is unreadable (on its own: a crash, maximum-requests;
/// here killed) logs its failed load after the doctor that saw the break: once the file is
/// fixed and the script loads, those lines are history, shown as a warning, not a break.
#[test]
fn a_failed_load_logged_before_the_fix_is_history_once_the_script_loads() {
    let site = Site::deployed();
    let wsgi = site.root(1).join("current/app.wsgi");
    let w = wsgi.display();
    sh(&format!("chmod 0600 '{w}' && touch '{w}'"));
    answers(&site, 500);
    diagnosed(&site, &["wsgi-file-unreadable-by-daemon"], &[]);
    let failures = || {
        site.apache
            .app_error_log("app1")
            .matches("Could not read/compile source file")
            .count()
    };
    let before = failures();
    sh("pkill -f '^\\(wsgi:app1\\)' || pkill -f 'wsgi:app1'");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while failures() == before {
        assert!(
            std::time::Instant::now() < deadline,
            "no new daemon failed to load the script:\n{}",
            site.apache.app_error_log("app1")
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    sh(&format!("chmod 0644 '{w}' && touch '{w}'"));
    answers(&site, 200);
    let out = healthy(&site);
    assert!(out.contains("! wsgi-file-unreadable-by-daemon"), "{out}");
    assert!(
        out.contains("logged before the script loaded again"),
        "{out}"
    );
    // Seen once: the next doctor starts after them.
    healthy(&site);
}

/// urls.py imports a module the venv lacks: the import test (settings and the `.wsgi`) does
/// not reach it, the first request does; the doctor names the exception and the app's line.
#[test]
fn a_lazy_import_in_urls_is_named_with_its_line() {
    let site = Site::new(1, "");
    let project = crate::promises::with_project(&site, "");
    let urls = project.join("blog/urls.py");
    let text = std::fs::read_to_string(&urls).unwrap();
    std::fs::write(
        &urls,
        format!("import markdown_extra_not_installed\n{text}"),
    )
    .unwrap();
    let o = site.apply();
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    assert!(stdout(&o).contains("→ 500"), "{}", all(&o));
    let out = diagnosed(&site, &["wsgi-import-exception"], &[]);
    // The frame is in the release that runs, named by its own path.
    let release = std::fs::canonicalize(site.root(1).join("current")).unwrap();
    assert!(
        out.contains(&format!(
            "ModuleNotFoundError: No module named 'markdown_extra_not_installed' (raised in {}/src/blog/urls.py, line 1)",
            release.display()
        )),
        "{out}"
    );
}
