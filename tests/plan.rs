//! `wsgictl plan` end to end over real SSH: a fresh host, a host already in the desired state,
//! drift in content and mode, host keys, auth, ~/.ssh/config aliases, sudo, round trips, and
//! secrets that never appear.

use crate::support::apache::ApacheInstance;
use crate::support::lab::{Lab, PW_USER, USER};
use crate::support::*;
use std::path::PathBuf;

const SECRET: (&str, &str) = ("LAB_SECRET", KNOWN_SECRET);

struct Case {
    lab: Lab,
    apache: ApacheInstance,
    _base: tempfile::TempDir,
    manifest: PathBuf,
}

impl Case {
    fn new(apps: usize) -> Case {
        Case::with(apps, "", "")
    }

    fn with(apps: usize, host_extra: &str, app_extra: &str) -> Case {
        let lab = Lab::start();
        let apache = ApacheInstance::new();
        let base = tempfile::tempdir().unwrap();
        // A port of its own: tests that start their Apache instance run in parallel.
        let port = crate::support::free_port();
        let manifest = lab.manifest_on(
            base.path(),
            apache.confdir(),
            port,
            apps,
            host_extra,
            app_extra,
        );
        let m = wsgictl::manifest::load(&manifest).unwrap();
        ApacheInstance::ensure_accounts(&m, "lab");
        Case {
            lab,
            apache,
            _base: base,
            manifest,
        }
    }

    fn apply(&self) -> std::process::Output {
        self.lab.wsgictl(
            &["apply", "--yes", "-f", self.manifest.to_str().unwrap()],
            &[SECRET],
        )
    }

    fn plan(&self, extra: &[&str]) -> std::process::Output {
        let mut args = vec!["plan", "-f", self.manifest.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.lab.wsgictl(&args, &[SECRET])
    }

    /// Converge the host by hand to what plan (gathered locally) wants.
    fn place_by_hand(&self) -> wsgictl::pipeline::HostPlan {
        let m = wsgictl::manifest::load(&self.manifest).unwrap();
        let templates = wsgictl::templates::Templates::load(None).unwrap();
        let reach = wsgictl::pipeline::Reach {
            local: true,
            ssh: Default::default(),
            home: self.lab.home(),
        };
        let lookup = |v: &str| (v == "LAB_SECRET").then(|| KNOWN_SECRET.to_string());
        let hp = wsgictl::pipeline::plan_host(
            &m,
            &m.hosts[0],
            &templates,
            None,
            &lookup,
            &reach,
            wsgictl::pipeline::Extras::NONE,
        )
        .unwrap();
        crate::support::place::place(&hp);
        // A converged host also runs its Apache.
        self.apache.start();
        hp
    }
}

fn out(o: &std::process::Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

#[test]
fn a_fresh_host_plans_creates_and_exits_2() {
    let c = Case::new(1);
    let o = c.plan(&["--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    let text = stdout(&o);
    for line in [
        "+ dir:",
        "+ source:app1",
        "+ venv:app1",
        "+ packages:app1",
        "+ wsgi-script:app1",
        "+ env-file:app1",
        "+ vhost:app1",
        "+ host-conf:lab",
        "+ link:",
    ] {
        assert!(text.contains(line), "no `{line}` in\n{text}");
    }
    assert!(
        text.contains("then: configtest the Apache configuration, then reload Apache gracefully"),
        "{text}"
    );
    assert!(
        text.lines().last().unwrap().starts_with("lab: ")
            && text.contains(" to create, 1 to change, 0 to delete."),
        "{text}"
    );
    // Without the flag, pending changes are not an error.
    assert_eq!(c.plan(&[]).status.code(), Some(0));
}

#[test]
fn a_host_in_the_desired_state_has_nothing_to_change() {
    let c = Case::new(1);
    c.place_by_hand();
    let o = c.plan(&["--detailed-exitcode", "-v"]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(
        stdout(&o).contains("lab: 0 to create, 0 to change, 0 to delete."),
        "{}",
        out(&o)
    );
    // -v shows what was checked.
    assert!(stdout(&o).contains("  vhost:app1"), "{}", stdout(&o));
}

#[test]
fn drift_shows_the_changed_line_and_mode() {
    let c = Case::new(1);
    let hp = c.place_by_hand();
    let vhost = hp
        .desired
        .files
        .iter()
        .find(|f| f.path.ends_with("wsgictl-app1.conf"))
        .unwrap();
    let text = std::fs::read_to_string(&vhost.path)
        .unwrap()
        .replace("threads=15", "threads=16");
    std::fs::write(&vhost.path, text).unwrap();
    let script = hp
        .desired
        .files
        .iter()
        .find(|f| f.path.ends_with("app.wsgi"))
        .unwrap();
    std::process::Command::new("chmod")
        .args(["0600", &script.path])
        .status()
        .unwrap();

    let o = c.plan(&["--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    let text = stdout(&o);
    assert!(
        text.contains("~ vhost:app1") && text.contains("content changed"),
        "{text}"
    );
    assert!(
        text.contains("-        processes=2 threads=16 \\")
            && text.contains("+        processes=2 threads=15 \\"),
        "{text}"
    );
    assert!(
        text.contains("(on lab)") && text.contains("(desired)"),
        "{text}"
    );
    assert!(
        text.contains("~ wsgi-script:app1") && text.contains("mode 0600 → 0644"),
        "{text}"
    );
    assert!(text.contains("then: configtest"), "{text}");
    assert!(
        text.contains("lab: 0 to create, 2 to change, 0 to delete."),
        "{text}"
    );
}

#[test]
fn secrets_never_appear_in_plan_json_plan_file_or_facts() {
    let c = Case::new(1);
    let hp = c.place_by_hand();
    // The host holds an older secret; the plan must say it changed without showing either.
    let env = hp
        .desired
        .files
        .iter()
        .find(|f| f.path.ends_with("app.env"))
        .unwrap();
    // ... and a secret the manifest has since renamed.
    let old = std::fs::read_to_string(&env.path)
        .unwrap()
        .replace(KNOWN_SECRET, "old-secret-value-on-the-host")
        + "OLD_SECRET_NAME='renamed-secret-value-on-the-host'\n";
    std::fs::write(&env.path, old).unwrap();

    let o = c.plan(&[]);
    let text = out(&o);
    assert!(
        text.contains("(secret DJANGO_SECRET_KEY changed)"),
        "{text}"
    );
    assert!(text.contains("- OLD_SECRET_NAME"), "{text}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plan.json");
    // A file already there, readable by all: the plan replaces it, private.
    std::fs::write(&file, "{}").unwrap();
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let json = c.plan(&["--json", "--out", file.to_str().unwrap()]);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the plan file is private");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 1, "no temporary file is left: {left:?}");
    let facts = c.lab.wsgictl(
        &["facts", "--host", "lab", "-f", c.manifest.to_str().unwrap()],
        &[SECRET],
    );
    assert_eq!(facts.status.code(), Some(0), "{}", out(&facts));
    let saved = std::fs::read_to_string(&file).unwrap();
    for (what, s) in [
        ("plan", text),
        ("json", out(&json)),
        ("plan file", saved),
        ("facts", out(&facts)),
    ] {
        assert!(!s.contains(KNOWN_SECRET), "{what} shows the secret");
        assert!(
            !s.contains("old-secret-value-on-the-host"),
            "{what} shows the host's secret"
        );
        assert!(
            !s.contains("renamed-secret-value-on-the-host"),
            "{what} shows a renamed secret's old value"
        );
    }
}

#[test]
fn json_output_is_documented_data() {
    let c = Case::new(1);
    let o = c.plan(&["--json", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["version"], 1);
    let host = &v["hosts"][0];
    assert_eq!(host["host"], "lab");
    assert!(host["summary"]["create"].as_u64().unwrap() > 0);
    let vhost = host["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "vhost:app1")
        .unwrap();
    assert_eq!(vhost["action"], "create");
    assert_eq!(vhost["ops"][0]["op"], "write-file");
    assert_eq!(vhost["ops"][0]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(host["handlers"][0]["handler"], "configtest-and-reload");
    assert_eq!(v["errors"].as_array().unwrap().len(), 0);
}

#[test]
fn exec_channels_do_not_grow_with_the_number_of_apps() {
    let count = |apps| {
        let c = Case::new(apps);
        let o = c.plan(&["-v"]);
        assert_eq!(o.status.code(), Some(0), "{}", out(&o));
        let line = stderr(&o)
            .lines()
            .find(|l| l.starts_with("lab: connect"))
            .unwrap()
            .to_string();
        assert!(
            stdout(&o).contains(&format!("+ vhost:app{apps}")),
            "{}",
            stdout(&o)
        );
        // `gather 80 ms (53 processes on the host)`: the host's count, as /proc told it.
        let processes: u32 = line
            .split(", ")
            .find_map(|s| {
                s.strip_prefix("gather ")?
                    .split_once(" ms (")?
                    .1
                    .strip_suffix(" processes on the host)")
            })
            .unwrap_or_else(|| panic!("no process count in {line}"))
            .parse()
            .unwrap();
        assert!(processes > 0, "{line}");
        line.split(", ")
            .find(|s| s.contains("exec channel"))
            .unwrap()
            .to_string()
    };
    assert_eq!(count(1), "1 exec channel");
    assert_eq!(count(20), "1 exec channel");
}

#[test]
fn an_unknown_host_key_is_refused_and_nothing_else_is_done() {
    let c = Case::new(1);
    std::fs::write(c.lab.known_hosts(), "").unwrap();
    let o = c.plan(&[]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("is not in")
            && err.contains("SHA256:")
            && err.contains("--accept-new-host-key"),
        "{err}"
    );
    assert!(
        !c.lab.sshd_log().contains("Accepted publickey"),
        "{}",
        c.lab.sshd_log()
    );
    assert!(stdout(&o).is_empty());

    let o = c.plan(&["--accept-new-host-key"]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(stderr(&o).contains("trusted new host key"));
    assert_eq!(
        std::fs::read_to_string(c.lab.known_hosts()).unwrap(),
        c.lab.host_key_line()
    );
}

#[test]
fn a_mismatched_host_key_is_refused_even_with_accept_new() {
    let c = Case::new(1);
    let other = std::fs::read_to_string(format!("{}.pub", c.lab.other_key().display())).unwrap();
    let mut f = other.split_whitespace();
    std::fs::write(
        c.lab.known_hosts(),
        format!(
            "[127.0.0.1]:{} {} {}\n",
            c.lab.port,
            f.next().unwrap(),
            f.next().unwrap()
        ),
    )
    .unwrap();
    let o = c.plan(&["--accept-new-host-key"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("HOST KEY MISMATCH"), "{}", stderr(&o));
    assert!(!c.lab.sshd_log().contains("Accepted publickey"));
}

#[test]
fn a_wrong_key_lists_what_was_tried() {
    let c = Case::with(
        1,
        &format!("    identity \"{}\"\n", "/nonexistent/placeholder"),
        "",
    );
    let text = std::fs::read_to_string(&c.manifest).unwrap().replace(
        "/nonexistent/placeholder",
        c.lab.other_key().to_str().unwrap(),
    );
    std::fs::write(&c.manifest, text).unwrap();
    let o = c.plan(&[]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "authenticating as {USER} on lab (127.0.0.1:{})",
            c.lab.port
        )),
        "{err}"
    );
    assert!(
        err.contains("tried:") && err.contains(c.lab.other_key().to_str().unwrap()),
        "{err}"
    );
}

#[test]
fn an_ssh_config_alias_supplies_host_port_user_and_key() {
    let c = Case::new(1);
    std::fs::write(
        c.lab.home().join(".ssh/config"),
        format!("Host lab-alias\n    HostName 127.0.0.1\n    Port {}\n    User {USER}\n    IdentityFile ~/.ssh/id_ed25519\n", c.lab.port),
    )
    .unwrap();
    let text = std::fs::read_to_string(&c.manifest).unwrap();
    let text = text
        .replace("address \"127.0.0.1\"", "address \"lab-alias\"")
        .replace(&format!("    port {}\n", c.lab.port), "")
        .replace(&format!("    user \"{USER}\"\n"), "");
    let host_block = &text[..text.find("app \"").unwrap()];
    assert!(
        !host_block.contains("port ") && !host_block.contains("user "),
        "{host_block}"
    );
    std::fs::write(&c.manifest, text).unwrap();
    let o = c.plan(&["--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(
        stdout(&o).starts_with(&format!("Host lab (127.0.0.1:{})", c.lab.port)),
        "{}",
        stdout(&o)
    );
}

#[test]
fn sudo_wanting_a_password_is_a_clear_error_not_a_hang() {
    let c = Case::new(1);
    let text = std::fs::read_to_string(&c.manifest)
        .unwrap()
        .replace(&format!("user \"{USER}\""), &format!("user \"{PW_USER}\""));
    std::fs::write(&c.manifest, text).unwrap();
    let started = std::time::Instant::now();
    let o = c.plan(&[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("wants a password for wsgictl-pw") && stderr(&o).contains("NOPASSWD"),
        "{}",
        stderr(&o)
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

#[test]
fn a_python_mod_wsgi_is_not_built_for_is_found_and_blocks_apply() {
    let c = Case::new(1);
    // Debian 12 has one Python; this stand-in is the system's, telling whatever asks that it
    // is 3.12.1 (a sitecustomize sets sys.version_info; the issue allows faking it). It drops
    // the -E and -S the probes start Python with, which would skip its sitecustomize.
    let dir = c.manifest.parent().unwrap();
    let lib = dir.join("fake-3.12");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(
        lib.join("sitecustomize.py"),
        "import sys\nsys.version_info = (3, 12, 1, 'final', 0)\n",
    )
    .unwrap();
    let fake = dir.join("python3.12");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nfor a; do shift; case $a in -E|-S) ;; *) set -- \"$@\" \"$a\" ;; esac; done\nPYTHONPATH={} exec /usr/bin/python3 \"$@\"\n",
            lib.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let text = std::fs::read_to_string(&c.manifest).unwrap().replace(
        "    user \"blog\"\n",
        &format!("    user \"blog\"\n    python \"{}\"\n", fake.display()),
    );
    std::fs::write(&c.manifest, text).unwrap();

    let o = c.plan(&[]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let err = stderr(&o);
    assert!(
        err.contains("preflight::venv-python-version-mismatch")
            && err.contains("is linked against Python 3.11"),
        "{err}"
    );
    // It points at the manifest line where the fix goes.
    let line = std::fs::read_to_string(&c.manifest)
        .unwrap()
        .lines()
        .position(|l| l.contains("python3.12"))
        .unwrap()
        + 1;
    assert!(
        err.contains(&format!("{}:{line}:", c.manifest.display())),
        "{err}"
    );
    assert!(err.contains("python \"/usr/bin/python3.11\""), "{err}");

    let o = c.apply();
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        stderr(&o).contains("preflight found errors (above); nothing was changed"),
        "{}",
        out(&o)
    );
    let root = c.manifest.parent().unwrap().join("srv/app1");
    assert!(
        !root.exists(),
        "apply changed the host despite the preflight error"
    );
}

#[test]
fn an_interpreter_the_daemon_user_cannot_reach_is_found_and_blocks_apply() {
    let c = Case::new(1);
    // A perfectly good Python, behind a directory only root may enter.
    let private = c.manifest.parent().unwrap().join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(
        &private,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let python = private.join("python3");
    std::os::unix::fs::symlink("/usr/bin/python3", &python).unwrap();
    let text = std::fs::read_to_string(&c.manifest).unwrap().replace(
        "    user \"blog\"\n",
        &format!("    user \"blog\"\n    python \"{}\"\n", python.display()),
    );
    std::fs::write(&c.manifest, text).unwrap();

    let o = c.plan(&[]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    // miette wraps the message: join its lines again.
    let err = stderr(&o).replace("\n  │ ", " ");
    assert!(
        err.contains("preflight::venv-base-interpreter-unreachable (#36)")
            && err.contains(&format!(
                "cannot run {}: {} (drwx------ root root) is in the way",
                python.display(),
                private.display()
            )),
        "{err}"
    );
    let o = c.apply();
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        !c.manifest.parent().unwrap().join("srv/app1").exists(),
        "apply changed the host despite the preflight error"
    );
}

/// wsgictl runs the manifest's interpreter as root (to probe it and build the venv): one that
/// another account owns is reported, never run.
#[test]
fn an_interpreter_another_account_controls_is_never_run_as_root() {
    let c = Case::new(1);
    let dir = c.manifest.parent().unwrap().join("pybin");
    std::fs::create_dir(&dir).unwrap();
    let ran = c.manifest.parent().unwrap().join("ran-as");
    let python = dir.join("python3");
    std::fs::write(
        &python,
        format!(
            "#!/bin/sh\nid -u >> {}\nexec /usr/bin/python3 \"$@\"\n",
            ran.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&python, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    run_ok(
        std::process::Command::new("chown")
            .arg(PW_USER)
            .arg(&python),
    );
    let text = std::fs::read_to_string(&c.manifest).unwrap().replace(
        "    user \"blog\"\n",
        &format!("    user \"blog\"\n    python \"{}\"\n", python.display()),
    );
    std::fs::write(&c.manifest, text).unwrap();

    let o = c.plan(&[]);
    let err = out(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("interpreter-not-root-controlled")
            && err.contains(&format!("controlled by `{PW_USER}`")),
        "{err}"
    );
    let o = c.apply();
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        !ran.exists(),
        "the interpreter ran: {}",
        std::fs::read_to_string(&ran).unwrap_or_default()
    );
}
