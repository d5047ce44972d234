//! Planning is a pure function of desired state and facts: fixture facts in, snapshot out,
//! no-op reasons included; and a fact that could not be read fails the plan.

use crate::support::*;
use std::collections::BTreeMap;
use wsgictl::facts::{Account, Fact, Facts, Group, PathState, TreeFile, Venv};
use wsgictl::render::{HostEnv, render_host};

pub(crate) struct World {
    pub(crate) desired: wsgictl::desired::DesiredState,
    sources: BTreeMap<String, Vec<wsgictl::source::SourceFile>>,
    secrets: BTreeMap<String, Vec<String>>,
}

pub(crate) fn world() -> World {
    let m = wsgictl::manifest::load(&fixture("manifests/ok/two-apps-one-host.kdl")).unwrap();
    let templates = wsgictl::templates::Templates::load(None).unwrap();
    let env = HostEnv::assumed(&m.hosts[0]);
    let desired = render_host(&m, &m.hosts[0], &templates, &env, None, &|_| {
        Some(KNOWN_SECRET.into())
    })
    .unwrap();
    let sources = scan_sources(&desired);
    let secrets = m
        .apps
        .iter()
        .map(|a| {
            (
                a.name.value.clone(),
                a.secrets.iter().map(|s| s.name.clone()).collect(),
            )
        })
        .collect();
    World {
        desired,
        sources,
        secrets,
    }
}

/// Each app's local source files, as the plan scans them.
fn scan_sources(
    desired: &wsgictl::desired::DesiredState,
) -> BTreeMap<String, Vec<wsgictl::source::SourceFile>> {
    desired
        .sources
        .iter()
        .map(|s| {
            (
                s.app.clone(),
                wsgictl::source::scan(&s.local, &s.exclude).unwrap(),
            )
        })
        .collect()
}

fn empty_facts(w: &World) -> Facts {
    let mut f = Facts::empty("web1");
    f.system = Fact::Unknown {
        error: "not needed".into(),
    };
    f.apache = Fact::Known(None);
    f.paths.insert(
        w.desired.reload_marker.clone(),
        Fact::Known(PathState::Missing),
    );
    // No step owed by an earlier apply.
    for h in &w.desired.hooks {
        f.paths.insert(
            w.desired.owed(&h.app, h.name.name()),
            Fact::Known(PathState::Missing),
        );
    }
    for a in w.desired.files.iter().filter_map(|x| x.app.as_deref()) {
        f.paths
            .insert(w.desired.owed(a, "touch"), Fact::Known(PathState::Missing));
    }
    // The way down to the apps: every ancestor exists, 0755 root:root; www-data exists.
    for a in &w.desired.access {
        for dir in std::path::Path::new(&a.path).ancestors().skip(1) {
            let dir_state = PathState::Dir {
                mode: 0o755,
                owner: "root".into(),
                group: "root".into(),
                acl: vec![],
            };
            f.paths
                .entry(dir.display().to_string())
                .or_insert(Fact::Known(dir_state));
        }
    }
    let www = Account {
        name: "www-data".into(),
        uid: 33,
        gid: 33,
        home: "/var/www".into(),
        shell: "/usr/sbin/nologin".into(),
        groups: vec!["www-data".into()],
    };
    f.accounts.insert("www-data".into(), Fact::Known(Some(www)));
    f
}

/// Facts of a host where nothing exists yet.
pub(crate) fn fresh(w: &World) -> Facts {
    let mut f = empty_facts(w);
    for a in &w.desired.accounts {
        f.accounts.insert(a.user.clone(), Fact::Known(None));
        f.groups.insert(a.group.clone(), Fact::Known(None));
    }
    let paths = w
        .desired
        .dirs
        .iter()
        .map(|d| &d.path)
        .chain(w.desired.files.iter().map(|x| &x.path))
        .chain(w.desired.links.iter().map(|l| &l.path));
    for p in paths {
        f.paths.insert(p.clone(), Fact::Known(PathState::Missing));
    }
    for s in &w.desired.sources {
        f.trees.insert(s.dest.clone(), Fact::Known(None));
    }
    for v in &w.desired.venvs {
        f.venvs.insert(v.path.clone(), Fact::Known(None));
    }
    for r in &w.desired.releases {
        f.releases
            .insert(r.root.clone(), Fact::Known(Default::default()));
        f.trees.insert(r.legacy_src(), Fact::Known(None));
    }
    f
}

/// The release a converged host runs.
const RUNNING: &str = "20261130T165000-aa0100";

/// Facts of a host already in the desired state.
fn converged(w: &World) -> Facts {
    let mut f = empty_facts(w);
    for a in &w.desired.accounts {
        f.accounts.insert(
            a.user.clone(),
            Fact::Known(Some(Account {
                name: a.user.clone(),
                uid: 990,
                gid: 990,
                home: a.home.clone(),
                shell: "/usr/sbin/nologin".into(),
                groups: vec![a.group.clone()],
            })),
        );
        f.groups.insert(
            a.group.clone(),
            Fact::Known(Some(Group {
                name: a.group.clone(),
                gid: 990,
                members: vec![],
            })),
        );
    }
    for d in &w.desired.dirs {
        f.paths.insert(
            d.path.clone(),
            Fact::Known(PathState::Dir {
                mode: d.mode,
                owner: d.owner.clone(),
                group: d.group.clone(),
                acl: vec![],
            }),
        );
    }
    for x in &w.desired.files {
        let sha256 = wsgictl::source::sha256_hex(x.content.secret_text().as_bytes());
        f.paths.insert(
            x.path.clone(),
            Fact::Known(PathState::File {
                mode: x.mode,
                owner: x.owner.clone(),
                group: x.group.clone(),
                sha256,
                content: None,
            }),
        );
    }
    for l in &w.desired.links {
        f.paths.insert(
            l.path.clone(),
            Fact::Known(PathState::Link {
                target: l.target.clone(),
            }),
        );
    }
    for s in &w.desired.sources {
        let files = w.sources[&s.app]
            .iter()
            .map(|x| TreeFile {
                path: x.path.clone(),
                mode: x.mode,
                sha256: x.sha256.clone(),
            })
            .collect();
        f.trees.insert(s.dest.clone(), Fact::Known(Some(files)));
    }
    for v in &w.desired.venvs {
        f.venvs.insert(
            v.path.clone(),
            Fact::Known(Some(Venv {
                python: "3.11.2".into(),
                home: Some("/usr/bin".into()),
                marker: Some(v.requirements_sha256.clone()),
                installed: Some("5a1e".repeat(16)),
                recorded: Some("5a1e".repeat(16)),
                untrusted: None,
            })),
        );
    }
    for r in &w.desired.releases {
        f.releases.insert(
            r.root.clone(),
            Fact::Known(wsgictl::facts::releases::Releases {
                current: Some(format!("releases/{RUNNING}")),
                releases: vec![wsgictl::facts::releases::Release {
                    id: RUNNING.into(),
                    prepared: true,
                    ..Default::default()
                }],
                static_link: wsgictl::facts::releases::StaticLink::Link(format!(
                    "{}/static",
                    r.current
                )),
                ..Default::default()
            }),
        );
    }
    f
}

/// The host holds `file` with other content (same owner and mode).
fn on_host(f: &mut Facts, file: &wsgictl::desired::DesiredFile, content: String) {
    f.paths.insert(
        file.path.clone(),
        Fact::Known(PathState::File {
            mode: file.mode,
            owner: file.owner.clone(),
            group: file.group.clone(),
            sha256: wsgictl::source::sha256_hex(content.as_bytes()),
            content: Some(content.into_bytes()),
        }),
    );
}

pub(crate) fn plan(w: &World, facts: &Facts) -> anyhow::Result<wsgictl::plan::Plan> {
    let inputs = wsgictl::resources::Inputs {
        desired: &w.desired,
        sources: &w.sources,
        facts,
        secrets: &w.secrets,
        // 2026-12-01 09:01:02 UTC: release ids in the snapshots stay the same.
        now: 1_796_115_662,
    };
    wsgictl::resources::plan(&inputs)
}

fn shown(p: &wsgictl::plan::Plan) -> String {
    wsgictl::show::plan(
        p,
        "web1 (203.0.113.10:22)",
        &wsgictl::show::Style {
            color: false,
            verbose: true,
            compact: false,
        },
    )
}

#[test]
fn a_fresh_host() {
    let w = world();
    let p = plan(&w, &fresh(&w)).unwrap();
    assert!(!p.is_empty());
    insta::assert_snapshot!("plan__fresh", scrub(&shown(&p)));
}

/// A reviewer sees what a new file will contain; a file with a secret shows only the names it
/// sets; `--compact` shows neither, the create line stays.
#[test]
fn new_files_show_their_content_and_compact_leaves_it_out() {
    let w = world();
    let p = plan(&w, &fresh(&w)).unwrap();
    let text = shown(&p);
    assert!(text.contains("+<VirtualHost *:8080>"), "{text}");
    assert!(text.contains("+    WSGIDaemonProcess shop \\"), "{text}");
    assert!(text.contains("      + DJANGO_SECRET_KEY\n"), "{text}");
    let from_file = std::fs::read_to_string(fixture("manifests/project/secret.key")).unwrap();
    let secret = from_file.trim_end();
    assert!(!secret.is_empty() && !text.contains(secret), "{text}");
    let json = serde_json::to_string(&p).unwrap();
    assert!(json.contains("+<VirtualHost *:8080>") && !json.contains(secret));
    let compact = wsgictl::show::plan(
        &p,
        "web1 (203.0.113.10:22)",
        &wsgictl::show::Style {
            color: false,
            verbose: false,
            compact: true,
        },
    );
    assert!(
        !compact.contains("<VirtualHost") && !compact.contains("+ DJANGO_SECRET_KEY"),
        "{compact}"
    );
    assert!(compact.contains("+ vhost:shop"), "{compact}");
}

#[test]
fn a_converged_host_is_all_no_ops_with_reasons() {
    let w = world();
    let p = plan(&w, &converged(&w)).unwrap();
    assert!(p.is_empty(), "{}", shown(&p));
    assert!(p.handlers.is_empty());
    assert!(p.changes.iter().all(|c| !c.reason.is_empty()));
    insta::assert_snapshot!("plan__converged", scrub(&shown(&p)));
}

#[test]
fn drift_in_code_only_touches_the_wsgi_and_does_not_reload() {
    let w = world();
    let mut f = converged(&w);
    let files = running_tree(&w, &mut f);
    files[0].sha256 = "0".repeat(64);
    files.push(TreeFile {
        path: "stale.py".into(),
        mode: 0o640,
        sha256: "1".repeat(64),
    });
    files.push(TreeFile {
        path: "blog/__pycache__/x.pyc".into(),
        mode: 0o640,
        sha256: "2".repeat(64),
    });
    let p = plan(&w, &f).unwrap();
    let text = shown(&p);
    assert!(
        text.contains("~ source:blog") && text.contains("1 to upload, 1 to delete"),
        "{text}"
    );
    assert!(
        text.contains("- stale.py") && !text.contains("__pycache__"),
        "excluded remote files are never deleted:\n{text}"
    );
    assert_eq!(
        p.handlers,
        vec![wsgictl::plan::Handler::TouchWsgi {
            app: "blog".into(),
            path: "/srv/blog/current/app.wsgi".into()
        }]
    );
}

#[test]
fn an_unreadable_fact_fails_the_plan() {
    let w = world();
    let mut f = converged(&w);
    f.accounts.insert(
        "blog".into(),
        Fact::Unknown {
            error: "getent: permission denied".into(),
        },
    );
    let err = format!("{:#}", plan(&w, &f).unwrap_err());
    assert_eq!(
        err,
        "could not read account blog: getent: permission denied"
    );
}

#[test]
fn the_json_document_has_its_documented_shape() {
    let w = world();
    let mut f = converged(&w);
    // One update with a diff, one attribute change, everything else no-op.
    let vhost = w
        .desired
        .files
        .iter()
        .find(|x| x.path.ends_with("wsgictl-blog.conf"))
        .unwrap();
    let old = vhost
        .content
        .secret_text()
        .replace("threads=15", "threads=16");
    on_host(&mut f, vhost, old);
    f.paths.insert(
        "/srv/shop".into(),
        Fact::Known(PathState::Dir {
            mode: 0o700,
            owner: "root".into(),
            group: "root".into(),
            acl: vec![],
        }),
    );
    let p = plan(&w, &f).unwrap();
    let (create, update, delete) = p.counts();
    let doc = wsgictl::commands::plan::PlanDocument {
        version: 1,
        manifest: "site.kdl".into(),
        hosts: vec![wsgictl::commands::plan::HostDocument {
            target: "web1 (203.0.113.10:22)",
            summary: wsgictl::commands::plan::Summary {
                create,
                update,
                delete,
            },
            plan: &p,
        }],
        errors: vec![],
    };
    let json = serde_json::to_string_pretty(&doc).unwrap();
    assert!(!json.contains(KNOWN_SECRET));
    insta::assert_snapshot!("plan__json", scrub(&json));
}

#[test]
fn a_pending_reload_marker_alone_reloads() {
    let w = world();
    let mut f = converged(&w);
    f.paths.insert(
        w.desired.reload_marker.clone(),
        Fact::Known(PathState::File {
            mode: 0o644,
            owner: "root".into(),
            group: "root".into(),
            sha256: "e3".repeat(32),
            content: None,
        }),
    );
    let p = plan(&w, &f).unwrap();
    assert!(shown(&p).contains("~ reload:apache"), "{}", shown(&p));
    assert_eq!(
        p.handlers,
        vec![wsgictl::plan::Handler::ConfigtestAndReload]
    );
}

#[test]
fn a_stopped_apache_is_started() {
    let w = world();
    let mut f = converged(&w);
    f.apache = Fact::Known(Some(wsgictl::facts::Apache {
        confdir: "/etc/apache2".into(),
        running: false,
        ..Default::default()
    }));
    let p = plan(&w, &f).unwrap();
    assert!(
        shown(&p).contains("~ service:apache") && shown(&p).contains("is not running"),
        "{}",
        shown(&p)
    );
    assert_eq!(
        p.handlers,
        vec![wsgictl::plan::Handler::ConfigtestAndReload]
    );
}

fn preflight(
    w: &World,
    linked: Option<&str>,
    interpreter: &str,
) -> Vec<wsgictl::preflight::Finding> {
    let m = wsgictl::manifest::load(&fixture("manifests/ok/two-apps-one-host.kdl")).unwrap();
    let mut f = converged(w);
    f.apache = Fact::Known(Some(wsgictl::facts::Apache {
        confdir: "/etc/apache2".into(),
        running: true,
        modules: ["wsgi_module".to_string()].into(),
        wsgi_so: Some("/usr/lib/apache2/modules/mod_wsgi.so".into()),
        wsgi_python: linked.map(str::to_string),
        ..Default::default()
    }));
    f.interpreters.insert(
        "/usr/bin/python3".into(),
        Fact::Known(Some(interpreter.into())),
    );
    wsgictl::preflight::check(&m, "web1", &f, wsgictl::manifest::Layout::Debian)
}

#[test]
fn preflight_finds_a_python_that_mod_wsgi_is_not_built_for() {
    let w = world();
    assert!(preflight(&w, Some("3.11"), "3.11.2").is_empty());
    let found = preflight(&w, Some("3.11"), "3.12.1");
    assert_eq!(found.len(), 2, "one per app: {found:?}");
    let f = &found[0];
    assert_eq!(
        (f.severity, f.scenario.as_str(), f.app.as_deref()),
        (
            wsgictl::preflight::Severity::Error,
            "venv-python-version-mismatch",
            Some("blog")
        )
    );
    assert!(
        f.evidence.contains("linked against Python 3.11")
            && f.evidence.contains("/usr/bin/python3 is Python 3.12.1"),
        "{}",
        f.evidence
    );
    assert!(
        f.fix.contains("python \"/usr/bin/python3.11\""),
        "{}",
        f.fix
    );
    assert!(f.span.is_some());
}

#[test]
fn preflight_finds_mod_wsgi_missing() {
    let w = world();
    let m = wsgictl::manifest::load(&fixture("manifests/ok/two-apps-one-host.kdl")).unwrap();
    let mut f = converged(&w);
    f.apache = Fact::Known(Some(wsgictl::facts::Apache {
        confdir: "/etc/apache2".into(),
        running: true,
        ..Default::default()
    }));
    let found = wsgictl::preflight::check(&m, "web1", &f, wsgictl::manifest::Layout::Debian);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].scenario, "module-not-loaded");
    assert!(
        found[0]
            .fix
            .contains("apt-get install libapache2-mod-wsgi-py3")
    );
}

#[test]
fn preflight_finds_what_other_configuration_claims() {
    let w = world();
    let m = wsgictl::manifest::load(&fixture("manifests/ok/two-apps-one-host.kdl")).unwrap();
    let mut f = converged(&w);
    let apache = |loads: &[&str], daemons: &[(&str, &str)], vhosts: &[(u16, &str, &str)]| {
        Fact::Known(Some(wsgictl::facts::Apache {
            confdir: "/etc/apache2".into(),
            running: true,
            modules: ["wsgi_module".to_string()].into(),
            wsgi_so: Some("/usr/lib/apache2/modules/mod_wsgi.so".into()),
            wsgi_loads: loads.iter().map(|s| s.to_string()).collect(),
            foreign_daemons: daemons
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            vhosts: vhosts
                .iter()
                .map(|(p, n, f)| (*p, n.to_string(), f.to_string()))
                .collect(),
            ..Default::default()
        }))
    };
    let check = |f: &wsgictl::facts::Facts| {
        wsgictl::preflight::check(&m, "web1", f, wsgictl::manifest::Layout::Debian)
    };
    // wsgictl's own vhost and one LoadModule: nothing to say.
    f.apache = apache(
        &["/etc/apache2/mods-enabled/wsgi.load"],
        &[("legacy", "/etc/apache2/sites-enabled/legacy.conf")],
        &[(
            8080,
            "shop.example.com",
            "/etc/apache2/sites-enabled/wsgictl-shop.conf",
        )],
    );
    assert!(check(&f).is_empty(), "{:?}", check(&f));

    f.apache = apache(
        &[
            "/etc/apache2/mods-enabled/wsgi.load",
            "/etc/apache2/conf-enabled/pip-mod-wsgi.conf",
        ],
        &[("shop", "/etc/apache2/sites-enabled/legacy.conf")],
        &[
            (
                80,
                "www.blog.example.com",
                "/etc/apache2/sites-enabled/old-blog.conf",
            ),
            (
                8080,
                "blog.example.com",
                "/etc/apache2/sites-enabled/other-port.conf",
            ),
        ],
    );
    let found = check(&f);
    let ids: Vec<(&str, Option<&str>)> = found
        .iter()
        .map(|x| (x.scenario.as_str(), x.app.as_deref()))
        .collect();
    assert_eq!(
        ids,
        vec![
            ("duplicate-loadmodule-wrong-python", None),
            ("vhost-name-claimed", Some("blog")),
            ("duplicate-daemon-name", Some("shop")),
        ],
        "{found:#?}"
    );
    assert!(
        found[0].evidence.contains("pip-mod-wsgi.conf"),
        "{found:#?}"
    );
    assert!(
        found[1]
            .evidence
            .contains("old-blog.conf already serves www.blog.example.com on port 80"),
        "{found:#?}"
    );
    assert!(found[2].fix.contains("legacy.conf"), "{found:#?}");
    assert!(
        found
            .iter()
            .all(|x| x.severity == wsgictl::preflight::Severity::Error && x.span.is_some())
    );
}

#[test]
fn preflight_finds_host_level_problems() {
    let w = world();
    let m = wsgictl::manifest::load(&fixture("manifests/ok/two-apps-one-host.kdl")).unwrap();
    let mut f = converged(&w);
    let check = |f: &wsgictl::facts::Facts| {
        wsgictl::preflight::check(&m, "web1", f, wsgictl::manifest::Layout::Debian)
    };
    let ids = |found: &[wsgictl::preflight::Finding]| {
        found
            .iter()
            .map(|x| format!("{:?} {}", x.severity, x.scenario))
            .collect::<Vec<_>>()
    };

    f.apache = Fact::Known(None);
    let found = check(&f);
    assert_eq!(ids(&found), vec!["Error apache-missing"]);
    assert!(
        found[0]
            .fix
            .contains("apt-get install apache2 libapache2-mod-wsgi-py3")
    );

    f.apache = Fact::Known(Some(wsgictl::facts::Apache {
        confdir: "/etc/apache2".into(),
        user: Some("www-data".into()),
        running: true,
        modules: ["wsgi_module".to_string()].into(),
        wsgi_so: Some("/usr/lib/apache2/modules/mod_wsgi.so".into()),
        run_dir: Some(format!("/var/run/{}", "x".repeat(80))),
        run_dir_denied: Some("drwx------ root root".into()),
        ..Default::default()
    }));
    f.system = Fact::Known(wsgictl::facts::System {
        os_id: "rhel".into(),
        selinux: "enforcing".into(),
        ..Default::default()
    });
    f.reach.insert(
        "blog /usr/bin/python3".into(),
        Fact::Known(wsgictl::facts::Reached {
            reach: wsgictl::facts::Reach::Denied {
                path: "/opt/py".into(),
                stat: "drwx------ root root".into(),
            },
            as_nobody: true,
        }),
    );
    let found = check(&f);
    assert_eq!(
        ids(&found),
        vec![
            "Warning selinux-denial",
            "Warning selinux-denial",
            "Error socket-dir-not-accessible",
            "Error socket-path-too-long",
            "Error venv-base-interpreter-unreachable",
        ],
        "{found:#?}"
    );
    assert!(
        found[0]
            .fix
            .contains("semanage fcontext -a -t httpd_sys_content_t '/srv/blog(/.*)?'")
    );
    assert!(found[2].evidence.contains("www-data") && found[2].fix.contains("chmod 0755"));
    assert!(
        found[4].evidence.contains("checked as `nobody`") && found[4].evidence.contains("/opt/py")
    );
}

#[test]
fn a_host_without_apache_gets_its_packages_installed_first() {
    let w = world();
    let mut f = fresh(&w);
    f.system = Fact::Known(wsgictl::facts::System {
        os_id: "debian".into(),
        acl: false,
        ..Default::default()
    });
    f.interpreters.insert(
        "/usr/bin/python3".into(),
        Fact::Known(Some("3.11.2".into())),
    );
    f.interpreter_venv
        .insert("/usr/bin/python3".into(), Fact::Known(false));
    let p = plan(&w, &f).unwrap();
    assert_eq!(p.changes[0].id.to_string(), "packages", "{}", shown(&p));
    assert_eq!(
        p.changes[0].ops,
        vec![wsgictl::plan::Op::InstallPackages {
            manager: wsgictl::resources::packages::Manager::Apt,
            names: ["apache2", "libapache2-mod-wsgi-py3", "acl", "python3-venv"]
                .map(String::from)
                .to_vec(),
        }]
    );
    assert!(
        shown(&p)
            .contains("install: apt-get install apache2 libapache2-mod-wsgi-py3 acl python3-venv"),
        "{}",
        shown(&p)
    );
    // Apply will install them: nothing for preflight to block.
    let m = wsgictl::manifest::load(&fixture("manifests/ok/two-apps-one-host.kdl")).unwrap();
    let found = wsgictl::preflight::check(&m, "web1", &f, wsgictl::manifest::Layout::Debian);
    assert!(found.is_empty(), "{found:#?}");

    // RHEL: dnf, its own names, and venv is part of python3 there.
    f.system = Fact::Known(wsgictl::facts::System {
        os_id: "rocky".into(),
        os_like: "rhel centos fedora".into(),
        acl: true,
        ..Default::default()
    });
    let names = wsgictl::resources::packages::needed(
        &f,
        wsgictl::resources::packages::manager(&f).unwrap(),
        &["/usr/bin/python3"],
    );
    assert_eq!(names, ["httpd", "python3-mod_wsgi"]);
}

#[test]
fn packages_false_makes_missing_packages_a_preflight_error() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    let src = fixture("manifests/ok/two-apps-one-host.kdl");
    let text = std::fs::read_to_string(&src)
        .unwrap()
        .replace(
            "    address \"203.0.113.10\"\n",
            "    address \"203.0.113.10\"\n    packages #false\n",
        )
        .replace(
            "../project/",
            &format!("{}/", fixture("manifests/project").display()),
        );
    let path = dir.path().join("site.kdl");
    std::fs::write(&path, text).unwrap();
    let m = wsgictl::manifest::load(&path).unwrap();
    assert!(!m.hosts[0].packages);
    let mut f = empty_facts(&w);
    f.system = Fact::Known(wsgictl::facts::System {
        os_id: "debian".into(),
        acl: true,
        ..Default::default()
    });
    let found = wsgictl::preflight::check(&m, "web1", &f, wsgictl::manifest::Layout::Debian);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(
        (found[0].severity, found[0].scenario.as_str()),
        (wsgictl::preflight::Severity::Error, "packages-missing")
    );
    assert!(
        found[0]
            .fix
            .contains("`apt-get install apache2 libapache2-mod-wsgi-py3` on the host"),
        "{}",
        found[0].fix
    );
}

/// The host's old env file: a secret under a name the manifest no longer has, and an
/// `export` line an override once wrote.
#[test]
fn an_env_file_is_shown_by_names_only_and_no_old_value_prints() {
    let w = world();
    let mut f = converged(&w);
    let env = w
        .desired
        .files
        .iter()
        .find(|x| x.role == wsgictl::desired::FileRole::EnvFile)
        .unwrap();
    let old_values = ["0ld-RENAMED-secret-value-91", "0ld-EXPORTED-token-17"];
    let old = format!(
        "OLD_SECRET_KEY='{}'\nexport API_TOKEN={}\n{}",
        old_values[0],
        old_values[1],
        env.content.secret_text()
    );
    on_host(&mut f, env, old);
    let p = plan(&w, &f).unwrap();
    let text = shown(&p);
    let json = serde_json::to_string(&p).unwrap();
    for v in old_values.iter().chain([&KNOWN_SECRET]) {
        assert!(!text.contains(v), "{v} printed:\n{text}");
        assert!(!json.contains(v), "{v} in the JSON plan");
    }
    let c = p
        .changes
        .iter()
        .find(|c| c.id.to_string() == format!("env-file:{}", env.app.as_deref().unwrap()))
        .unwrap();
    let diff = c.diff.as_deref().unwrap();
    assert!(
        diff.contains("- OLD_SECRET_KEY\n") && diff.contains("- API_TOKEN\n"),
        "{diff}"
    );
    assert!(
        !diff.lines().any(|l| l.contains('=')),
        "no assignment line is shown:\n{diff}"
    );
}

/// Django deleted from site-packages by hand: the requirements marker still matches, the
/// digest of site-packages does not. A forced reinstall, and the daemon restarts.
#[test]
fn a_venv_changed_by_hand_is_reinstalled_by_force() {
    let w = world();
    let mut f = converged(&w);
    let v = &w.desired.venvs[0];
    if let Some(Fact::Known(Some(venv))) = f.venvs.get_mut(&v.path) {
        venv.installed = Some("0bad".repeat(16));
    }
    let p = plan(&w, &f).unwrap();
    let c = p
        .changes
        .iter()
        .find(|c| c.id.to_string() == format!("packages:{}", v.app))
        .unwrap();
    assert_eq!(c.action, wsgictl::plan::Action::Update, "{}", shown(&p));
    assert!(
        c.reason
            .contains("site-packages changed since the last install")
    );
    assert!(matches!(
        c.ops[..],
        [wsgictl::plan::Op::PipInstall { force: true, .. }]
    ));
    assert!(
        p.handlers
            .iter()
            .any(|h| matches!(h, wsgictl::plan::Handler::TouchWsgi { app, .. } if *app == v.app)),
        "{:?}",
        p.handlers
    );
    // Installed by an earlier version (no digest recorded): checked and recorded, no force.
    if let Some(Fact::Known(Some(venv))) = f.venvs.get_mut(&v.path) {
        venv.recorded = None;
    }
    let p = plan(&w, &f).unwrap();
    let c = p
        .changes
        .iter()
        .find(|c| c.id.to_string() == format!("packages:{}", v.app))
        .unwrap();
    assert!(matches!(
        c.ops[..],
        [wsgictl::plan::Op::PipInstall { force: false, .. }]
    ));
}

/// The releases fact of `app` in `f`, to change.
fn releases_of<'a>(
    w: &World,
    f: &'a mut Facts,
    app: &str,
) -> &'a mut wsgictl::facts::releases::Releases {
    let root = &w
        .desired
        .releases
        .iter()
        .find(|r| r.app == app)
        .unwrap()
        .root;
    match f.releases.get_mut(root) {
        Some(Fact::Known(r)) => r,
        _ => panic!("no releases fact"),
    }
}

/// The files of blog's running release, as the facts hold them.
fn running_tree<'a>(w: &World, f: &'a mut Facts) -> &'a mut Vec<TreeFile> {
    let dest = &w
        .desired
        .sources
        .iter()
        .find(|s| s.app == "blog")
        .unwrap()
        .dest;
    match f.trees.get_mut(dest) {
        Some(Fact::Known(Some(files))) => files,
        _ => panic!("no tree fact for {dest}"),
    }
}

/// One file of blog's running release differs from the local source.
fn change_running_code(w: &World, f: &mut Facts) {
    running_tree(w, f)[0].sha256 = "0".repeat(64);
}

fn finished(id: &str) -> wsgictl::facts::releases::Release {
    wsgictl::facts::releases::Release {
        id: id.into(),
        prepared: true,
        ..Default::default()
    }
}

#[test]
fn a_code_change_is_a_new_release_from_the_running_one_and_old_ones_go() {
    let w = world();
    let mut f = converged(&w);
    // Five older releases besides the running one; `releases` keeps 5 in all.
    let older = [
        "20261101T000000-000001",
        "20261102T000000-000002",
        "20261103T000000-000003",
        "20261104T000000-000004",
        "20261105T000000-000005",
    ];
    {
        let r = releases_of(&w, &mut f, "blog");
        for id in older {
            r.releases.insert(0, finished(id));
        }
        r.releases.sort_by(|a, b| a.id.cmp(&b.id));
        r.partial.push("20261120T000000-0000aa".into());
    }
    change_running_code(&w, &mut f);
    let p = plan(&w, &f).unwrap();
    let text = shown(&p);
    // A new id from the plan's clock and the source hash, hard-linked from the running one.
    let create = p
        .changes
        .iter()
        .find(|c| c.id.to_string() == "release:blog" && c.action == wsgictl::plan::Action::Create)
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        create.reason.starts_with("20261201T090102-")
            && create
                .reason
                .ends_with("(1 file changed, venv shared; from 20261130T165000-aa0100)"),
        "{text}"
    );
    let Some(wsgictl::plan::Op::CreateRelease { dir, from, .. }) = create.ops.first() else {
        panic!("{text}")
    };
    assert_eq!(
        from,
        &Some(wsgictl::plan::ReleaseBase::Release {
            dir: "/srv/blog/releases/20261130T165000-aa0100".into()
        })
    );
    // The upload goes into the new release, and the switch comes after the hooks.
    let sync = p
        .changes
        .iter()
        .flat_map(|c| &c.ops)
        .find_map(|o| match o {
            wsgictl::plan::Op::SyncSource { dest, .. } => Some(dest.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(sync, format!("{dir}/src"));
    let pos = |id: &str| {
        p.changes
            .iter()
            .position(|c| c.id.to_string() == id)
            .unwrap()
    };
    assert!(pos("switch:blog") > pos("source:blog"), "{text}");
    assert!(pos("switch:blog") < pos("vhost:blog"), "{text}");
    // Seven finished releases after the switch, five kept: the two oldest go, and the
    // unfinished one.
    for id in ["20261101T000000-000001", "20261102T000000-000002"] {
        assert!(
            text.contains(&format!("{id} (beyond `releases 5`)")),
            "{text}"
        );
    }
    assert!(!text.contains("20261103T000000-000003 (beyond"), "{text}");
    assert!(
        text.contains("20261120T000000-0000aa (left unfinished by an apply that stopped)"),
        "{text}"
    );
    assert!(
        p.handlers
            .contains(&wsgictl::plan::Handler::RemoveReleases {
                app: "blog".into(),
                paths: vec![
                    "/srv/blog/releases/20261102T000000-000002".into(),
                    "/srv/blog/releases/20261101T000000-000001".into(),
                    "/srv/blog/releases/20261120T000000-0000aa".into(),
                ],
            }),
        "{:?}",
        p.handlers
    );
}

#[test]
fn the_content_of_an_earlier_release_is_switched_back_to_not_made_again() {
    let w = world();
    let mut f = converged(&w);
    let files = &w.desired.files;
    let sha = |role| {
        files
            .iter()
            .find(|x| x.role == role && x.app.as_deref() == Some("blog"))
            .map(|x| wsgictl::source::sha256_hex(x.content.secret_text().as_bytes()))
            .unwrap()
    };
    let mut earlier = finished("20261120T000000-b47430");
    earlier.source = wsgictl::resources::release::source_sha256(&w.sources["blog"]);
    earlier.env = sha(wsgictl::desired::FileRole::EnvFile);
    earlier.wsgi = sha(wsgictl::desired::FileRole::WsgiScript);
    earlier.requirements = w
        .desired
        .venvs
        .iter()
        .find(|v| v.app == "blog")
        .unwrap()
        .requirements_sha256
        .clone();
    // The running release differs (its code was changed): the plan sees a source change.
    change_running_code(&w, &mut f);
    releases_of(&w, &mut f, "blog")
        .releases
        .insert(0, earlier.clone());
    let p = plan(&w, &f).unwrap();
    let text = shown(&p);
    assert!(
        text.contains("~ switch:blog")
            && text
                .contains("20261130T165000-aa0100 → 20261120T000000-b47430 (already on the host"),
        "{text}"
    );
    assert!(
        !text.contains("+ release:blog") && !text.contains("~ source:blog"),
        "{text}"
    );
    // Nothing is written for it: the release holds its files.
    let writes: Vec<&String> = p
        .changes
        .iter()
        .flat_map(|c| &c.ops)
        .filter_map(|o| match o {
            wsgictl::plan::Op::WriteFile { path, .. }
            | wsgictl::plan::Op::SyncSource { dest: path, .. } => Some(path),
            _ => None,
        })
        .filter(|p| p.starts_with("/srv/blog/"))
        .collect();
    assert!(writes.is_empty(), "{writes:?}\n{text}");

    // Unless that release was edited on the host since: then a new one is made.
    earlier.tree = "a".repeat(64);
    earlier.tree_now = "b".repeat(64);
    releases_of(&w, &mut f, "blog").releases[0] = earlier;
    let text = shown(&plan(&w, &f).unwrap());
    assert!(text.contains("+ release:blog"), "{text}");
}

#[test]
fn a_pre_release_src_left_by_a_stopped_migration_is_removed_after_the_reload() {
    let w = world();
    let mut f = converged(&w);
    releases_of(&w, &mut f, "blog").legacy_src = true;
    let p = plan(&w, &f).unwrap();
    let text = shown(&p);
    assert!(
        text.contains("- release:blog")
            && text.contains("/srv/blog/src, /srv/blog/app.env and /srv/blog/app.wsgi"),
        "{text}"
    );
    let Some(wsgictl::plan::Handler::RemoveReleases { paths, .. }) = p.handlers.last() else {
        panic!("{text}")
    };
    assert_eq!(paths[0], "/srv/blog/src");
    assert!(!text.contains("+ release:blog"), "{text}");
}

/// The rootless fixture rendered as the plan renders it: from facts that choose `sup`.
pub(crate) fn rootless_world(server: &wsgictl::facts::user_server::UserServer) -> (World, Facts) {
    let m = wsgictl::manifest::load(&fixture("manifests/ok/rootless.kdl")).unwrap();
    let templates = wsgictl::templates::Templates::load(None).unwrap();
    let mut facts = Facts::empty("shared1");
    facts.apache = Fact::Known(Some(wsgictl::facts::Apache {
        running: true,
        wsgi_so: Some("/usr/lib/apache2/modules/mod_wsgi.so".into()),
        ..Default::default()
    }));
    facts.rootless = Some(Fact::Known(server.clone()));
    let env = HostEnv::from_facts(&m.hosts[0], &facts, &[]);
    let desired = render_host(&m, &m.hosts[0], &templates, &env, None, &|_| None).unwrap();
    let sources = scan_sources(&desired);
    let w = World {
        desired,
        sources,
        secrets: BTreeMap::new(),
    };
    let mut f = fresh(&w);
    f.apache = facts.apache;
    f.rootless = facts.rootless;
    (w, f)
}

/// The rootless fixture's `supervision:shared1` change.
fn supervision(p: &wsgictl::plan::Plan) -> &wsgictl::plan::Change {
    p.changes
        .iter()
        .find(|c| c.id.to_string() == "supervision:shared1")
        .expect("a rootless plan has its supervision")
}

pub(crate) fn account(systemd: bool, crontab: &str) -> wsgictl::facts::user_server::UserServer {
    wsgictl::facts::user_server::UserServer {
        account: "alice".into(),
        group: "alice".into(),
        home: "/home/alice".into(),
        httpd: Some("/usr/sbin/apache2".into()),
        rotatelogs: Some("/usr/bin/rotatelogs".into()),
        pid: Some(4242),
        systemd,
        user_manager: systemd,
        linger: systemd,
        crontab: Some(crontab.into()),
        cron_running: true,
        ..Default::default()
    }
}

#[test]
fn a_rootless_host_is_supervised_by_systemd_when_the_account_lingers() {
    let (w, f) = rootless_world(&account(true, ""));
    let p = plan(&w, &f).unwrap();
    let text = shown(&p);
    assert!(
        text.contains("+ server-file:/home/alice/.config/systemd/user/wsgictl-apache.service"),
        "{text}"
    );
    assert!(!text.contains("watchdog"), "{text}");
    assert!(
        !text.contains("dir:/srv") && !text.contains("account:"),
        "{text}"
    );
    let sup = supervision(&p);
    assert_eq!(
        sup.ops,
        [wsgictl::plan::Op::EnableUserUnit {
            unit: "wsgictl-apache.service".into()
        }]
    );
    // Every file and directory is the account's, nothing readable by others.
    assert!(
        w.desired
            .files
            .iter()
            .all(|f| f.owner == "alice" && f.mode & 0o077 == 0)
    );
    assert!(
        w.desired
            .dirs
            .iter()
            .all(|d| d.owner == "alice" && d.mode & 0o077 == 0)
    );
    assert!(w.desired.access.is_empty() && w.desired.accounts.is_empty());
}

#[test]
fn a_rootless_crontab_keeps_the_accounts_own_lines() {
    let mine = "MAILTO=alice@example.net\n0 3 * * * /home/alice/bin/backup\n";
    let (w, f) = rootless_world(&account(false, mine));
    let p = plan(&w, &f).unwrap();
    let sup = supervision(&p);
    assert_eq!(sup.action, wsgictl::plan::Action::Create);
    assert!(sup.reason.contains("every 2 minutes"), "{}", sup.reason);
    assert!(
        sup.reason.contains("the host does not run systemd"),
        "{}",
        sup.reason
    );
    let block = w
        .desired
        .rootless
        .as_ref()
        .unwrap()
        .cron_block
        .clone()
        .unwrap();
    assert_eq!(
        sup.ops,
        [wsgictl::plan::Op::Crontab {
            block: block.clone()
        }]
    );
    // Once the lines are there (among the account's own), nothing to do.
    let (w, f) = rootless_world(&account(false, &format!("{mine}{block}")));
    let p = plan(&w, &f).unwrap();
    let sup = supervision(&p);
    assert_eq!(sup.action, wsgictl::plan::Action::NoOp, "{}", sup.reason);
}
