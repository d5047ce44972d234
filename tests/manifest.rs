//! Manifest fixtures: ok ones snapshot the model, err ones snapshot the diagnostic and must
//! carry the codes they declare on their first line (`// expect: code, code`).

use crate::support::*;
use wsgictl::manifest::{self, ManifestError};

fn expected_codes(path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let first = text.lines().next().unwrap();
    let codes = first
        .strip_prefix("// expect: ")
        .unwrap_or_else(|| panic!("{} lacks `// expect:`", path.display()));
    codes.split(',').map(|c| c.trim().to_string()).collect()
}

fn relative(path: &std::path::Path) -> String {
    path.strip_prefix(root()).unwrap().display().to_string()
}

/// Load by the path relative to the root (cargo runs tests from there), so diagnostics name
/// the fixture as a user would type it.
fn load(path: &std::path::Path) -> anyhow::Result<manifest::Manifest> {
    manifest::load(std::path::Path::new(&relative(path)))
}

#[test]
fn ok_fixtures_load_to_their_model() {
    let files = fixtures("manifests/ok", "kdl");
    assert!(files.len() >= 4);
    for f in files {
        let m = load(&f).unwrap_or_else(|e| panic!("{}: {e:?}", f.display()));
        let json = serde_json::to_string_pretty(&m).unwrap();
        let stem = f.file_stem().unwrap().to_str().unwrap();
        insta::assert_snapshot!(format!("model__{stem}"), scrub(&json));
    }
}

#[test]
fn err_fixtures_report_their_problems_with_line_and_column() {
    let files = fixtures("manifests/err", "kdl");
    assert!(
        files.len() >= 25,
        "at least 25 err fixtures, found {}",
        files.len()
    );
    for f in files {
        let err = load(&f).expect_err(&format!("{} should be refused", f.display()));
        let m = err
            .downcast_ref::<ManifestError>()
            .unwrap_or_else(|| panic!("{}: not a manifest error: {err:#}", f.display()));
        let text = wsgictl::manifest::diag::render(m, false, 100);
        for code in expected_codes(&f) {
            assert!(
                text.contains(&format!("manifest::{code}")),
                "{}: no `{code}` in\n{text}",
                f.display()
            );
        }
        // Every problem is located: one `[file:line:col]` per problem.
        let located = format!("[{}:", relative(&f));
        assert_eq!(
            text.matches(&located).count(),
            m.problems.len(),
            "{}:\n{text}",
            f.display()
        );
        let stem = f.file_stem().unwrap().to_str().unwrap();
        insta::assert_snapshot!(format!("diagnostic__{stem}"), scrub(&text));
    }
}

#[test]
fn several_problems_are_all_reported_in_one_run() {
    let f = fixture("manifests/err/several-problems.kdl");
    let err = load(&f).unwrap_err();
    let m = err.downcast_ref::<ManifestError>().unwrap();
    let codes: Vec<&str> = m.problems.iter().map(|p| p.code).collect();
    assert!(m.problems.len() >= 6, "{codes:?}");
    assert!(
        m.to_string()
            .contains(&format!("{} problems", m.problems.len()))
    );
}

#[test]
fn shipped_manifests_are_valid() {
    for f in [
        "site.kdl.example",
        "examples/single-app/site.kdl",
        "examples/two-apps/site.kdl",
        "examples/rootless/site.kdl",
    ] {
        let m = load(&root().join(f)).unwrap_or_else(|e| panic!("{f}: {e:?}"));
        assert!(!m.apps.is_empty(), "{f}");
    }
}

#[test]
fn defaults_are_applied() {
    let m = load(&fixture("manifests/ok/minimal.kdl")).unwrap();
    let (host, app) = (&m.hosts[0], &m.apps[0]);
    assert_eq!(host.port, None, "22 unless ~/.ssh/config says otherwise");
    assert!(!host.sudo);
    assert_eq!(*app.port, 80);
    assert_eq!(app.group, "blog");
    assert_eq!(app.python.value, "/usr/bin/python3");
    assert_eq!(app.venv.path, "/srv/blog/venv");
    assert_eq!(
        app.django.wsgi, None,
        "without `wsgi`, the .wsgi reads WSGI_APPLICATION"
    );
    assert_eq!((app.daemon.processes, app.daemon.threads), (2, 15));
}
