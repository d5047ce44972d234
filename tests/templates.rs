//! Template overrides: a file in the manifest's `templates` directory replaces the built-in,
//! and `templates list` says so.

use crate::support::*;

const FULL: &str = "tests/fixtures/manifests/ok/full.kdl";

#[test]
fn list_shows_builtins_without_a_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_wsgictl"))
        .current_dir(dir.path())
        .args(["templates", "list"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    for name in [
        "apache/vhost.conf",
        "apache/wsgictl.conf",
        "wsgi/app.wsgi",
        "wsgi/app.env",
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(name) && l.ends_with("built-in")),
            "{name}: {out}"
        );
    }
}

#[test]
fn an_override_replaces_the_builtin_and_list_says_so() {
    let o = wsgictl(&["templates", "list", "-f", FULL], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = scrub(&stdout(&o));
    insta::assert_snapshot!("templates_list__override", out);
    let line = |name: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    assert_eq!(
        line("apache/vhost.conf"),
        "apache/vhost.conf override [ROOT]/tests/fixtures/manifests/project/templates/apache/vhost.conf",
        "{out}"
    );
    assert_eq!(line("wsgi/app.wsgi"), "wsgi/app.wsgi built-in", "{out}");
    assert!(
        out.contains(
            "ignored   [ROOT]/tests/fixtures/manifests/project/templates/apache/unused.conf"
        ),
        "{out}"
    );

    let o = wsgictl(
        &["render", "-f", FULL],
        &[("BLOG_SECRET_KEY", KNOWN_SECRET)],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("# X-Fixture: rendered from the override, not the built-in"),
        "{out}"
    );
    assert!(
        out.contains("wsgictl-blog.conf (root:root 0644, from override "),
        "{out}"
    );

    let o = wsgictl(&["templates", "show", "apache/vhost.conf", "-f", FULL], &[]);
    assert!(stdout(&o).contains("X-Fixture"));
}

#[test]
fn check_warns_about_files_that_override_nothing() {
    let o = wsgictl(&["check", "-f", FULL], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).ends_with(", 1 template override\n"),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("unused.conf overrides no built-in template and is ignored"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn show_prints_a_builtin_and_refuses_unknown_names() {
    let o = wsgictl(
        &[
            "templates",
            "show",
            "wsgi/app.wsgi",
            "-f",
            "site.kdl.example",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), include_str!("../modules/wsgi/app.wsgi.tera"));
    let o = wsgictl(
        &[
            "templates",
            "show",
            "apache/nope.conf",
            "-f",
            "site.kdl.example",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no template named apache/nope.conf (templates: apache/vhost.conf,"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_broken_override_is_reported_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("t/wsgi")).unwrap();
    std::fs::write(dir.path().join("t/wsgi/app.wsgi"), "{% if %}broken\n").unwrap();
    let manifest = std::fs::read_to_string(fixture("manifests/ok/minimal.kdl"))
        .unwrap()
        .replace(
            "../project/",
            &format!("{}/", fixture("manifests/project").display()),
        );
    let path = dir.path().join("site.kdl");
    std::fs::write(&path, format!("templates \"./t\"\n{manifest}")).unwrap();
    let o = wsgictl(&["check", "-f", path.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("parsing template override") && stderr(&o).contains("t/wsgi/app.wsgi"),
        "{}",
        stderr(&o)
    );
}
