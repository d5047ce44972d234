//! Facts, purely: the gather script (snapshot), and every probe parser on raw output fixtures
//! in tests/fixtures/facts/<probe>/<case>.txt (Debian cases recorded from a real Debian 12
//! host by this test with WSGICTL_REGEN_FIXTURES=1; RHEL cases from RHEL's output formats).

use crate::support::*;
use wsgictl::facts::{Probe, frame, parse, script};

pub(crate) fn probes_for_script() -> Vec<Probe> {
    vec![
        Probe::System,
        Probe::Apache {
            confdir: Some("/etc/apache2-web".into()),
        },
        Probe::Path {
            path: "/srv/my blog/app.wsgi".into(),
            want_sha256: Some("ab".repeat(32)),
        },
        Probe::Account {
            name: "blog".into(),
        },
        Probe::Group {
            name: "blog".into(),
        },
        Probe::Venv {
            path: "/srv/blog/venv".into(),
        },
        Probe::Tree {
            path: "/srv/blog/src".into(),
        },
    ]
}

#[test]
fn the_gather_script_is_stable() {
    insta::assert_snapshot!(
        "gather_script",
        script::build(&probes_for_script(), "0123456789abcdef")
    );
}

/// Run each probe on this machine and, when asked, record its raw output as a Debian fixture.
#[test]
fn probes_run_on_this_machine_and_parse() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("src");
    std::fs::create_dir_all(tree.join("pkg")).unwrap();
    std::fs::write(tree.join("manage.py"), "print('hi')\n").unwrap();
    std::fs::write(tree.join("pkg/odd name.py"), "x = 1\n").unwrap();
    let file = dir.path().join("app.wsgi");
    std::fs::write(&file, "application = None\n").unwrap();
    let probes = vec![
        Probe::System,
        Probe::Apache { confdir: None },
        Probe::Path {
            path: file.display().to_string(),
            want_sha256: None,
        },
        Probe::Path {
            path: dir.path().join("missing").display().to_string(),
            want_sha256: None,
        },
        Probe::Account {
            name: "root".into(),
        },
        Probe::Account {
            name: "no-such-user-wsgictl".into(),
        },
        Probe::Group {
            name: "root".into(),
        },
        Probe::Venv {
            path: dir.path().join("no-venv").display().to_string(),
        },
        Probe::Tree {
            path: tree.display().to_string(),
        },
    ];
    let nonce = "feedfacecafebeef";
    let mut t = wsgictl::transport::local::LocalTransport::new("local");
    let out =
        wsgictl::transport::Transport::run_script(&mut t, &script::build(&probes, nonce), false)
            .unwrap();
    let frames = frame::split(&String::from_utf8_lossy(&out.output), nonce);
    let facts = parse::facts("local", &probes, &frames);

    let sys = facts.system.known().expect("system");
    assert_eq!(sys.os_id, "debian");
    assert_eq!(sys.uid, 0);
    let apache = facts
        .apache
        .known()
        .unwrap()
        .as_ref()
        .expect("apache is installed");
    assert!(apache.modules.contains("wsgi_module"), "{apache:?}");
    assert!(
        apache
            .wsgi_python
            .as_deref()
            .is_some_and(|v| v.starts_with("3.")),
        "{apache:?}"
    );
    assert!(matches!(
        facts.paths[&file.display().to_string()].known(),
        Some(wsgictl::facts::PathState::File {
            content: Some(_),
            ..
        })
    ));
    assert_eq!(facts.accounts["no-such-user-wsgictl"].known(), Some(&None));
    let files = facts.trees[&tree.display().to_string()]
        .known()
        .unwrap()
        .as_ref()
        .unwrap();
    let names: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(names, ["manage.py", "pkg/odd name.py"]);

    if std::env::var_os("WSGICTL_REGEN_FIXTURES").is_some() {
        let names = [
            "system", "apache", "path", "path", "account", "account", "group", "venv", "tree",
        ];
        let cases = [
            "debian12", "debian12", "file", "missing", "root", "missing", "root", "missing",
            "small",
        ];
        for (i, (probe, case)) in names.iter().zip(cases).enumerate() {
            let d = fixture(&format!("facts/{probe}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(format!("{case}.txt")), &frames.frames[&i].body).unwrap();
        }
    }
}

#[test]
fn every_fixture_parses_to_its_snapshot() {
    let root = fixture("facts");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    let mut seen = 0;
    for dir in dirs {
        let probe = dir.file_name().unwrap().to_str().unwrap().to_string();
        for case in fixtures(&format!("facts/{probe}"), "txt") {
            let raw = std::fs::read_to_string(&case).unwrap();
            let parsed = match probe.as_str() {
                "system" => format!("{:#?}", parse::system(&raw)),
                "apache" => format!("{:#?}", parse::apache(&raw)),
                "path" => format!("{:#?}", parse::path_state(&raw)),
                "account" => format!("{:#?}", parse::account(&raw)),
                "group" => format!("{:#?}", parse::group(&raw)),
                "venv" => format!("{:#?}", parse::venv(&raw)),
                "tree" => format!("{:#?}", parse::tree(&raw)),
                other => panic!("no parser for fixture directory {other}"),
            };
            assert!(!parsed.starts_with("Err("), "{}: {parsed}", case.display());
            let name = case.file_stem().unwrap().to_str().unwrap();
            insta::assert_snapshot!(format!("fact__{probe}__{name}"), parsed);
            seen += 1;
        }
    }
    assert!(seen >= 14, "only {seen} fact fixtures");
}

#[test]
fn malformed_output_is_an_error_not_a_panic() {
    assert!(parse::path_state("type=file\nmode=xyz\n").is_err());
    assert!(parse::account("blog:x\n").is_err());
    assert!(parse::tree("modes=!!!\nsums=\n").is_err());
    assert!(parse::apache("layout=gentoo\n").is_err());
}
