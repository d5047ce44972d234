//! shellcheck (Debian's package) over every shell script wsgictl ships or sends: the `*.sh`
//! files and `.ci/run`, instances of the scripts it builds (the gather, apply on a fresh and on
//! a rootless host, the doctor's live script) and of those it renders (the rootless
//! `apachectl` and watchdog, certbot's deploy hook).

use crate::support::*;
use std::process::Command;

/// Warnings and errors only (`-S warning`), in the shell its shebang or `shellcheck shell=`
/// directive names, else POSIX sh. Each finding is shown with its line.
fn check(name: &str, text: &str) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("script.sh");
    std::fs::write(&path, text).unwrap();
    // A directive counts only on the first line (an embedded file's, further down, does not).
    let declared = text.starts_with("#!") || text.starts_with("# shellcheck shell=");
    let mut cmd = Command::new("shellcheck");
    if !declared {
        cmd.args(["-s", "sh"]);
    }
    let out = cmd
        .args(["-S", "warning", "-f", "gcc"])
        .arg(&path)
        .output()
        .expect("running shellcheck (tests/deps.sh installs the shellcheck package)");
    (!out.status.success()).then(|| {
        format!(
            "{name}:\n{}",
            String::from_utf8_lossy(&out.stdout).replace(path.to_str().unwrap(), name)
        )
    })
}

fn assert_clean(scripts: Vec<(String, String)>) {
    let problems: Vec<String> = scripts
        .iter()
        .filter_map(|(name, text)| check(name, text))
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_shipped_shell_file_passes_shellcheck() {
    let out = run_ok(
        Command::new("git")
            .args(["ls-files", "*.sh", ".ci/run"])
            .current_dir(root()),
    );
    let files: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert!(files.len() >= 8, "{files:?}");
    assert_clean(
        files
            .into_iter()
            .map(|f| {
                let text = std::fs::read_to_string(root().join(&f)).unwrap();
                (f, text)
            })
            .collect(),
    );
}

#[test]
fn the_scripts_wsgictl_builds_pass_shellcheck() {
    let nonce = "0123456789abcdef";
    let mut scripts = vec![(
        "gather".to_string(),
        wsgictl::facts::script::build(&crate::facts::probes_for_script(), nonce),
    )];
    let apply = |plan: &wsgictl::plan::Plan, desired: &wsgictl::desired::DesiredState, env| {
        wsgictl::apply::script::build(&wsgictl::apply::script::Inputs {
            plan,
            nonce,
            holder: "test",
            lock_timeout_secs: 5,
            contents: &Default::default(),
            tars: &Default::default(),
            requirements: &Default::default(),
            state_dir: &desired.state_dir,
            run_dir: &desired.run_dir,
            apache: &wsgictl::apply::apache_control(env),
            reload_marker: &desired.reload_marker,
            lock: &desired.lock,
            owed_dir: &desired.owed_dir,
            backup_prefix: &desired.backup_prefix,
            abort_after: None,
            record_offsets: ":\n",
            import_tests: &[],
        })
    };
    let w = crate::planning::world();
    let p = crate::planning::plan(&w, &crate::planning::fresh(&w)).unwrap();
    let m = wsgictl::manifest::load(&fixture("manifests/ok/two-apps-one-host.kdl")).unwrap();
    let env = wsgictl::render::HostEnv::assumed(&m.hosts[0]);
    let fresh = apply(&p, &w.desired, &env);
    assert!(
        fresh.contains("par_start 1 par_job_1"),
        "two apps' venvs build side by side: {fresh}"
    );
    scripts.push(("apply (fresh host)".into(), fresh));
    let (w, f) = crate::planning::rootless_world(&crate::planning::account(false, ""));
    let p = crate::planning::plan(&w, &f).unwrap();
    let m = wsgictl::manifest::load(&fixture("manifests/ok/rootless.kdl")).unwrap();
    let env = wsgictl::render::HostEnv::from_facts(&m.hosts[0], &f, &[]);
    scripts.push(("apply (rootless)".into(), apply(&p, &w.desired, &env)));
    let probes = wsgictl::doctor::live::app_probes(&m, "shared1", None);
    let control = wsgictl::apply::apache_control(&env);
    let live = wsgictl::doctor::live::Inputs {
        env: &env,
        ctl: &control.ctl,
        apps: probes,
        record: wsgictl::doctor::live::record_offsets(&env, &["blog"]),
    };
    scripts.push((
        "doctor".into(),
        wsgictl::doctor::live::build(&live, "alice", nonce),
    ));
    assert_clean(scripts);
}

#[test]
fn the_scripts_wsgictl_renders_pass_shellcheck() {
    let dir = tempfile::tempdir().unwrap();
    let mut scripts = Vec::new();
    for f in [
        "examples/rootless/site.kdl",
        "tests/fixtures/manifests/ok/tls-acme.kdl",
    ] {
        let out = dir.path().join(f.replace('/', "_"));
        let o = wsgictl(&["render", "-f", f, "--out", out.to_str().unwrap()], &[]);
        assert!(o.status.success(), "{f}: {}", stderr(&o));
        let walk = run_ok(Command::new("find").arg(&out).args(["-type", "f"]));
        for p in String::from_utf8_lossy(&walk.stdout).lines() {
            let text = std::fs::read_to_string(p).unwrap();
            if text.starts_with("#!/bin/sh") {
                scripts.push((p.replace(out.to_str().unwrap(), f), text));
            }
        }
    }
    let names: Vec<&str> = scripts.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.iter().any(|n| n.ends_with("/apachectl"))
            && names.iter().any(|n| n.ends_with("/watchdog"))
            && names.iter().any(|n| n.contains("deploy-hook")),
        "{names:?}"
    );
    assert_clean(scripts);
}
