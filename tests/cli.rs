//! The command line as a user meets it: exit statuses, messages, help, completions.

use crate::support::*;

#[test]
fn check_accepts_the_example() {
    let o = wsgictl(&["check", "-f", "site.kdl.example"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "site.kdl.example: ok: 1 host, 1 app (blog → web1)\n"
    );
}

#[test]
fn check_refuses_each_err_fixture_with_exit_1_and_a_location() {
    for f in fixtures("manifests/err", "kdl") {
        let rel = f
            .strip_prefix(root())
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let o = wsgictl(&["check", "-f", &rel], &[]);
        assert_eq!(o.status.code(), Some(1), "{rel}");
        let err = stderr(&o);
        let loc = format!("[{rel}:");
        let at = err
            .find(&loc)
            .unwrap_or_else(|| panic!("{rel}: no location in\n{err}"));
        let rest = &err[at + loc.len()..];
        let (line, col) = rest.split_once(']').unwrap().0.split_once(':').unwrap();
        assert!(
            line.parse::<u32>().unwrap() >= 1 && col.parse::<u32>().unwrap() >= 1,
            "{rel}: {err}"
        );
        assert!(err.contains("help:"), "{rel}: no help line in\n{err}");
    }
}

#[test]
fn missing_manifest_names_the_file() {
    let o = wsgictl(&["check", "-f", "no/such/site.kdl"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("error: reading manifest no/such/site.kdl:"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn usage_errors_exit_1_not_2() {
    // 2 is reserved for "changes pending".
    let o = wsgictl(&["check", "--no-such-flag"], &[]);
    assert_eq!(o.status.code(), Some(1));
    let o = wsgictl(&["frobnicate"], &[]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["check", "--help"],
        vec!["render", "--help"],
        vec!["templates", "--help"],
        vec!["templates", "list", "--help"],
        vec!["templates", "show", "--help"],
        vec!["completions", "--help"],
    ] {
        let o = wsgictl(&args, &[]);
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        assert!(stdout(&o).contains("Usage: wsgictl"), "{args:?}");
    }
}

#[test]
fn completions_are_generated() {
    let o = wsgictl(&["completions", "bash"], &[]);
    assert_eq!(o.status.code(), Some(0));
    let script = stdout(&o);
    assert!(
        script.contains("_wsgictl()") && script.contains("render"),
        "{script}"
    );
    let o = wsgictl(&["completions", "nushell"], &[]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsgictl"))
        .current_dir(root())
        .args(["doctor", "--list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away at once, like `| head -0`
    let out = child.wait_with_output().unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn import_refuses_a_rootless_host_before_connecting() {
    let f = fixture("manifests/ok/rootless.kdl");
    let o = wsgictl(
        &["import", "-f", f.to_str().unwrap(), "--host", "shared1"],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("host `shared1` is rootless: import reads the system Apache's sites"),
        "{}",
        stderr(&o)
    );
}
