//! Facts, purely: the gather script (snapshot), and every probe parser on raw output fixtures
//! in tests/fixtures/facts/<probe>/<case>.txt (Debian cases recorded from a real Debian 12
//! host by this test with WSGICTL_REGEN_FIXTURES=1; RHEL cases from RHEL's output formats).

use crate::support::*;
use std::process::Command;
use wsgictl::facts::{Probe, frame, parse, script};

/// A stand-in program: `text` written to `path`, mode 0755.
fn executable(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

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
    let same = dir.path().join("up to date.conf");
    std::fs::write(&same, "Listen 8080\n").unwrap();
    let private = dir.path().join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(
        &private,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    run_ok(
        Command::new("setfacl")
            .args(["-m", "u:nobody:--x"])
            .arg(&shared),
    );
    let link = dir.path().join("current");
    std::os::unix::fs::symlink("releases/1", &link).unwrap();
    // An app root with one release (its record, its code) that `current` points at.
    let app = dir.path().join("app");
    let id = "20261201T090102-3f2a9c";
    let release = app.join("releases").join(id);
    std::fs::create_dir_all(release.join("src")).unwrap();
    std::fs::write(release.join("src/wsgi.py"), "application = None\n").unwrap();
    std::fs::write(
        release.join(".wsgictl-release"),
        format!("id={id}\nsource=abc\ncreated=1796115662\nprepared\n"),
    )
    .unwrap();
    std::fs::create_dir_all(app.join("releases/20261201T100000-bbbbbb")).unwrap();
    std::os::unix::fs::symlink(format!("releases/{id}"), app.join("current")).unwrap();
    std::os::unix::fs::symlink(format!("releases/{id}/static"), app.join("static")).unwrap();
    // A real venv (no pip: quick) with a marker, one whose python does not run, none.
    let venv = dir.path().join("venv");
    run_ok(
        Command::new("/usr/bin/python3")
            .args(["-m", "venv", "--without-pip"])
            .arg(&venv),
    );
    std::fs::write(
        venv.join(".wsgictl-requirements"),
        "sha=c3f7bd\ninstalled=recorded\n",
    )
    .unwrap();
    let site = std::fs::read_dir(venv.join("lib"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("site-packages");
    std::fs::create_dir_all(site.join("pkg/__pycache__")).unwrap();
    std::fs::write(site.join("pkg/__init__.py"), "").unwrap();
    std::fs::write(site.join("pkg/__pycache__/x.pyc"), "").unwrap();
    std::fs::write(site.join("odd name.pth"), "").unwrap();
    let broken = dir.path().join("broken");
    std::fs::create_dir_all(broken.join("bin")).unwrap();
    std::fs::write(broken.join("pyvenv.cfg"), "home = /opt/python3.12/bin\n").unwrap();
    executable(
        &broken.join("bin/python"),
        "#!/bin/sh\necho 'error while loading shared libraries: libpython3.12.so' >&2\nexit 127\n",
    );
    let path = |p: &std::path::Path, want: Option<String>| Probe::Path {
        path: p.display().to_string(),
        want_sha256: want,
    };
    let probes = vec![
        Probe::System,
        Probe::Apache { confdir: None },
        path(&file, None),
        path(&dir.path().join("missing"), None),
        path(&same, Some(sha256_hex(b"Listen 8080\n"))),
        path(&private, None),
        path(&shared, None),
        path(&link, None),
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
            path: venv.display().to_string(),
        },
        Probe::Tree {
            path: tree.display().to_string(),
        },
        Probe::Venv {
            path: broken.display().to_string(),
        },
        Probe::Releases {
            root: app.display().to_string(),
            static_link: app.join("static").display().to_string(),
        },
        Probe::Venv {
            path: dir.path().join("no-venv").display().to_string(),
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
    // Read from the binary, as `-v` prints it.
    let v = String::from_utf8(run_ok(Command::new("/usr/sbin/apache2").arg("-v")).stdout).unwrap();
    assert_eq!(
        Some(apache.version.as_str()),
        v.lines().find_map(|l| l.strip_prefix("Server version: ")),
        "{v}"
    );
    assert!(
        apache
            .wsgi_python
            .as_deref()
            .is_some_and(|v| v.starts_with("3.")),
        "{apache:?}"
    );
    use wsgictl::facts::PathState;
    let at = |p: &std::path::Path| facts.paths[&p.display().to_string()].known().cloned();
    assert!(
        matches!(at(&file), Some(PathState::File { content: Some(c), .. }) if c == b"application = None\n")
    );
    assert!(
        matches!(at(&same), Some(PathState::File { content: None, sha256, .. }) if sha256 == sha256_hex(b"Listen 8080\n"))
    );
    assert_eq!(at(&dir.path().join("missing")), Some(PathState::Missing));
    assert!(
        matches!(at(&private), Some(PathState::Dir { mode: 0o700, acl, .. }) if acl.is_empty())
    );
    assert!(
        matches!(at(&shared), Some(PathState::Dir { acl, .. }) if acl.contains(&"user:nobody:--x".to_string()))
    );
    assert_eq!(
        at(&link),
        Some(PathState::Link {
            target: "releases/1".into()
        })
    );
    assert_eq!(facts.accounts["no-such-user-wsgictl"].known(), Some(&None));
    let root = facts.accounts["root"].known().unwrap().clone().unwrap();
    assert_eq!((root.uid, root.gid), (0, 0));
    assert!(root.groups.contains(&"root".to_string()), "{root:?}");
    let group = facts.groups["root"].known().unwrap().clone().unwrap();
    assert_eq!((group.name.as_str(), group.gid), ("root", 0));
    let files = facts.trees[&tree.display().to_string()]
        .known()
        .unwrap()
        .as_ref()
        .unwrap();
    let names: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(names, ["manage.py", "pkg/odd name.py"]);

    // The tree's and the release's fingerprints are what apply's `tree_fp` prints.
    let tree_fp = |d: &std::path::Path| {
        let out = run_ok(
            Command::new("sh")
                .arg("-c")
                .arg(format!("{}tree_fp \"$1\"", script::FINGERPRINTS))
                .arg("sh")
                .arg(d),
        );
        stdout(&out).trim().to_string()
    };
    assert_eq!(
        facts.fingerprints[&format!("tree {}", tree.display())],
        tree_fp(&tree)
    );
    let releases = facts.releases[&app.display().to_string()].known().unwrap();
    assert_eq!(releases.current_id(), Some(id));
    assert_eq!(releases.partial, ["20261201T100000-bbbbbb"]);
    let r = releases.get(id).unwrap();
    assert!(r.prepared && r.source == "abc", "{r:?}");
    assert_eq!(r.tree_now, tree_fp(&release.join("src")));

    // The venvs: what each is, and the digest and fingerprint apply's shell functions compute.
    let key = |p: &std::path::Path| p.display().to_string();
    let real = facts.venvs[&key(&venv)].known().unwrap().as_ref().unwrap();
    assert!(real.python.starts_with("3."), "{real:?}");
    assert_eq!(real.home.as_deref(), Some("/usr/bin"));
    assert_eq!(real.marker.as_deref(), Some("sha=c3f7bd"));
    assert_eq!(real.recorded.as_deref(), Some("recorded"));
    let shell = |f: &str| {
        let out = run_ok(
            Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "{}{}{f} \"$1\"",
                    script::SITE_DIGEST,
                    script::FINGERPRINTS
                ))
                .arg("sh")
                .arg(&venv),
        );
        stdout(&out).trim().to_string()
    };
    assert_eq!(
        real.installed.as_deref(),
        Some(shell("site_digest").as_str())
    );
    assert_eq!(
        facts.fingerprints[&format!("venv {}", key(&venv))],
        shell("venv_fp")
    );
    let bad = facts.venvs[&key(&broken)]
        .known()
        .unwrap()
        .as_ref()
        .unwrap();
    assert!(bad.python.contains("libpython3.12"), "{bad:?}");
    assert_eq!(bad.home.as_deref(), Some("/opt/python3.12/bin"));
    assert_eq!(
        facts.venvs[&key(&dir.path().join("no-venv"))].known(),
        Some(&None)
    );
    assert_eq!(
        facts.fingerprints[&format!("venv {}", key(&dir.path().join("no-venv")))],
        "missing"
    );

    if std::env::var_os("WSGICTL_REGEN_FIXTURES").is_some() {
        // One frame holds every path (the first Path probe's, index 2).
        let names = [
            (0, "system", "debian12"),
            (1, "apache", "debian12"),
            (2, "paths", "debian12"),
            (8, "account", "root"),
            (9, "account", "missing"),
            (10, "group", "root"),
            (11, "venvs", "debian12"),
            (12, "trees", "debian12"),
        ];
        for (i, probe, case) in names {
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
                "paths" => parse_paths(&raw),
                "account" => format!("{:#?}", parse::account(&raw)),
                "group" => format!("{:#?}", parse::group(&raw)),
                "venvs" => {
                    let venvs = wsgictl::facts::venvs::named(&raw);
                    format!("{:#?}", wsgictl::facts::venvs::parse(&raw, &venvs))
                }
                "trees" => {
                    // The recording's data: a tree, and an app root with its static link.
                    let tree = raw
                        .lines()
                        .find_map(|l| l.strip_prefix("F\t")?.split('\t').next());
                    let root = raw
                        .lines()
                        .find_map(|l| l.strip_prefix("X\t")?.split_once('\t').map(|x| x.1));
                    let mut items = Vec::new();
                    if let Some(t) = tree {
                        items.push(wsgictl::facts::trees::Item::Tree(t.to_string()));
                    }
                    if let Some((root, st)) = root.and_then(|r| r.split_once('\t')) {
                        items.push(wsgictl::facts::trees::Item::Releases {
                            root: root.into(),
                            static_link: st.into(),
                        });
                    }
                    let found = wsgictl::facts::trees::parse(&raw, &items);
                    // Temporary directory names differ between recordings.
                    let text = format!(
                        "{:#?}\n{:#?}",
                        found.trees.values().collect::<Vec<_>>(),
                        found.releases.values().collect::<Vec<_>>()
                    );
                    if found.trees.values().any(Result::is_err)
                        || found.releases.values().any(Result::is_err)
                    {
                        format!("Err(\n{text}")
                    } else {
                        text
                    }
                }
                other => panic!("no parser for fixture directory {other}"),
            };
            assert!(!parsed.starts_with("Err("), "{}: {parsed}", case.display());
            let name = case.file_stem().unwrap().to_str().unwrap();
            insta::assert_snapshot!(format!("fact__{probe}__{name}"), parsed);
            seen += 1;
        }
    }
    assert!(seen >= 9, "only {seen} fact fixtures");
}

/// A recorded pass: every path it printed, and one it did not (missing), sorted by name;
/// `Err(` first when one did not parse.
fn parse_paths(raw: &str) -> String {
    let mut paths: Vec<(String, Option<String>)> = raw
        .lines()
        .filter_map(|l| l.strip_prefix("P\t"))
        .filter_map(|l| l.split('\t').nth(5))
        .map(|p| (p.to_string(), None))
        .collect();
    paths.push(("/nonexistent/wsgictl".into(), None));
    let states = wsgictl::facts::paths::parse(raw, &paths);
    // Temporary directory names differ between recordings: the last component is the case.
    let named: Vec<String> = states
        .iter()
        .map(|(p, s)| format!("{}: {s:#?}", p.rsplit('/').next().unwrap()))
        .collect();
    let all = named.join("\n");
    if states.values().any(Result::is_err) {
        format!("Err(\n{all}")
    } else {
        all
    }
}

#[test]
fn malformed_output_is_an_error_not_a_panic() {
    let bad = wsgictl::facts::paths::parse(
        "P\tf\txyz\troot\troot\t1:1:1.0:1.0\t/a\t\nS\tnot-a-sha\t/a\n",
        &[("/a".into(), None)],
    );
    assert!(bad["/a"].is_err(), "{bad:?}");
    assert!(parse::account("blog:x\n").is_err());
    let items = [wsgictl::facts::trees::Item::Tree("/t".into())];
    let bad = wsgictl::facts::trees::parse("T\t0\tdir\nF\t/t\tno-mode-here\n", &items);
    assert!(bad.trees["/t"].is_err(), "{bad:?}");
    assert!(parse::apache("layout=gentoo\n").is_err());
}

/// Run a gather script under `strace -f`: its output and the programs it started, in the
/// order of their process ids. Each process is traced to a file of its own (`-ff`), read in
/// that order, so that the list does not depend on how programs running side by side (a
/// pipeline, the background job) happened to interleave.
fn traced(script: &str) -> (String, Vec<String>) {
    traced_with(script, &[])
}

/// `traced`, with `env` added to the script's environment.
fn traced_with(script: &str, env: &[(&str, &str)]) -> (String, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let (file, log) = (dir.path().join("gather.sh"), dir.path().join("trace"));
    std::fs::write(&file, script).unwrap();
    let out = run_ok(
        Command::new("strace")
            .args([
                "-ff",
                "-qq",
                "-e",
                "trace=execve",
                "-e",
                "signal=none",
                "-o",
            ])
            .arg(&log)
            .arg("sh")
            .arg(&file)
            .envs(env.iter().copied()),
    );
    let mut traces: Vec<(u32, String)> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            let pid = e
                .file_name()
                .to_str()?
                .strip_prefix("trace.")?
                .parse()
                .ok()?;
            Some((pid, std::fs::read_to_string(e.path()).unwrap()))
        })
        .collect();
    traces.sort();
    let programs = traces
        .iter()
        .flat_map(|(_, t)| crate::support::strace::execs(t))
        .collect();
    (String::from_utf8_lossy(&out.stdout).into_owned(), programs)
}

/// A Settings probe of app `i` below `dir` (`app{i}`: `src`, `venv`, `app.env`), its report
/// kept in `dir/kept/{i}`, not in the host's cache.
fn settings_probe(dir: &std::path::Path, i: usize, tls: bool) -> Probe {
    let app = dir.join(format!("app{i}"));
    let e = wsgictl::settings_check::Expect {
        app: format!("app{i}"),
        settings: "blog.settings".into(),
        env_file: app.join("app.env").display().to_string(),
        src: app.join("src").display().to_string(),
        code: app.display().to_string(),
        static_dir: app.join("static").display().to_string(),
        media_dir: None,
        data: None,
        served: vec![],
        tls,
        collectstatic: true,
        overlay: false,
    };
    let venv = app.join("venv").display().to_string();
    let data = wsgictl::facts::settings::data(&e, "root", &venv, &e.src);
    let cache = dir.join(format!("kept/{i}")).display().to_string();
    let mut fields: Vec<&str> = data.trim_end_matches('\n').split('\t').collect();
    fields[4] = &cache;
    Probe::Settings {
        app: e.app.clone(),
        data: format!("{}\n", fields.join("\t")),
    }
}

/// The Settings pass starts as many programs for six apps as for one once their reports are
/// kept, and runs the check again only for an app whose key changed: a source file, the env
/// file (same size and mtime, new content), or what is asked. A report with an error is
/// never kept. The venv's `python` here is a stand-in that logs each run.
#[test]
fn the_settings_pass_is_flat_in_the_number_of_apps_and_checks_again_only_what_changed() {
    use wsgictl::facts::Fact;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("runs");
    let app = |i: usize| dir.path().join(format!("app{i}"));
    for i in 0..6 {
        std::fs::create_dir_all(app(i).join("src/blog")).unwrap();
        std::fs::create_dir_all(app(i).join("venv/bin")).unwrap();
        std::fs::write(app(i).join("src/blog/settings.py"), "DEBUG = False\n").unwrap();
        std::fs::write(app(i).join("src/manage.py"), "# manage\n").unwrap();
        std::fs::write(app(i).join("venv/pyvenv.cfg"), "home = /usr/bin\n").unwrap();
        std::fs::write(app(i).join("app.env"), "SECRET_KEY=aaaa\n").unwrap();
        // App 5's settings do not load: an error report, never kept.
        let report = if i == 5 {
            r#"{"error": "ImportError: no"}"#
        } else {
            r#"{"problems": [], "debug": false}"#
        };
        let python = app(i).join("venv/bin/python");
        executable(
            &python,
            &format!(
                "#!/bin/sh\necho \"app{i} $PWD\" >> {}\necho 'settings={report}'\n",
                log.display()
            ),
        );
    }
    // App 6 has no venv yet.
    std::fs::create_dir_all(app(6).join("src")).unwrap();
    let probes = |n: usize, tls_of_1: bool| -> Vec<Probe> {
        let mut p = vec![Probe::System];
        for i in (0..n).chain([6]) {
            p.push(settings_probe(dir.path(), i, i == 1 && tls_of_1));
        }
        p
    };
    let runs = || -> Vec<String> {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        std::fs::remove_file(&log).ok();
        let mut r: Vec<String> = text
            .lines()
            .map(|l| l.split(' ').next().unwrap().to_string())
            .collect();
        r.sort();
        r
    };
    let gather = |p: &[Probe]| {
        let (out, progs) = traced(&script::build(p, "n"));
        (parse::facts("local", p, &frame::split(&out, "n")), progs)
    };

    let (facts, _) = gather(&probes(6, false));
    assert_eq!(runs(), ["app0", "app1", "app2", "app3", "app4", "app5"]);
    for i in 0..5 {
        match &facts.settings[&format!("app{i}")] {
            Fact::Known(Some(r)) => assert!(r.problems.is_empty() && r.error.is_none(), "{r:?}"),
            other => panic!("app{i}: {other:?}"),
        }
    }
    assert!(
        matches!(&facts.settings["app5"], Fact::Known(Some(r)) if r.error.is_some()),
        "{:?}",
        facts.settings["app5"]
    );
    assert!(
        matches!(&facts.settings["app6"], Fact::Known(None)),
        "{:?}",
        facts.settings["app6"]
    );
    // What is kept: the key, then the report.
    let text = std::fs::read_to_string(dir.path().join("kept/0")).unwrap();
    assert!(
        text.starts_with(char::is_alphanumeric) && text.contains("settings={"),
        "{text}"
    );

    // Kept: only the app with the error is checked again; five kept apps start what one does.
    gather(&probes(6, false));
    assert_eq!(runs(), ["app5"]);
    let (_, five) = gather(&probes(5, false));
    let (_, one) = gather(&probes(1, false));
    assert_eq!(runs(), Vec::<String>::new());
    assert_eq!(one, five, "1 app: {one:?}\n5 apps: {five:?}");
    assert_eq!(five.iter().filter(|p| *p == "find").count(), 1, "{five:?}");
    // The keys' texts go into the gather's own temporary directory: no second one.
    assert_eq!(
        (
            five.iter().filter(|p| *p == "mktemp").count(),
            five.iter().filter(|p| *p == "rm").count()
        ),
        (1, 1),
        "{five:?}"
    );

    // A source file, the env file's content alone, what is asked: each app checked again.
    std::fs::write(app(2).join("src/blog/settings.py"), "DEBUG = True\n").unwrap();
    let env = app(3).join("app.env");
    let mtime = std::fs::metadata(&env).unwrap().modified().unwrap();
    std::fs::write(&env, "SECRET_KEY=bbbb\n").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&env)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    gather(&probes(6, true));
    assert_eq!(runs(), ["app1", "app2", "app3", "app5"]);
    gather(&probes(6, true));
    assert_eq!(runs(), ["app5"]);
}

/// Reading 150 kept settings reports back costs the shell work linear in their size: the
/// pass once took each app's report out of all of them with `${verdicts#*…}`, which dash
/// matches against every prefix in turn (quadratic in the text, so cubic in the apps: 7 s of
/// a 50-app plan). Not a speed target (that is `tests/bench.sh`): the CPU limit here is
/// hundreds of times what the linear pass takes (about 0.1 s), and far below what the
/// quadratic one did.
#[test]
fn kept_settings_reports_of_many_apps_are_read_back_in_linear_shell_work() {
    use wsgictl::facts::Fact;
    const APPS: usize = 150;
    let dir = tempfile::tempdir().unwrap();
    let app = |i: usize| dir.path().join(format!("app{i}"));
    // A report of the size real ones have (a kilobyte: databases, hosts, origins).
    let hosts: Vec<String> = (0..20)
        .map(|k| format!("\"h{k}.blog.example.org\""))
        .collect();
    let report = |i: usize| {
        format!(
            r#"{{"django": "5.2.19", "wsgi_application": "blog.wsgi.application", "static_root": "{}", "databases": [{{"alias": "default", "engine": "django.db.backends.sqlite3", "name": "{}"}}], "debug": false, "allowed_hosts": [{}], "csrf_trusted_origins": ["https://app{i}.example.org"], "problems": []}}"#,
            app(i).join("static").display(),
            app(i).join("data/db.sqlite3").display(),
            hosts.join(", ")
        )
    };
    let mut probes = vec![Probe::System];
    for i in 0..APPS {
        std::fs::create_dir_all(app(i).join("src/blog")).unwrap();
        std::fs::create_dir_all(app(i).join("venv/bin")).unwrap();
        std::fs::write(app(i).join("src/blog/settings.py"), "DEBUG = False\n").unwrap();
        let python = app(i).join("venv/bin/python");
        executable(
            &python,
            &format!("#!/bin/sh\necho 'settings={}'\n", report(i)),
        );
        probes.push(settings_probe(dir.path(), i, false));
    }
    let script = dir.path().join("gather.sh");
    std::fs::write(&script, script::build(&probes, "n")).unwrap();
    // The first pass checks every app and keeps its report; the second reads them all back.
    for pass in ["checked", "kept"] {
        let o = Command::new("sh")
            .args(["-c", "ulimit -t 30 && exec sh \"$1\"", "sh"])
            .arg(&script)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{pass}: the gather used more than 30 s of CPU for {APPS} apps' settings ({:?})",
            o.status
        );
        let out = String::from_utf8(o.stdout).unwrap();
        let facts = parse::facts("local", &probes, &frame::split(&out, "n"));
        for i in 0..APPS {
            match &facts.settings[&format!("app{i}")] {
                Fact::Known(Some(r)) => assert_eq!(
                    (r.allowed_hosts.len(), r.csrf_trusted_origins.clone()),
                    (20, vec![format!("https://app{i}.example.org")]),
                    "{pass}: app{i}"
                ),
                Fact::Unknown { error }
                    if error.starts_with("exit status 137")
                        || error.starts_with("exit status 152") =>
                {
                    panic!(
                        "{pass}: the settings pass was killed at the CPU limit of 30 s for {APPS} apps"
                    )
                }
                other => panic!("{pass}: app{i}: {other:?}"),
            }
        }
    }
}

/// Every account's groups come from one `id -Gn` given them all; where `id` takes one
/// account only (coreutils before 8.31), from one `id` each, with the same answer.
#[test]
fn accounts_groups_come_from_one_id_or_one_each_where_it_takes_one() {
    let probes = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/facts/probes.sh"),
    )
    .unwrap();
    let stub = tempfile::tempdir().unwrap();
    let id = stub.path().join("id");
    executable(
        &id,
        "#!/bin/sh\n[ \"$1\" = -Gn ] && [ $# -gt 2 ] && { echo \"id: extra operand\" >&2; exit 1; }\nexec /usr/bin/id \"$@\"\n",
    );
    let run = |path: &str| {
        let out = run_ok(Command::new("sh").arg("-c").arg(format!(
            "{probes}\nPATH={path}\nprobe_accounts 'root\nno-such-user-wsgictl\nwww-data\n' 'root\nno-such-group-wsgictl\n'"
        )));
        let mut lines: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        lines.sort();
        lines
    };
    let system = std::env::var("PATH").unwrap();
    let all = run(&system);
    assert!(all.contains(&"N\troot\troot".to_string()), "{all:?}");
    assert!(
        all.contains(&"N\twww-data\twww-data".to_string()),
        "{all:?}"
    );
    assert!(
        all.iter().any(|l| l.starts_with("A\troot\troot:x:0:0:")),
        "{all:?}"
    );
    assert!(
        all.iter().any(|l| l.starts_with("G\troot\troot:x:0:")),
        "{all:?}"
    );
    assert!(!all.iter().any(|l| l.contains("no-such")), "{all:?}");
    assert_eq!(run(&format!("{}:{system}", stub.path().display())), all);
}

/// Apache's version is read from its binary (every run of Apache ends with a 10 ms sleep);
/// a binary that does not hold the string is asked with `-v`, as before.
#[test]
fn an_apache_binary_without_its_version_string_is_asked_with_dash_v() {
    let dir = tempfile::tempdir().unwrap();
    let httpd = dir.path().join("httpd");
    executable(
        &httpd,
        "#!/bin/sh\nfor a; do [ \"$a\" = -v ] && printf 'Server version: Apache/2.4.99 (Test)\\nServer built: now\\n'; done\nexit 0\n",
    );
    std::fs::write(
        dir.path().join("envvars"),
        format!("APACHE_HTTPD={}\n", httpd.display()),
    )
    .unwrap();
    let probes = vec![Probe::Apache {
        confdir: Some(dir.path().display().to_string()),
    }];
    let out = run_ok(
        Command::new("sh")
            .arg("-c")
            .arg(script::build(&probes, "n")),
    );
    let facts = parse::facts(
        "local",
        &probes,
        &frame::split(&String::from_utf8_lossy(&out.stdout), "n"),
    );
    let apache = facts.apache.known().unwrap().as_ref().unwrap();
    assert_eq!(apache.version, "Apache/2.4.99 (Test)");
}

/// The Path pass starts as many programs for 60 files as for one, and a file whose inode,
/// size, mtime and ctime the cache still holds is not read again (acceptance: the gather's
/// process count is flat in the number of managed files).
#[test]
fn the_path_pass_is_flat_in_the_number_of_files_and_rereads_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let cache = state.join("sums").display().to_string();
    let mut files = Vec::new();
    for i in 0..60 {
        let f = dir.path().join(format!("f{i}.conf"));
        std::fs::write(&f, format!("line {i}\n")).unwrap();
        files.push((f, sha256_hex(format!("line {i}\n").as_bytes())));
    }
    let probes = |n: usize, cache: Option<&str>| -> Vec<Probe> {
        let mut p = vec![Probe::System];
        p.extend(cache.map(|c| Probe::SumsCache { file: c.into() }));
        p.push(Probe::Path {
            path: dir.path().display().to_string(),
            want_sha256: None,
        });
        for (f, sha) in &files[..n] {
            p.push(Probe::Path {
                path: f.display().to_string(),
                want_sha256: Some(sha.clone()),
            });
        }
        p
    };
    let count = |progs: &[String]| progs.len();
    let (_, one) = traced(&script::build(&probes(1, None), "n"));
    let (out, sixty) = traced(&script::build(&probes(60, None), "n"));
    assert_eq!(
        count(&one),
        count(&sixty),
        "1 file: {one:?}\n60 files: {sixty:?}"
    );
    assert_eq!(
        sixty.iter().filter(|p| *p == "sha256sum").count(),
        1,
        "{sixty:?}"
    );
    let facts = parse::facts("local", &probes(60, None), &frame::split(&out, "n"));
    assert!(
        facts.processes.is_some_and(|n| n as usize >= sixty.len()),
        "{:?} < {}",
        facts.processes,
        sixty.len()
    );

    // Files changed in the last two seconds are not cached (their ctime could still move
    // within the same tick); once older, one pass records them and the next reads none. The
    // pass compares whole seconds (`ctime + 2 < now`), so "older" takes three of them: after
    // 2.5 s it held only for files written late in their second (the test failed at times).
    std::thread::sleep(std::time::Duration::from_millis(3100));
    let all = probes(60, Some(&cache));
    traced(&script::build(&all, "n"));
    let (out, progs) = traced(&script::build(&all, "n"));
    assert!(!progs.iter().any(|p| p == "sha256sum"), "{progs:?}");
    let facts = parse::facts("local", &all, &frame::split(&out, "n"));
    let sha = |f: &std::path::Path| match facts.paths[&f.display().to_string()].known() {
        Some(wsgictl::facts::PathState::File {
            sha256, content, ..
        }) => (sha256.clone(), content.is_some()),
        other => panic!("{other:?}"),
    };
    assert_eq!(sha(&files[7].0), (files[7].1.clone(), false));

    // The same size, a new content: read again, and its content sent (it is not the wanted).
    std::fs::write(&files[7].0, "line X\n").unwrap();
    let (out, progs) = traced(&script::build(&all, "n"));
    assert!(progs.iter().any(|p| p == "sha256sum"), "{progs:?}");
    let facts = parse::facts("local", &all, &frame::split(&out, "n"));
    let got = match facts.paths[&files[7].0.display().to_string()].known() {
        Some(wsgictl::facts::PathState::File {
            sha256, content, ..
        }) => (sha256.clone(), content.clone()),
        other => panic!("{other:?}"),
    };
    assert_eq!(got, (sha256_hex(b"line X\n"), Some(b"line X\n".to_vec())));
    // The cache is the state directory's, private, and names no content.
    let meta = std::fs::metadata(&cache).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
    assert!(!std::fs::read_to_string(&cache).unwrap().contains("line"));
}

/// The file in state directory `dir` that keeps Apache's answer (`facts::apache::cache`).
fn kept_apache(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("apache-")
        })
}

/// Apache's answer (its run, its two `awk`s and `grep`s) is kept in the state directory and
/// given again while nothing it was made of moved, and each thing it was made of is seen at
/// once when it does: a site file in a directory an `Include` pattern reads, a `Listen` in a
/// new file of the empty `conf-enabled/`, an edit of `ports.conf`, `envvars`, and a variable
/// of the environment the configuration names. Whether Apache's user can enter the run
/// directory is asked every time.
#[test]
fn apaches_answer_is_kept_until_something_it_was_made_of_changes() {
    let apache = crate::support::apache::ApacheInstance::new();
    let conf = apache.confdir().to_path_buf();
    let state = tempfile::tempdir().unwrap();
    std::fs::write(
        conf.join("sites-enabled/named.conf"),
        "<VirtualHost *:80>\n    ServerName ${WSGICTL_TEST_NAME}\n</VirtualHost>\n",
    )
    .unwrap();
    let probes = vec![
        Probe::SumsCache {
            file: state.path().join("sums").display().to_string(),
        },
        Probe::Apache {
            confdir: Some(conf.display().to_string()),
        },
    ];
    let text = script::build(&probes, "n");
    let gather = |name: &str| -> (wsgictl::facts::Apache, Vec<String>) {
        let (out, progs) = traced_with(&text, &[("WSGICTL_TEST_NAME", name)]);
        let facts = parse::facts("local", &probes, &frame::split(&out, "n"));
        let a = facts.apache.known().cloned().flatten();
        (a.unwrap_or_else(|| panic!("{out}")), progs)
    };
    let ran = |progs: &[String]| progs.iter().any(|p| p == "apache2");
    let names = |a: &wsgictl::facts::Apache| -> Vec<String> {
        let mut n: Vec<String> = a.vhosts.iter().map(|(_, n, _)| n.clone()).collect();
        n.sort();
        n
    };
    // A cache of the state as it is, and a hit on it: what changes next must be seen.
    let kept = || {
        // Files changed in the last two seconds are not kept (see the Path pass's test).
        std::thread::sleep(std::time::Duration::from_millis(3100));
        let (first, _) = gather("a.example");
        let (again, progs) = gather("a.example");
        // (Nor `id`: the prelude reads its uid from /proc.)
        for p in ["apache2", "awk", "grep", "id"] {
            assert!(!progs.iter().any(|x| x == p), "{p} ran: {progs:?}");
        }
        assert_eq!(again, first);
        first
    };

    let before = kept();
    assert_eq!(names(&before), ["a.example"]);
    assert_eq!(before.user.as_deref(), Some("www-data"));
    assert!(before.modules.contains("wsgi_module"), "{before:?}");
    // Asked every time: the run directory closed to www-data.
    let run = conf.join("run");
    std::fs::set_permissions(&run, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let (closed, progs) = gather("a.example");
    std::fs::set_permissions(&run, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    assert!(!ran(&progs), "{progs:?}");
    assert!(
        closed
            .run_dir_denied
            .as_deref()
            .is_some_and(|d| d.starts_with("drwx------")),
        "{closed:?}"
    );

    // What changes after a hit is seen at once: Apache runs again, and its answer is new.
    let after = |change: &dyn Fn(), name: &str| {
        kept();
        change();
        let (after, progs) = gather(name);
        assert!(ran(&progs), "{progs:?}");
        after
    };
    let write = |f: &str, text: &str| std::fs::write(conf.join(f), text).unwrap();
    // A new site in sites-enabled/.
    let site = "<VirtualHost *:80>\n    ServerName b.example\n</VirtualHost>\n";
    let a = after(&|| write("sites-enabled/b.conf", site), "a.example");
    assert_eq!(names(&a), ["a.example", "b.example"]);
    // A Listen in a new file of conf-enabled/, empty until now.
    let listen = || write("conf-enabled/extra.conf", "Listen 127.0.0.1:18123\n");
    let a = after(&listen, "a.example");
    assert!(a.listen_ports.contains(&18123), "{a:?}");
    // ports.conf edited in place.
    let a = after(&|| write("ports.conf", "Listen 18124\n"), "a.example");
    assert!(a.listen_ports.contains(&18124), "{a:?}");
    // envvars: another run user.
    let envvars = std::fs::read_to_string(conf.join("envvars")).unwrap();
    let user = envvars.replace("APACHE_RUN_USER=www-data", "APACHE_RUN_USER=nobody");
    let a = after(&|| write("envvars", &user), "a.example");
    assert_eq!(a.user.as_deref(), Some("nobody"));
    // The environment: the variable the site names, and no other variable kept.
    let after = after(&|| (), "c.example");
    assert!(
        names(&after).contains(&"c.example".to_string()),
        "{after:?}"
    );
    let cache = kept_apache(state.path()).expect("the answer is kept in the state directory");
    let meta = std::fs::metadata(&cache).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
    let kept_text = std::fs::read_to_string(&cache).unwrap();
    assert!(kept_text.contains("WSGICTL_TEST_NAME="), "{kept_text}");
    assert!(!kept_text.contains("export HOME="), "{kept_text}");
}

/// The passes' caches (the files' sha256, the pythons' and Apache's answers) are read and
/// written only in a real directory the gather's account owns: a cache planted in a directory
/// someone else owns, or reached through a link, is neither believed nor written to.
#[test]
fn a_cache_is_read_and_written_only_in_a_directory_this_account_owns() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("site.conf");
    std::fs::write(&file, "real\n").unwrap();
    let key = run_ok(Command::new("find").arg(&file).args([
        "-maxdepth",
        "0",
        "-printf",
        "%i:%s:%T@:%C@",
    ]));
    let key = String::from_utf8(key.stdout).unwrap();
    let forged = sha256_hex(b"forged\n");
    let planted = format!("{key}\t{forged}\t{}\n", file.display());
    let (owned, foreign, linked) = (
        dir.path().join("owned"),
        dir.path().join("foreign"),
        dir.path().join("linked"),
    );
    for d in [&owned, &foreign] {
        std::fs::create_dir(d).unwrap();
        std::fs::write(d.join("sums"), &planted).unwrap();
    }
    std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).unwrap();
    std::os::unix::fs::symlink(&owned, &linked).unwrap();
    let gather = |state: &std::path::Path| -> String {
        let probes = [
            Probe::SumsCache {
                file: state.join("sums").display().to_string(),
            },
            Probe::Path {
                path: file.display().to_string(),
                want_sha256: None,
            },
            Probe::Interpreter {
                path: "/usr/bin/python3".into(),
            },
            Probe::Apache { confdir: None },
        ];
        let out = run_ok(
            Command::new("sh")
                .arg("-c")
                .arg(script::build(&probes, "n")),
        );
        let out = String::from_utf8_lossy(&out.stdout).into_owned();
        let facts = parse::facts("local", &probes, &frame::split(&out, "n"));
        assert!(
            facts.interpreters["/usr/bin/python3"].known().is_some(),
            "{out}"
        );
        match facts.paths[&file.display().to_string()].known() {
            Some(wsgictl::facts::PathState::File { sha256, .. }) => sha256.clone(),
            other => panic!("{other:?}\n{out}"),
        }
    };
    let real = sha256_hex(b"real\n");
    for d in [&foreign, &linked] {
        assert_eq!(gather(d), real, "{}", d.display());
        assert_eq!(
            std::fs::read_to_string(d.join("sums")).unwrap(),
            planted,
            "{}",
            d.display()
        );
        assert!(!d.join("pythons").exists(), "{}", d.display());
        assert!(kept_apache(d).is_none(), "{}", d.display());
    }
    // The same planted line where the account owns the directory is believed (what makes the
    // refusals above mean something), and the pythons' answers are kept there.
    assert_eq!(gather(&owned), forged);
    assert!(owned.join("pythons").exists());
    // Apache's answer (the system's /etc/apache2, unchanged for seconds).
    assert!(kept_apache(&owned).is_some());
}

/// One run of an interpreter tells its version and whether it can make a venv: a Python
/// whose standard library has no `ensurepip` (Debian without `python3-venv`) says
/// `venv=no`, one that does not run is missing, and each binary runs once: a venv made with
/// the system's interpreter shares that interpreter's run.
#[test]
fn an_interpreter_is_run_once_and_says_whether_it_can_make_a_venv() {
    let dir = tempfile::tempdir().unwrap();
    let (without, _) = python_without_ensurepip(dir.path());
    let broken = dir.path().join("python-broken");
    executable(&broken, "#!/bin/sh\nexit 1\n");
    let probe = |p: &std::path::Path| Probe::Interpreter {
        path: p.display().to_string(),
    };
    // A venv as `python3 -m venv` makes it: bin/python a link to the interpreter.
    let venv = dir.path().join("venv");
    std::fs::create_dir_all(venv.join("bin")).unwrap();
    std::fs::write(venv.join("pyvenv.cfg"), "home = /usr/bin\n").unwrap();
    std::os::unix::fs::symlink("/usr/bin/python3", venv.join("bin/python")).unwrap();
    let probes = [
        probe(std::path::Path::new("/usr/bin/python3")),
        Probe::Venv {
            path: venv.display().to_string(),
        },
        probe(&without),
        probe(&broken),
    ];
    let nonce = "0123456789abcdef";
    let (out, programs) = traced(&script::build(&probes, nonce));
    let facts = parse::facts("local", &probes, &frame::split(&out, nonce));
    let key = |p: &Probe| match p {
        Probe::Interpreter { path } => path.clone(),
        _ => unreachable!(),
    };
    let (system, without, broken) = (key(&probes[0]), key(&probes[2]), key(&probes[3]));
    let made = facts.venvs[&venv.display().to_string()].clone();
    assert_eq!(
        made.known().unwrap().as_ref().map(|v| v.python.clone()),
        facts.interpreters[&system].known().unwrap().clone(),
        "{out}"
    );
    assert!(
        facts.interpreters[&system]
            .known()
            .unwrap()
            .as_ref()
            .is_some_and(|v| v.starts_with("3.")),
        "{out}"
    );
    assert_eq!(
        facts.interpreter_venv[&system].known(),
        Some(&true),
        "{out}"
    );
    assert!(
        facts.interpreters[&without].known().unwrap().is_some(),
        "{out}"
    );
    assert_eq!(
        facts.interpreter_venv[&without].known(),
        Some(&false),
        "{out}"
    );
    assert_eq!(facts.interpreters[&broken].known(), Some(&None), "{out}");
    // The system's binary (through the venv's link, which came first) and the copy.
    let pythons = programs
        .iter()
        .filter(|p| p.starts_with("python") && *p != "python-broken")
        .count();
    assert_eq!(pythons, 2, "{programs:?}");
}

/// Debian without python3-venv: the system's Python binary copied to `dir/bin/python3`,
/// beside a standard library of its own (`dir/lib/python3.X`, returned second) that holds
/// everything of the system's but `ensurepip` (Python finds its library from where its
/// binary is, by `lib/python3.X/os.py`).
fn python_without_ensurepip(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let real = std::fs::canonicalize("/usr/bin/python3").unwrap();
    let version = real.file_name().unwrap().to_str().unwrap().to_string();
    let stdlib = std::path::Path::new("/usr/lib").join(&version);
    let lib = dir.join("lib").join(&version);
    std::fs::create_dir_all(&lib).unwrap();
    for e in std::fs::read_dir(&stdlib).unwrap().flatten() {
        if e.file_name() != "ensurepip" {
            std::os::unix::fs::symlink(e.path(), lib.join(e.file_name())).unwrap();
        }
    }
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    let without = dir.join("bin/python3");
    std::fs::copy(&real, &without).unwrap();
    std::fs::set_permissions(
        &without,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    (without, lib)
}

/// A Python binary's answer is kept in the state directory under its stat: the next gather
/// does not run it and reads whether it can make a venv from its standard library as that
/// is now; once the binary changes, it runs again. A venv's own copy of a binary (its
/// `pyvenv.cfg` beside `bin/`) is never kept, and neither is a binary changed in the last two
/// seconds.
#[test]
fn a_pythons_answer_is_kept_until_its_binary_changes_and_its_library_is_read_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let (without, lib) = python_without_ensurepip(&dir.path().join("debian"));
    // `python3 -m venv --copies`: bin/python a copy, its library named by pyvenv.cfg.
    let copies = dir.path().join("copies");
    std::fs::create_dir_all(copies.join("bin")).unwrap();
    std::fs::write(copies.join("pyvenv.cfg"), "home = /usr/bin\n").unwrap();
    std::fs::copy("/usr/bin/python3", copies.join("bin/python")).unwrap();
    let interpreter = |p: &std::path::Path| Probe::Interpreter {
        path: p.display().to_string(),
    };
    let probes = [
        Probe::SumsCache {
            file: state.join("sums").display().to_string(),
        },
        interpreter(std::path::Path::new("/usr/bin/python3")),
        interpreter(&without),
        Probe::Venv {
            path: copies.display().to_string(),
        },
    ];
    let (system, debian) = (
        "/usr/bin/python3".to_string(),
        without.display().to_string(),
    );
    let gather = || {
        let (out, programs) = traced(&script::build(&probes, "n"));
        let facts = parse::facts("local", &probes, &frame::split(&out, "n"));
        let runs = programs.iter().filter(|p| p.starts_with("python")).count();
        let answer = |k: &String| {
            (
                facts.interpreters[k].known().unwrap().clone(),
                *facts.interpreter_venv[k].known().unwrap(),
            )
        };
        let copy = facts.venvs[&copies.display().to_string()]
            .known()
            .unwrap()
            .as_ref()
            .map(|v| v.python.clone());
        (runs, answer(&system), answer(&debian), copy, out)
    };
    // Each binary runs; the system's is kept, the copies just written are not.
    let (runs, sys_a, deb_a, copy_a, out) = gather();
    assert_eq!(runs, 3, "{out}");
    assert!(
        sys_a.0.as_deref().is_some_and(|v| v.starts_with("3.")) && sys_a.1,
        "{out}"
    );
    assert_eq!(
        (deb_a.0.as_ref(), deb_a.1),
        (sys_a.0.as_ref(), false),
        "{out}"
    );
    assert_eq!(copy_a, sys_a.0, "{out}");
    let kept = std::fs::read_to_string(state.join("pythons")).unwrap_or_default();
    let real = std::fs::canonicalize("/usr/bin/python3").unwrap();
    assert!(kept.contains(&format!("\t{}\t", real.display())), "{kept}");
    assert!(!kept.contains(&debian), "{kept}");

    std::thread::sleep(std::time::Duration::from_millis(3100));
    let (runs, ..) = gather();
    assert_eq!(
        runs, 2,
        "the copies are old enough now: they run, Debian's is kept"
    );
    let (runs, sys_b, deb_b, copy_b, out) = gather();
    assert_eq!(runs, 1, "only the venv's own copy runs: {out}");
    assert_eq!(
        (&sys_b, &deb_b, &copy_b),
        (&sys_a, &deb_a, &copy_a),
        "{out}"
    );
    let meta = std::fs::metadata(state.join("pythons")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );

    // python3-venv installed since: read from the library, without running the binary.
    let system_lib = std::path::Path::new("/usr/lib").join(lib.file_name().unwrap());
    std::os::unix::fs::symlink(system_lib.join("ensurepip"), lib.join("ensurepip")).unwrap();
    let (runs, _, deb_c, ..) = gather();
    assert_eq!((runs, deb_c.1), (1, true));

    // A new binary at the same path (an upgrade): it runs again.
    std::fs::remove_file(&without).unwrap();
    executable(&without, "#!/bin/sh\necho 'version=3.99.1'; echo venv=no\n");
    let (runs, _, deb_d, ..) = gather();
    assert_eq!(runs, 2, "the new binary and the copy");
    assert_eq!(deb_d, (Some("3.99.1".to_string()), false));
}

/// The venvs' and releases' small files are read whole, by the passes' `awk`, not a line at a
/// time by the shell: dash's `read` takes one system call per byte, which made those two
/// passes a millisecond slower per kilobyte of records. Their answers are the same.
#[test]
fn the_venvs_and_releases_files_are_not_read_a_byte_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let pad: String = (0..40)
        .map(|k| format!("# padding line {k:02} of this file\n"))
        .collect();
    let mut probes = vec![];
    for a in 0..3 {
        let app = dir.path().join(format!("app{a}"));
        for r in 0..3 {
            let id = format!("20261201T09010{r}-3f2a9{a}");
            let rel = app.join("releases").join(&id);
            std::fs::create_dir_all(rel.join("src")).unwrap();
            std::fs::write(
                rel.join(".wsgictl-release"),
                format!("id={id}\nsource=s{a}{r}\ncreated=1796115662\n{pad}prepared\n"),
            )
            .unwrap();
        }
        probes.push(Probe::Releases {
            root: app.display().to_string(),
            static_link: app.join("static").display().to_string(),
        });
        let venv = dir.path().join(format!("venv{a}"));
        std::fs::create_dir_all(venv.join("bin")).unwrap();
        std::os::unix::fs::symlink("/usr/bin/python3", venv.join("bin/python")).unwrap();
        std::fs::write(venv.join("pyvenv.cfg"), format!("{pad}home = /usr/bin\n")).unwrap();
        std::fs::write(
            venv.join(".wsgictl-requirements"),
            format!("sha=m{a}\n{pad}installed=i{a}\n"),
        )
        .unwrap();
        probes.push(Probe::Venv {
            path: venv.display().to_string(),
        });
    }
    let text = script::build(&probes, "n");
    let trace = dir.path().join("reads");
    let out = run_ok(
        Command::new("strace")
            .args(["-f", "-qq", "-e", "trace=read", "-e", "signal=none", "-o"])
            .arg(&trace)
            .args(["sh", "-c", &text]),
    );
    // 9 records and 6 venv files of about 1.4 kB each: 20 kB a byte at a time before.
    let single = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .filter(|l| l.contains(", 1)") && l.trim_end().ends_with("= 1"))
        .count();
    assert!(single < 2000, "{single} one-byte reads");
    let facts = parse::facts(
        "local",
        &probes,
        &frame::split(&String::from_utf8_lossy(&out.stdout), "n"),
    );
    for a in 0..3 {
        let app = dir.path().join(format!("app{a}")).display().to_string();
        let releases = facts.releases[&app].known().unwrap();
        assert_eq!(releases.releases.len(), 3, "{releases:?}");
        for (r, rel) in releases.releases.iter().enumerate() {
            assert!(rel.prepared && rel.source == format!("s{a}{r}"), "{rel:?}");
        }
        let v = dir.path().join(format!("venv{a}")).display().to_string();
        let venv = facts.venvs[&v].known().unwrap().as_ref().unwrap();
        assert_eq!(venv.home.as_deref(), Some("/usr/bin"));
        assert_eq!(venv.marker.as_deref(), Some(format!("sha=m{a}").as_str()));
        assert_eq!(venv.recorded.as_deref(), Some(format!("i{a}").as_str()));
    }
}

/// The sweep of killed applies' backups starts no program when there is none (the usual
/// case), leaves them alone while an apply holds the lock, and removes them once none does.
#[test]
fn the_leftovers_sweep_starts_nothing_without_leftovers_and_waits_for_a_running_apply() {
    let run_dir = tempfile::tempdir().unwrap();
    let lock = run_dir.path().join("lock");
    let backups = run_dir.path().join("backup.");
    let probes = [Probe::Leftovers {
        lock: lock.display().to_string(),
        prefix: backups.display().to_string(),
        run_dir: run_dir.path().display().to_string(),
    }];
    let text = script::build(&probes, "n");
    let sweep = || {
        let (out, progs) = traced(&text);
        let facts = parse::facts("local", &probes, &frame::split(&out, "n"));
        (facts.leftovers_removed, progs)
    };
    let (removed, progs) = sweep();
    assert_eq!(removed, Some(0));
    for p in ["flock", "chmod", "mkdir"] {
        assert!(!progs.iter().any(|x| x == p), "{p} ran: {progs:?}");
    }

    let left = std::path::PathBuf::from(format!("{}a1b2c3", backups.display()));
    std::fs::create_dir(&left).unwrap();
    std::fs::write(left.join("app.env"), "SECRET=x\n").unwrap();
    // An apply holds the lock: nothing is removed, and the answer says so.
    // (`-o`: the lock is flock's own, not its command's, so killing flock releases it.)
    let mut holder = Command::new("flock")
        .arg("-o")
        .arg(&lock)
        .args(["sleep", "60"])
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while Command::new("flock")
        .args(["-n"])
        .arg(&lock)
        .arg("true")
        .status()
        .unwrap()
        .success()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the lock was never taken"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (removed, _) = sweep();
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert_eq!(removed, None, "busy");
    assert!(left.join("app.env").exists());
    let (removed, _) = sweep();
    assert_eq!(removed, Some(1));
    assert!(!left.exists());
}

/// Apache, the reach checks and the leftovers sweep run beside the other probes, their frames
/// kept in a temporary directory; where none can be made, they run in place instead, with
/// the same answers, and nothing is left behind either way.
#[test]
fn apache_runs_beside_the_other_probes_and_in_place_without_a_temporary_file() {
    let run_dir = tempfile::tempdir().unwrap();
    let backups = run_dir.path().join("backup.");
    let probes = [
        Probe::Apache { confdir: None },
        Probe::System,
        Probe::Interpreter {
            path: "/usr/bin/python3".into(),
        },
        Probe::Account {
            name: "root".into(),
        },
        Probe::Reach {
            user: "nobody".into(),
            path: "/usr/bin/python3".into(),
        },
        Probe::Leftovers {
            lock: run_dir.path().join("lock").display().to_string(),
            prefix: backups.display().to_string(),
            run_dir: run_dir.path().display().to_string(),
        },
    ];
    let nonce = "feedfacecafe0001";
    let run = |prefix: &str| {
        let text = format!("{prefix}{}", script::build(&probes, nonce));
        let mut t = wsgictl::transport::local::LocalTransport::new("local");
        let out = wsgictl::transport::Transport::run_script(&mut t, &text, false).unwrap();
        let frames = frame::split(&String::from_utf8_lossy(&out.output), nonce);
        let facts = parse::facts("local", &probes, &frames);
        let apache = facts.apache.known().unwrap().clone().expect("apache");
        assert!(apache.modules.contains("wsgi_module"), "{apache:?}");
        assert!(facts.accounts.contains_key("root"), "{facts:?}");
        let python = facts.interpreters.get("/usr/bin/python3").cloned();
        assert!(
            matches!(&python, Some(wsgictl::facts::Fact::Known(Some(v))) if v.starts_with("3.")),
            "{python:?}"
        );
        let reach = facts.reach["nobody /usr/bin/python3"].clone();
        assert!(reach.known().is_some(), "{reach:?}");
        // A killed apply's backup, swept (no apply holds the lock).
        assert_eq!(facts.leftovers_removed, Some(1), "{facts:?}");
        format!("{apache:?} {python:?} {reach:?}")
    };
    let backup = || std::fs::create_dir_all(format!("{}x1y2z3", backups.display())).unwrap();
    backup();
    let beside = run("");
    backup();
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("none");
    let in_place = run(&format!("TMPDIR={}; export TMPDIR\n", missing.display()));
    assert_eq!(beside, in_place);
    // Nothing is left behind: the temporary directory goes once its frames are printed (a
    // file or directory of `mktemp` holding this test's frames would be one left).
    let ours = |p: &std::path::Path| std::fs::read_to_string(p).is_ok_and(|t| t.contains(nonce));
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("tmp."))
        .filter(|e| {
            ours(&e.path())
                || std::fs::read_dir(e.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                    .any(|f| ours(&f.path()))
        })
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A reach check answers with the credentials Apache and mod_wsgi's daemons run with: the
/// account's uid, primary group and supplementary groups (setgid, initgroups, setuid). A
/// directory only a supplementary group may enter is reached by its member and not by
/// another account, with `setpriv` and with the `runuser` fallback alike.
#[test]
fn a_reach_check_takes_the_groups_the_daemons_get_with_or_without_setpriv() {
    let (user, group) = ("wsgictl-reach", "wsgictl-reachx");
    {
        let _guard = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        let exists = |db: &str, name: &str| {
            Command::new("getent")
                .args([db, name])
                .output()
                .is_ok_and(|o| o.status.success())
        };
        if !exists("group", group) {
            run_ok(Command::new("groupadd").args(["--system", group]));
        }
        if !exists("passwd", user) {
            run_ok(Command::new("useradd").args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                "--groups",
                group,
                user,
            ]));
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let closed = tmp.path().join("closed");
    std::fs::create_dir(&closed).unwrap();
    run_ok(Command::new("chgrp").arg(group).arg(&closed));
    std::fs::set_permissions(&closed, std::os::unix::fs::PermissionsExt::from_mode(0o750)).unwrap();
    let target = closed.join("app.wsgi");
    executable(&target, "# the script\n");
    let target = target.display().to_string();
    let probes: Vec<Probe> = [user, "nobody", "wsgictl-no-such-account"]
        .iter()
        .map(|u| Probe::Reach {
            user: u.to_string(),
            path: target.clone(),
        })
        .collect();
    let nonce = "feedfacecafe0002";
    let answers = |text: String| {
        let mut t = wsgictl::transport::local::LocalTransport::new("local");
        let out = wsgictl::transport::Transport::run_script(&mut t, &text, false).unwrap();
        let frames = frame::split(&String::from_utf8_lossy(&out.output), nonce);
        let facts = parse::facts("local", &probes, &frames);
        [user, "nobody", "wsgictl-no-such-account"].map(|u| {
            let r = facts.reach[&format!("{u} {target}")].clone();
            format!("{:?}", r.known().expect("a reach answer"))
        })
    };
    let text = script::build(&probes, nonce);
    assert!(text.contains("setpriv --reuid"), "{text}");
    let with = answers(text.clone());
    assert!(with[0].contains("Ok"), "{with:?}");
    let denied = format!("{}", closed.display());
    assert!(
        with[1].contains("Denied") && with[1].contains(&denied),
        "{with:?}"
    );
    assert!(
        with[2].contains("as_nobody: true") && with[2].contains(&denied),
        "{with:?}"
    );
    // Where util-linux has no setpriv: runuser, the same answers.
    let without = answers(text.replace("command -v setpriv", "command -v setpriv-not-here"));
    assert_eq!(with, without);
}
