//! Preflight for a rootless host: what stops an ordinary account from running its own
//! Apache with mod_wsgi, found in the facts of the plan's round trip (`facts::user_server`).
//!
//! Stage: plan (pure). An Apache binary or mod_wsgi the host lacks (with what building one in
//! the account would need), a home other than the one assumed, an app Python mod_wsgi is not
//! built for (the common check), a port someone else listens on, a directory outside the
//! account, no crontab for the watchdog, a `noexec` home.

use crate::facts::Facts;
use crate::facts::user_server::UserServer;
use crate::manifest::Manifest;
use crate::preflight::{Finding, Severity};

pub fn check(m: &Manifest, host: &str, facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(h) = m.host(host) else {
        return out;
    };
    let Some(s) = facts.rootless.as_ref().and_then(|f| f.known()) else {
        return out;
    };
    let span = Some(h.name.span);
    let error = |scenario: &str, evidence: String, fix: String| Finding {
        severity: Severity::Error,
        scenario: scenario.into(),
        app: None,
        evidence,
        fix,
        span,
    };
    if let Some(user) = &h.user
        && *user != s.account
    {
        out.push(error(
            "rootless-outside-account",
            format!(
                "the host says `user \"{user}\"`, and the connection logged in as `{}`",
                s.account
            ),
            format!("set `user \"{}\"` (or log in as {user})", s.account),
        ));
        return out;
    }
    // The home the gather probed below: the manifest's `home`, else the assumed one.
    let home = crate::render::HostEnv::assumed(h)
        .rootless
        .map(|r| r.home)
        .unwrap_or_default();
    if h.home.is_none() && s.home != home {
        out.push(error(
            "rootless-outside-account",
            format!("the account's home is {}, not {home}", s.home),
            format!("add `home \"{}\"` to host `{}`", s.home, *h.name),
        ));
        return out;
    }
    let build = format!(
        "building mod_wsgi in the account instead (`pip install mod_wsgi`) needs a C compiler ({}) and Apache's headers, apxs ({})",
        if s.cc { "found" } else { "missing" },
        if s.apxs { "found" } else { "missing" }
    );
    let Some(httpd) = &s.httpd else {
        out.push(error(
            "apache-missing",
            "the host has no Apache binary (/usr/sbin/apache2 or /usr/sbin/httpd) for the account to run".into(),
            "ask the host's admin to install Apache and mod_wsgi (`apt-get install apache2 libapache2-mod-wsgi-py3`, or `dnf install httpd python3-mod_wsgi`); the system Apache itself may stay stopped".into(),
        ));
        return out;
    };
    let apache = facts.apache.known().and_then(Option::as_ref);
    if apache.is_none_or(|a| a.wsgi_so.is_none()) {
        out.push(error(
            "module-not-loaded",
            format!(
                "{httpd} is installed, and {} has no mod_wsgi",
                s.modules_dir.as_deref().unwrap_or("its modules directory")
            ),
            format!("ask the host's admin to install mod_wsgi (`apt-get install libapache2-mod-wsgi-py3`, or `dnf install python3-mod_wsgi`); {build}"),
        ));
    }
    if s.rotatelogs.is_none() {
        out.push(error(
            "apache-missing",
            "rotatelogs (Apache's log rotation, which the account's logs are piped through) is not installed".into(),
            "ask the host's admin to install it (`apt-get install apache2-utils`, or `dnf install httpd-tools`)".into(),
        ));
    }
    if s.noexec {
        out.push(error(
            "rootless-noexec-home",
            format!("{} is on a file system mounted noexec: apachectl, the venv's Python and its C extensions cannot run there", s.home),
            format!("add `home \"DIR\"` to host `{}` with a directory the account owns on a file system that allows execution, or ask the admin to remount without noexec", *h.name),
        ));
    }
    supervision(&mut out, s, span);
    for app in m.apps_on(host) {
        if facts
            .interpreter_venv
            .get(app.python.as_str())
            .and_then(|f| f.known())
            == Some(&false)
        {
            out.push(Finding {
                severity: Severity::Error,
                scenario: "packages-missing".into(),
                app: Some(app.name.value.clone()),
                evidence: format!("{} cannot create a virtualenv (no ensurepip)", *app.python),
                fix: "ask the host's admin to install venv support (`apt-get install python3-venv`), or give `python` an interpreter of yours that has it".into(),
                span: Some(app.python.span),
            });
        }
        outside(&mut out, app, s, &home, facts);
        if let Some(l) = s.taken(app.listen_address(), *app.port) {
            out.push(Finding {
                severity: Severity::Error,
                scenario: "rootless-port-taken".into(),
                app: Some(app.name.value.clone()),
                evidence: format!(
                    "{}:{} is already listened on by a program that is not the account's Apache",
                    l.addr, l.port
                ),
                fix: format!(
                    "give app `{}` another `port` (one nothing listens on)",
                    *app.name
                ),
                span: Some(app.port.span),
            });
        }
    }
    out
}

/// Cron when systemd --user cannot keep the server running: refused when the account may
/// not use crontab, warned when no cron daemon runs.
fn supervision(out: &mut Vec<Finding>, s: &UserServer, span: Option<miette::SourceSpan>) {
    if s.supervision() != crate::render::Supervision::Cron {
        return;
    }
    let linger = format!(
        "ask the admin to allow cron for `{0}` (/etc/cron.allow), or to run `loginctl enable-linger {0}` so that its systemd user manager keeps the server running",
        s.account
    );
    if let Some(e) = &s.crontab_error {
        out.push(Finding {
            severity: Severity::Error,
            scenario: "rootless-no-supervision".into(),
            app: None,
            evidence: format!("nothing can keep the account's Apache running: no lingering systemd user manager, and crontab says: {e}"),
            fix: linger,
            span,
        });
    } else if !s.cron_running {
        out.push(Finding {
            severity: Severity::Warning,
            scenario: "rootless-no-supervision".into(),
            app: None,
            evidence: "no cron daemon runs on the host: the watchdog in the account's crontab will not start the server after a reboot or a crash".into(),
            fix: linger,
            span,
        });
    }
}

/// Every directory of `app` must be the account's: below its home, or below a directory it
/// owns (the deepest one that exists, as the gather saw it).
fn outside(
    out: &mut Vec<Finding>,
    app: &crate::manifest::App,
    s: &UserServer,
    home: &str,
    facts: &Facts,
) {
    let mut dirs: Vec<(&str, &str, miette::SourceSpan)> =
        vec![("root", app.root.as_str(), app.root.span)];
    dirs.push((
        "venv",
        app.venv.path.as_str(),
        app.venv.path_span.unwrap_or(app.root.span),
    ));
    if let Some(d) = &app.data {
        dirs.push(("data", d.as_str(), d.span));
    }
    dirs.push((
        "static",
        app.django.static_files.dir.as_str(),
        app.django.static_files.span,
    ));
    if let Some(m) = &app.django.media {
        dirs.push(("media", m.dir.as_str(), m.span));
    }
    for (what, dir, span) in dirs {
        let below = |base: &str| {
            dir == base || dir.starts_with(&format!("{}/", base.trim_end_matches('/')))
        };
        if below(home) {
            continue;
        }
        let owned = crate::resources::ancestors(dir)
            .into_iter()
            .chain(std::iter::once(dir.to_string()))
            .rev()
            .find_map(|p| match facts.paths.get(&p)?.known()? {
                crate::facts::PathState::Dir { owner, .. } => Some(owner == &s.account),
                crate::facts::PathState::Missing => None,
                _ => Some(false),
            })
            .unwrap_or(false);
        if !owned {
            out.push(Finding {
                severity: Severity::Error,
                scenario: "rootless-outside-account".into(),
                app: Some(app.name.value.clone()),
                evidence: format!("the {what} directory {dir} is outside the account's home ({home}) and not in a directory `{}` owns", s.account),
                fix: format!("put it below {home}, e.g. `root \"{home}/sites/{}\"`", *app.name),
                span: Some(span),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::user_server::Listener;
    use crate::facts::{Apache, Fact, PathState};

    fn manifest() -> Manifest {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/manifests/ok/rootless.kdl");
        crate::manifest::load(&p).unwrap()
    }

    /// What a host where everything is in order reports.
    fn facts() -> (Facts, UserServer) {
        let mut f = Facts::empty("shared1");
        f.apache = Fact::Known(Some(Apache {
            wsgi_so: Some("/usr/lib/apache2/modules/mod_wsgi.so".into()),
            ..Apache::default()
        }));
        let s = UserServer {
            account: "alice".into(),
            group: "alice".into(),
            home: "/home/alice".into(),
            httpd: Some("/usr/sbin/apache2".into()),
            rotatelogs: Some("/usr/bin/rotatelogs".into()),
            crontab: Some(String::new()),
            cron_running: true,
            ..UserServer::default()
        };
        (f, s)
    }

    fn ids(m: &Manifest, mut f: Facts, s: UserServer) -> Vec<String> {
        f.rootless = Some(Fact::Known(s));
        check(m, "shared1", &f)
            .into_iter()
            .map(|x| format!("{:?} {}", x.severity, x.scenario))
            .collect()
    }

    #[test]
    fn a_host_in_order_has_no_finding() {
        let (f, s) = facts();
        assert_eq!(ids(&manifest(), f, s), Vec::<String>::new());
    }

    #[test]
    fn each_thing_the_account_lacks_is_named() {
        let m = manifest();
        let (f, mut s) = facts();
        s.crontab = None;
        s.crontab_error = Some("You (alice) are not allowed to use this program (crontab)".into());
        s.noexec = true;
        s.listeners.push(Listener {
            addr: "0.0.0.0".into(),
            port: 18080,
            ours: false,
        });
        assert_eq!(
            ids(&m, f, s),
            [
                "Error rootless-noexec-home",
                "Error rootless-no-supervision",
                "Error rootless-port-taken"
            ]
        );
        // A Python without venv support: what to ask for.
        let (mut f, s) = facts();
        f.interpreter_venv
            .insert("/usr/bin/python3".into(), Fact::Known(false));
        assert_eq!(ids(&m, f, s), ["Error packages-missing"]);
        // No mod_wsgi: what building one would need is said.
        let (mut f, s) = facts();
        f.apache = Fact::Known(Some(Apache::default()));
        f.rootless = Some(Fact::Known(s));
        let found = check(&m, "shared1", &f);
        assert_eq!(found[0].scenario, "module-not-loaded");
        assert!(
            found[0].fix.contains("C compiler (missing)"),
            "{}",
            found[0].fix
        );
    }

    #[test]
    fn a_home_elsewhere_or_a_root_outside_the_account_is_refused() {
        let m = manifest();
        let (f, mut s) = facts();
        s.home = "/u/alice".into();
        assert_eq!(ids(&m, f, s), ["Error rootless-outside-account"]);
        // Outside the home, in a directory the account does not own; then one it owns.
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/manifests/ok/rootless.kdl"),
        )
        .unwrap()
        .replace("/home/alice/sites/blog", "/srv/blog");
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("site.kdl");
        std::fs::write(
            &copy,
            text.replace(
                "../project/blog",
                &format!(
                    "{}/tests/fixtures/manifests/project/blog",
                    env!("CARGO_MANIFEST_DIR")
                ),
            ),
        )
        .unwrap();
        let m = crate::manifest::load(&copy).unwrap();
        let dir_of = |owner: &str| {
            Fact::Known(PathState::Dir {
                mode: 0o755,
                owner: owner.into(),
                group: owner.into(),
                acl: Vec::new(),
            })
        };
        let (mut f, s) = facts();
        f.paths.insert("/srv".into(), dir_of("root"));
        f.paths
            .insert("/srv/blog".into(), Fact::Known(PathState::Missing));
        let found = ids(&m, f.clone(), s.clone());
        assert!(
            found.iter().all(|x| x == "Error rootless-outside-account"),
            "{found:?}"
        );
        assert_eq!(found.len(), 3, "root, venv and static: {found:?}");
        f.paths.insert("/srv/blog".into(), dir_of("alice"));
        assert_eq!(ids(&m, f, s), Vec::<String>::new());
    }
}
