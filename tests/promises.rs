//! What the README promises about secrets, destructive paths, lost work, rollbacks and drift,
//! shown on the lab (real sshd, Apache with mod_wsgi, Django from PyPI) where the promise is
//! kept by the remote script. Some tests deploy a copy of the blog example changed the way a
//! real project misbehaves: settings that echo a secret, read stdin, or need a database.

use crate::apply::{Site, all, edit};
use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const SECRET: (&str, &str) = ("LAB_SECRET", KNOWN_SECRET);

/// Settings that put the secret key in an exception when `BLOG_LEAK` is 1 (a settings module
/// that echoes a database URL does the same).
const LEAKING_SETTINGS: &str = "if os.environ.get('BLOG_LEAK') == '1':\n    raise RuntimeError('cannot connect to postgres://blog:' + SECRET_KEY + '@db/blog')";

fn sh(cmd: &str) -> String {
    let o = Command::new("sh").args(["-c", cmd]).output().unwrap();
    assert!(
        o.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A word no other test writes, to find this test's files among every test's.
fn token(what: &str) -> String {
    format!("{what}-{}", crate::support::unique())
}

/// The blog example copied below the site's base, `patch`ed, and the manifest pointed at it.
pub fn with_project(site: &Site, settings_tail: &str) -> PathBuf {
    let from = root().join("examples/single-app/blog");
    let to = site.base.join("project");
    sh(&format!("cp -r '{}' '{}'", from.display(), to.display()));
    let settings = to.join("blog/settings.py");
    let text = std::fs::read_to_string(&settings).unwrap();
    std::fs::write(&settings, format!("{text}\n{settings_tail}\n")).unwrap();
    edit(
        &site.manifest,
        &format!("{}", from.display()),
        &format!("{}", to.display()),
    );
    to
}

/// Add an env line to every app of the manifest.
pub fn add_env(site: &Site, line: &str) {
    let text = std::fs::read_to_string(&site.manifest).unwrap();
    std::fs::write(
        &site.manifest,
        text.replace("    env {\n", &format!("    env {{\n        {line}\n")),
    )
    .unwrap();
}

fn apply_env(site: &Site, env: &[(&str, &str)]) -> std::process::Output {
    let mut e = vec![SECRET];
    e.extend_from_slice(env);
    site.lab.wsgictl(
        &["apply", "--yes", "-f", site.manifest.to_str().unwrap()],
        &e,
    )
}

/// Every file below /var/lib/wsgictl's backup directories that holds `needle`.
fn backups_holding(needle: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in std::fs::read_dir("/var/lib/wsgictl").into_iter().flatten() {
        let d = d.unwrap().path();
        if !d
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("backup")
            || !d.is_dir()
        {
            continue;
        }
        for f in std::fs::read_dir(&d).into_iter().flatten() {
            let f = f.unwrap().path();
            if std::fs::read_to_string(&f).is_ok_and(|t| t.contains(needle)) {
                out.push(f);
            }
        }
    }
    out
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

#[test]
fn a_killed_apply_leaves_old_secrets_in_no_backup_once_plan_has_run() {
    let site = Site::deployed();
    let old = token("old-greeting");
    edit(
        &site.manifest,
        "BLOG_GREETING \"hello 1\"",
        &format!("BLOG_GREETING \"{old}\""),
    );
    site.applied();
    // Killed right after it wrote the new env file: its backup holds the old one.
    edit(&site.manifest, &old, "the new greeting");
    let o = apply_env(&site, &[("WSGICTL_TEST_ABORT_AFTER", "env-file:app1")]);
    assert_ne!(o.status.code(), Some(0), "{}", all(&o));
    assert!(
        !backups_holding(&old).is_empty(),
        "the killed run was expected to leave its backup"
    );
    let o = site.wsgictl("plan", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    assert_eq!(
        backups_holding(&old),
        Vec::<PathBuf>::new(),
        "plan as root removes what killed runs left"
    );
    site.applied();
    assert_eq!(backups_holding("the new greeting"), Vec::<PathBuf>::new());
}

#[test]
fn output_of_the_hosts_programs_never_shows_a_secret() {
    let site = Site::new(1, "");
    with_project(&site, LEAKING_SETTINGS);
    add_env(&site, "BLOG_LEAK \"1\"");
    let o = site.apply();
    let text = all(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains("cannot connect to postgres://blog:"),
        "{text}"
    );
    assert!(
        !text.contains(KNOWN_SECRET),
        "the secret was printed:\n{text}"
    );
    assert!(text.contains("<redacted>@db/blog"), "{text}");
}

#[test]
fn a_program_that_reads_stdin_cannot_swallow_the_rest_of_the_script() {
    let site = Site::new(1, "");
    with_project(
        &site,
        "import sys\nif os.environ.get('BLOG_READ_STDIN') == '1':\n    sys.stdin.read()",
    );
    add_env(&site, "BLOG_READ_STDIN \"1\"");
    let o = site.applied();
    assert!(stdout(&o).contains("→ 200"), "{}", all(&o));
    assert_eq!(site.get(1, "/").0, 200);
}

#[test]
fn a_symlink_planted_after_plan_is_refused_and_not_followed() {
    let site = Site::deployed();
    let static_dir = site.root(1).join("htdocs");
    std::fs::set_permissions(
        &static_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("plan.json");
    let o = site.wsgictl("plan", &["--out", saved.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    assert!(stdout(&o).contains("mode 0700 → 0755"), "{}", all(&o));
    // Between plan and apply, the directory becomes a link to something else of root's.
    let victim = site.base.join("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::set_permissions(&victim, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    std::fs::rename(&static_dir, site.base.join("htdocs.moved")).unwrap();
    std::os::unix::fs::symlink(&victim, &static_dir).unwrap();

    let o = site.wsgictl("apply", &["--yes", saved.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    let err = stderr(&o);
    assert!(
        err.contains("htdocs exists but is not a directory (a symbolic link)"),
        "{err}"
    );
    assert_eq!(mode(&victim), 0o700, "the link was followed");
}

/// Run `plan`'s apply script on this machine, as root, with no Apache: the error it stops with.
fn refusal_of(plan: &wsgictl::plan::Plan) -> String {
    let u = unique();
    let owed = format!("/var/lib/wsgictl/owed-test-{u}");
    let lock = format!("/run/wsgictl/test-{u}.lock");
    let text = wsgictl::apply::script::build(&wsgictl::apply::script::Inputs {
        plan,
        nonce: "0123456789abcdef",
        holder: "test",
        lock_timeout_secs: 5,
        contents: &Default::default(),
        tars: &Default::default(),
        requirements: &Default::default(),
        state_dir: "/var/lib/wsgictl",
        run_dir: "/run/wsgictl",
        apache: &wsgictl::apply::script::ApacheControl {
            ctl: "true".into(),
            reload: "true".into(),
        },
        reload_marker: &format!("/var/lib/wsgictl/reload-test-{u}"),
        lock: &lock,
        owed_dir: &owed,
        backup_prefix: &format!("/var/lib/wsgictl/backup-test-{u}."),
        abort_after: None,
        record_offsets: ":\n",
        import_tests: &[],
    });
    use wsgictl::transport::Transport as _;
    let out = wsgictl::transport::local::LocalTransport::new("local")
        .run_script(&text, false)
        .unwrap();
    let _ = std::fs::remove_dir(&owed);
    let _ = std::fs::remove_file(&lock);
    let err = wsgictl::apply::outcome(
        &String::from_utf8_lossy(&out.output),
        "0123456789abcdef",
        "local",
        &Default::default(),
    )
    .unwrap_err();
    format!("{err:#}")
}

/// What the plan saw of a link, an account, a source tree and a venv is checked under the
/// lock too.
#[test]
fn the_apply_script_refuses_a_link_an_account_a_tree_or_a_venv_that_changed_since_plan() {
    use wsgictl::plan::{Action, Change, Fingerprint, Op, Plan, SeenKind};
    use wsgictl::resource_id::ResourceId;
    let dir = tempfile::tempdir().unwrap();
    let one = |id: ResourceId, seen: Fingerprint, op: Op| Plan {
        host: "local".into(),
        findings: Vec::new(),
        planned_at: 0,
        rootless: None,
        changes: vec![Change {
            id,
            action: Action::Create,
            reason: String::new(),
            before: Some(seen),
            details: Vec::new(),
            diff: None,
            ops: vec![op],
        }],
        handlers: Vec::new(),
    };
    // A link that appeared since the plan saw none.
    let link = dir.path().join("sites-enabled-x.conf");
    std::os::unix::fs::symlink("../elsewhere.conf", &link).unwrap();
    let l = link.display().to_string();
    let msg = refusal_of(&one(
        ResourceId::Link(l.clone()),
        Fingerprint::seen(SeenKind::Link, &l, "missing"),
        Op::Chmod {
            path: "/nonexistent".into(),
            mode: "0644".into(),
        },
    ));
    assert!(
        msg.contains("found:    symlink to ../elsewhere.conf"),
        "{msg}"
    );
    // An account the plan saw missing that exists now (root always does).
    let msg = refusal_of(&one(
        ResourceId::Account("root".into()),
        Fingerprint::seen(SeenKind::Account, "root", "missing"),
        Op::CreateGroup {
            name: "wsgictl-never-made".into(),
        },
    ));
    assert!(
        msg.contains("changed since plan") && msg.contains("found:    present"),
        "{msg}"
    );
    // A source tree with a file more than the plan saw (none).
    std::fs::write(dir.path().join("added.py"), "x = 1\n").unwrap();
    let t = dir.path().display().to_string();
    let msg = refusal_of(&one(
        ResourceId::Source("blog".into()),
        Fingerprint::seen(SeenKind::Tree, &t, "missing"),
        Op::CreateGroup {
            name: "wsgictl-never-made".into(),
        },
    ));
    assert!(
        msg.contains("changed since plan") && msg.contains("expected: missing"),
        "{msg}"
    );
    // A venv that appeared at the path the plan saw empty.
    let venv = dir.path().join("venv");
    std::fs::create_dir(&venv).unwrap();
    let v = venv.display().to_string();
    let msg = refusal_of(&one(
        ResourceId::Venv("blog".into()),
        Fingerprint::seen(SeenKind::Venv, &v, "missing"),
        Op::CreateGroup {
            name: "wsgictl-never-made".into(),
        },
    ));
    assert!(
        msg.contains(&format!("({v} on local: expected: missing")),
        "{msg}"
    );
    assert!(
        !std::process::Command::new("getent")
            .args(["group", "wsgictl-never-made"])
            .status()
            .unwrap()
            .success(),
        "a stale plan ran its ops"
    );
}

/// The same, planted after apply's own gather: the script's check under the lock refuses it
/// as stale and says "symlink", not "missing". Run as the apply script itself, locally.
#[test]
fn the_apply_script_refuses_a_symlink_where_the_plan_saw_a_directory() {
    use wsgictl::plan::{Action, Change, Fingerprint, Op, Plan};
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::set_permissions(&victim, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let managed = dir.path().join("static");
    std::os::unix::fs::symlink(&victim, &managed).unwrap();
    let path = managed.display().to_string();
    let plan = Plan {
        host: "local".into(),
        findings: Vec::new(),
        planned_at: 0,
        rootless: None,
        changes: vec![Change {
            id: wsgictl::resource_id::ResourceId::Dir(path.clone()),
            action: Action::Update,
            reason: "mode 0700 → 0755".into(),
            before: Some(Fingerprint {
                exists: true,
                sha256: None,
                mode: Some("0700".into()),
                owner: Some("root:root".into()),
                seen: None,
            }),
            details: Vec::new(),
            diff: None,
            ops: vec![Op::Chmod {
                path: path.clone(),
                mode: "0755".into(),
            }],
        }],
        handlers: Vec::new(),
    };
    let msg = refusal_of(&plan);
    assert!(
        msg.contains("changed since plan")
            && msg.contains(&format!("found:    symlink to {}", victim.display())),
        "{msg}"
    );
    assert_eq!(mode(&victim), 0o700, "the link was followed");
}

#[test]
fn another_account_can_neither_take_nor_block_the_host_lock() {
    let site = Site::deployed();
    let instance = site.apache.instance();
    // A user holds what earlier versions used as the lock, in world-writable /run/lock.
    let old_lock = format!("/run/lock/wsgictl{instance}.lock");
    let mut holder = Command::new("runuser")
        .args([
            "-u",
            crate::support::lab::PW_USER,
            "--",
            "flock",
            &old_lock,
            "sleep",
            "60",
        ])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    edit(
        &site.manifest,
        "BLOG_GREETING \"hello 1\"",
        "BLOG_GREETING \"locked out\"",
    );
    let o = site.wsgictl("apply", &["--yes", "--lock-timeout", "3"]);
    let _ = holder.kill();
    let _ = holder.wait();
    let _ = std::fs::remove_file(&old_lock);
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));

    let lock = PathBuf::from(format!("/run/wsgictl/apply{instance}.lock"));
    assert_eq!(mode(Path::new("/run/wsgictl")), 0o700);
    assert_eq!(mode(&lock), 0o600);
    let user = crate::support::lab::PW_USER;
    let o = Command::new("runuser")
        .args(["-u", user, "--", "sh", "-c"])
        .arg(format!("exec 9>>{}", lock.display()))
        .output()
        .unwrap();
    assert!(!o.status.success(), "{user} could open the lock file");
}

#[test]
fn a_failed_migrate_is_owed_and_run_by_the_next_apply() {
    let site = Site::new(1, "");
    let db = site.root(1).join("db");
    let project = with_project(
        &site,
        "DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': os.environ['BLOG_DB']}}\nINSTALLED_APPS += ['django.contrib.contenttypes']",
    );
    add_env(&site, &format!("BLOG_DB \"{}/blog.sqlite3\"", db.display()));
    edit(
        &site.manifest,
        "collectstatic #true",
        "collectstatic #true\n        migrate #true",
    );
    std::fs::create_dir_all(&db).unwrap();
    sh(&format!("chown blog '{}'", db.display()));
    site.applied();
    assert!(
        db.join("blog.sqlite3").exists(),
        "migrate made the database"
    );

    // New code, and the database cannot be opened: migrate fails after the sync.
    let views = project.join("blog/views.py");
    let text = std::fs::read_to_string(&views).unwrap();
    std::fs::write(
        &views,
        text.replace("blog: hello from Django", "blog v2: hello from Django"),
    )
    .unwrap();
    std::fs::remove_file(db.join("blog.sqlite3")).unwrap();
    sh(&format!(
        "chown root '{}' && chmod 0555 '{}'",
        db.display(),
        db.display()
    ));
    let o = site.apply();
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    assert!(stderr(&o).contains("manage.py migrate"), "{}", all(&o));
    assert!(
        stderr(&o).contains(
            "still changed, as the old site does not read them: the new release of `app1` (not running), the uploaded source of `app1`"
        ),
        "{}",
        all(&o)
    );

    // The new release was never switched to: it is made again, migrated, and the
    // unfinished one goes.
    let o = site.wsgictl("plan", &["--detailed-exitcode"]);
    let text = all(&o);
    assert_eq!(o.status.code(), Some(2), "{text}");
    assert!(
        text.contains("~ migrate:app1")
            && text.contains("+ release:app1")
            && text.contains("(left unfinished by an apply that stopped)"),
        "{text}"
    );
    assert!(text.contains("~ restart:app1"), "{text}");

    sh(&format!(
        "chown blog '{}' && chmod 0755 '{}'",
        db.display(),
        db.display()
    ));
    site.applied();
    assert!(db.join("blog.sqlite3").exists(), "the owed migrate ran");
    let (code, body) = site.get(1, "/");
    assert_eq!(code, 200);
    assert!(
        body.contains("blog v2"),
        "the daemon was restarted onto v2: {body}"
    );
    let o = site.wsgictl("plan", &["--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
}

#[test]
fn a_failed_configtest_puts_back_links_modes_and_owners() {
    let site = Site::deployed();
    let conf = site.apache.confdir();
    // By hand: the site is enabled through a copy, and the env file has another mode.
    let hand = conf.join("sites-available/hand-app1.conf");
    std::fs::copy(conf.join("sites-available/wsgictl-app1.conf"), &hand).unwrap();
    let link = conf.join("sites-enabled/wsgictl-app1.conf");
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("../sites-available/hand-app1.conf", &link).unwrap();
    let env = site.root(1).join("current/app.env");
    std::fs::set_permissions(&env, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();

    site.break_vhost_template();

    let o = site.apply();
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    let err = stderr(&o);
    assert!(
        err.contains("configuration test failed")
            && err.contains(
                "Every file, enabled link, mode and owner this run changed is back as it was"
            ),
        "{err}"
    );
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        PathBuf::from("../sites-available/hand-app1.conf"),
        "the link the enable replaced is back"
    );
    assert_eq!(mode(&env), 0o600, "the env file's mode is back");
    assert_eq!(site.get(1, "/").0, 200);
}

#[test]
fn a_broken_venv_is_drift_that_apply_repairs() {
    let site = Site::deployed();
    let venv = site.root(1).join("venv");
    sh(&format!(
        "rm -rf '{}'/lib/python3*/site-packages/django",
        venv.display()
    ));
    let o = site.wsgictl("plan", &["--detailed-exitcode"]);
    let text = all(&o);
    assert_eq!(o.status.code(), Some(2), "{text}");
    assert!(
        text.contains("packages:app1")
            && text.contains("site-packages changed since the last install"),
        "{text}"
    );
    let o = site.applied();
    assert!(stdout(&o).contains("→ 200"), "{}", all(&o));
    let o = site.wsgictl("plan", &["--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
}

#[test]
fn an_apply_with_nothing_to_change_still_proves_the_site() {
    let site = Site::deployed();
    // Broken outside anything wsgictl manages: Django unreadable to the daemon, which then
    // restarts (the .wsgi's mtime only: no drift).
    let venv = site.root(1).join("venv");
    sh(&format!(
        "chmod 0000 '{}'/lib/python3*/site-packages/django && touch '{}'",
        venv.display(),
        site.root(1).join("current/app.wsgi").display()
    ));
    let o = site.wsgictl("apply", &["--yes", "-v"]);
    let text = all(&o);
    assert!(text.contains("no changes"), "{text}");
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("→ 500"), "{text}");
    // The requests were part of the one gather: no round trip of their own.
    assert!(stderr(&o).contains("lab: 1 exec channel\n"), "{text}");
}

/// Stop a run at every step boundary in turn: after each stop the site still answers, and
/// the next apply converges.
#[test]
fn a_run_killed_at_any_step_leaves_the_site_up_and_the_next_apply_converges() {
    let site = Site::deployed();
    let project = with_project(&site, "");
    site.applied();
    let mut k = 1;
    loop {
        assert!(k < 30, "the sweep never reached the end of the script");
        // Code, environment and vhost all change: sync, hooks, files, import test, reload.
        std::fs::write(project.join("blog/sweep.py"), format!("K = {k}\n")).unwrap();
        let text = std::fs::read_to_string(&site.manifest).unwrap();
        let text = regex_replace(
            &text,
            "BLOG_GREETING \"[^\"]*\"",
            &format!("BLOG_GREETING \"sweep {k}\""),
        );
        let threads = 10 + k % 2;
        let text = if text.contains("daemon {") {
            regex_replace(&text, "threads [0-9]+", &format!("threads {threads}"))
        } else {
            text.replace(
                "    health \"/\"",
                &format!("    health \"/\"\n    daemon {{\n        threads {threads}\n    }}"),
            )
        };
        std::fs::write(&site.manifest, text).unwrap();

        let kk = k.to_string();
        let o = apply_env(&site, &[("WSGICTL_TEST_ABORT_AFTER", &kk)]);
        if o.status.code() == Some(0) {
            // No step k: the whole script ran.
            assert!(k > 5, "too few steps to sweep: {}", all(&o));
            break;
        }
        assert!(
            all(&o).contains("was aborted after step"),
            "step {k}: {}",
            all(&o)
        );
        assert_eq!(
            site.get(1, "/").0,
            200,
            "the site is down after a stop at step {k}"
        );
        // `current` is a finished release, wholly the old one or wholly the new one.
        let rel = std::fs::canonicalize(site.root(1).join("current")).unwrap();
        let record = std::fs::read_to_string(rel.join(".wsgictl-release")).unwrap();
        assert!(
            record.lines().any(|l| l == "prepared"),
            "step {k}: current is {} and not finished:\n{record}",
            rel.display()
        );
        let code = std::fs::read_to_string(rel.join("src/blog/sweep.py")).unwrap_or_default();
        let env = std::fs::read_to_string(rel.join("app.env")).unwrap();
        let new = code == format!("K = {k}\n");
        assert!(
            new || code.is_empty() || code == format!("K = {}\n", k - 1),
            "step {k}: {code}"
        );
        assert_eq!(
            new,
            env.contains(&format!("'sweep {k}'")),
            "step {k}: the release mixes code and env of two runs:\n{code}\n{env}"
        );
        let o = site.applied();
        assert!(stdout(&o).contains("→ 200"), "step {k}: {}", all(&o));
        let (_, body) = site.get(1, "/");
        assert!(
            body.contains(&format!("greeting: sweep {k}")),
            "step {k}: {body}"
        );
        k += 1;
    }
}

fn regex_replace(text: &str, pattern: &str, with: &str) -> String {
    regex::Regex::new(pattern)
        .unwrap()
        .replace_all(text, with)
        .into_owned()
}

/// A saved plan is applied exactly as saved: a local file changed since is refused, and so is
/// the plan applied with another manifest.
#[test]
fn a_saved_plan_is_pinned_to_the_source_and_the_manifest_it_was_made_from() {
    let site = Site::deployed();
    let project = with_project(&site, "");
    let views = project.join("blog/views.py");
    let text = std::fs::read_to_string(&views).unwrap();
    std::fs::write(&views, text.replace("hello from Django", "planned text")).unwrap();
    let saved = site.base.join("plan.json");
    let o = site.wsgictl("plan", &["--out", saved.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    assert!(stdout(&o).contains("~ blog/views.py"), "{}", all(&o));

    // The same path, other content: the plan's upload no longer is what would be sent.
    std::fs::write(&views, text.replace("hello from Django", "unplanned text")).unwrap();
    let o = site.wsgictl("apply", &["--yes", saved.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    assert!(
        stderr(&o).contains("no longer matches what apply would do")
            && stderr(&o).contains("release:app1 would now be done differently"),
        "{}",
        all(&o)
    );
    let on_host = std::fs::read_to_string(site.root(1).join("current/src/blog/views.py")).unwrap();
    assert!(
        !on_host.contains("unplanned") && !on_host.contains("planned text"),
        "{on_host}"
    );

    // Planned from one manifest, applied with another.
    std::fs::write(&views, text.replace("hello from Django", "planned text")).unwrap();
    let other = site.base.join("other.kdl");
    std::fs::copy(&site.manifest, &other).unwrap();
    let o = site.lab.wsgictl(
        &[
            "apply",
            "--yes",
            "-f",
            other.to_str().unwrap(),
            saved.to_str().unwrap(),
        ],
        &[SECRET],
    );
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    assert!(stderr(&o).contains("was planned from"), "{}", all(&o));

    // As saved, it applies.
    let o = site.wsgictl("apply", &["--yes", saved.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    assert!(site.get(1, "/").1.contains("planned text"));
}

/// A directory at the venv path that wsgictl did not make is never removed.
#[test]
fn a_venv_path_holding_something_else_is_not_removed() {
    let site = Site::new(1, "");
    let venv = site.root(1).join("venv");
    std::fs::create_dir_all(&venv).unwrap();
    std::fs::write(venv.join("precious.txt"), "keep me").unwrap();
    let o = site.apply();
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    assert!(
        stderr(&o).contains(
            "exists but wsgictl did not create it (no .wsgictl-venv inside), so it is not removed"
        ),
        "{}",
        all(&o)
    );
    assert_eq!(
        std::fs::read_to_string(venv.join("precious.txt")).unwrap(),
        "keep me"
    );
}

/// A touch of the `.wsgi` while a daemon is still loading it (Django's import is slow) reaches
/// that daemon too: mod_wsgi notes the mtime after the load, so without the script's own check
/// the process would keep what it read before the touch (here, the env file) for good. Seen
/// as the two tests that touch a `.wsgi` right after an apply answering 200 for seconds on a
/// loaded machine.
#[test]
fn a_touch_during_a_slow_load_reaches_that_daemon() {
    let site = Site::new(1, "");
    let flag = site.base.join("slow");
    with_project(
        &site,
        &format!(
            "import time as _t\nif os.path.exists({:?}):\n    _t.sleep(3)\n",
            flag.display().to_string()
        ),
    );
    site.applied();
    // A load that reads the env file, then sits in the settings import.
    std::fs::write(&flag, "").unwrap();
    let wsgi = site.root(1).join("current/app.wsgi");
    sh(&format!("touch '{}'", wsgi.display()));
    std::thread::scope(|s| {
        let slow = s.spawn(|| site.get(1, "/"));
        std::thread::sleep(std::time::Duration::from_millis(1500));
        // What an apply does meanwhile: a new env file, the script touched.
        edit(
            &site.root(1).join("current/app.env"),
            "hello 1",
            "changed meanwhile",
        );
        std::fs::remove_file(&flag).unwrap();
        sh(&format!("touch '{}'", wsgi.display()));
        let (code, body) = slow.join().unwrap();
        assert_eq!(code, 200, "{body}");
    });
    // No request after the touch is answered by a load that began before it: a preload the
    // touch came during replaces its daemon before that daemon takes a request.
    for _ in 0..20 {
        let (code, body) = site.get(1, "/");
        assert_eq!(code, 200, "{body}");
        assert!(
            body.contains("greeting: changed meanwhile"),
            "a daemon kept the env it read before the touch: {body}\n{}\n{}",
            site.apache.error_log(),
            site.apache.app_error_log("app1")
        );
    }
}

/// The same settings on a deployed site, switched on by hand: the doctor's import test and the
/// traceback in the app's log would both show the secret.
#[test]
fn the_doctor_shows_no_secret_from_the_import_test_or_the_logs() {
    let site = Site::new(1, "");
    with_project(&site, LEAKING_SETTINGS);
    site.applied();
    let env = site.root(1).join("current/app.env");
    let text = std::fs::read_to_string(&env).unwrap();
    std::fs::write(&env, format!("{text}BLOG_LEAK='1'\n")).unwrap();
    sh(&format!(
        "touch '{}'",
        site.root(1).join("current/app.wsgi").display()
    ));
    // The touch restarts the daemon; on a loaded machine a request or two may still reach
    // the old one.
    let mut code = 0;
    for _ in 0..20 {
        code = site.get(1, "/").0;
        if code == 500 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert_eq!(code, 500);
    let log = site.apache.confdir().join("log/wsgictl-app1-error.log");
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains(KNOWN_SECRET),
        "the app's log was expected to hold the secret"
    );
    let o = site.wsgictl("doctor", &[]);
    let text = all(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("<redacted>@db/blog"), "{text}");
    assert!(
        !text.contains(KNOWN_SECRET),
        "the doctor printed the secret:\n{text}"
    );
    let o = site.wsgictl("doctor", &["--json"]);
    assert!(!all(&o).contains(KNOWN_SECRET));
}

/// A reload an earlier run owes is not forgotten when a later run fails and puts back its own
/// files: the marker it did not write stays.
#[test]
fn a_reload_owed_by_a_killed_run_survives_a_later_failed_run() {
    let site = Site::deployed();
    edit(
        &site.manifest,
        "    health \"/\"",
        "    health \"/\"\n    daemon {\n        threads 10\n    }",
    );
    let o = apply_env(&site, &[("WSGICTL_TEST_ABORT_AFTER", "vhost:app1")]);
    assert!(all(&o).contains("was aborted after step"), "{}", all(&o));
    let good = std::fs::read_to_string(&site.manifest).unwrap();
    site.break_vhost_template();
    let o = site.apply();
    assert!(all(&o).contains("configuration test failed"), "{}", all(&o));
    std::fs::write(&site.manifest, good).unwrap();

    let o = site.wsgictl("plan", &["--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(2), "{}", all(&o));
    assert!(stdout(&o).contains("~ reload:apache"), "{}", all(&o));
    let o = site.applied();
    assert!(stdout(&o).contains("Apache reloaded"), "{}", all(&o));
    assert!(
        site.apache.error_log().contains("threads=10"),
        "Apache never ran the configuration the killed run wrote"
    );
}
