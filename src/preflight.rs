//! Preflight: catalogue scenarios that can be known before deploying, found in the facts of
//! the plan's single round trip.
//!
//! Stage: plan (pure). Each finding names its catalogue scenario, the evidence, the fix, and
//! the manifest span where the fix belongs; an error-level finding stops `apply` before any
//! change. Rendering a finding reads the manifest text once, to show that line.

use crate::doctor::catalogue;
use crate::facts::Facts;
use crate::manifest::{Layout, Manifest};
use miette::{Diagnostic, LabeledSpan, NamedSource, SourceSpan};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Blocks apply.
    Error,
    Warning,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    pub severity: Severity,
    /// Catalogue id (`venv-python-version-mismatch`).
    pub scenario: String,
    pub app: Option<String>,
    pub evidence: String,
    pub fix: String,
    /// Where in the manifest the fix belongs (byte offset and length).
    #[serde(skip)]
    pub span: Option<SourceSpan>,
}

/// Every finding for one host.
pub fn check(m: &Manifest, host: &str, facts: &Facts, layout: Layout) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(host_node) = m.host(host) else {
        return out;
    };
    let Some(apache) = facts.apache.known() else {
        return out;
    };
    if host_node.rootless {
        out.extend(crate::preflight_rootless::check(m, host, facts));
        if apache.is_none() {
            return out;
        }
    }
    // What the host lacks; apply installs it unless the manifest says `packages #false`.
    // A rootless host installs nothing: its own checks say what to ask the admin for.
    let manager = crate::resources::packages::manager(facts).filter(|_| !host_node.rootless);
    let installs = host_node.packages && manager.is_some();
    if let Some(mgr) = manager {
        let pythons: Vec<&str> = m.apps_on(host).map(|a| a.python.as_str()).collect();
        let mut needed = crate::resources::packages::needed(facts, mgr, &pythons);
        needed.extend(crate::resources::packages::needed_for_tls(
            facts,
            mgr,
            m.apps_on(host).any(|a| a.tls.is_some()),
            m.apps_on(host).any(|a| a.acme().is_some()),
        ));
        if !host_node.packages && !needed.is_empty() {
            out.push(Finding {
                severity: Severity::Error,
                scenario: "packages-missing".into(),
                app: None,
                evidence: format!("the host lacks: {}", needed.join(", ")),
                fix: format!(
                    "`{}` on the host, or drop `packages #false` so that apply installs them",
                    mgr.command(&needed)
                ),
                span: Some(host_node.name.span),
            });
            return out;
        }
    }
    let Some(apache) = apache else {
        if installs {
            return out;
        }
        let install = match layout {
            Layout::Debian => "apt-get install apache2 libapache2-mod-wsgi-py3",
            Layout::Rhel => "dnf install httpd python3-mod_wsgi",
        };
        out.push(Finding {
            severity: Severity::Error,
            scenario: "apache-missing".into(),
            app: None,
            evidence: "neither apache2ctl nor httpd is installed".into(),
            fix: format!("install Apache and mod_wsgi on the host: `{install}`"),
            span: Some(host_node.name.span),
        });
        return out;
    };
    let system = facts.system.known();

    // SELinux confines httpd to files labelled for it; wsgictl does not label them.
    if system.is_some_and(|s| s.selinux == "enforcing") {
        for app in m.apps_on(host) {
            let root = app.root.trim_end_matches('/');
            out.push(Finding {
                severity: Severity::Warning,
                scenario: "selinux-denial".into(),
                app: Some(app.name.value.clone()),
                evidence: format!("SELinux is enforcing on the host, and wsgictl does not label {root}"),
                fix: format!(
                    "label the app for httpd: `semanage fcontext -a -t httpd_sys_content_t '{root}(/.*)?' && restorecon -Rv {root}` (httpd_sys_rw_content_t for what it writes)"
                ),
                span: Some(app.root.span),
            });
        }
    }

    // mod_wsgi's sockets: Apache's children must reach them, and the path must fit in a
    // sockaddr_un (108 bytes with its NUL; mod_wsgi adds `.<pid>.<generation>.<id>.sock`).
    if let Some(dir) = &apache.run_dir {
        let prefix = match layout {
            Layout::Debian => format!("{dir}/wsgi"),
            Layout::Rhel => format!("{}/run/wsgi", apache.confdir),
        };
        if let Some(stat) = &apache.run_dir_denied {
            out.push(Finding {
                severity: Severity::Error,
                scenario: "socket-dir-not-accessible".into(),
                app: None,
                evidence: format!(
                    "the Apache user ({}) cannot traverse {dir} ({stat}), where mod_wsgi puts its sockets",
                    apache.user.as_deref().unwrap_or("?")
                ),
                fix: format!("`chmod 0755 {dir}`: Apache's children connect to the daemons' sockets there"),
                span: Some(host_node.name.span),
            });
        }
        if prefix.len() + SOCKET_SUFFIX > 107 {
            out.push(Finding {
                severity: Severity::Error,
                scenario: "socket-path-too-long".into(),
                app: None,
                evidence: format!(
                    "socket paths start with {prefix} ({} bytes); with mod_wsgi's suffix they pass the 107 a Unix socket path may have",
                    prefix.len()
                ),
                fix: "use an Apache instance whose run directory has a short path (APACHE_RUN_DIR in envvars)".into(),
                span: Some(host_node.name.span),
            });
        }
    }

    // mod_wsgi not installed at all (enabling it is the plan's job; installing it too, unless
    // the manifest says `packages #false` or the host's package manager is unknown).
    if !installs && apache.wsgi_so.is_none() && !apache.modules.contains("wsgi_module") {
        let install = match layout {
            Layout::Debian => "apt-get install libapache2-mod-wsgi-py3",
            Layout::Rhel => "dnf install python3-mod_wsgi",
        };
        out.push(Finding {
            severity: Severity::Error,
            scenario: "module-not-loaded".into(),
            app: None,
            evidence: format!(
                "no LoadModule wsgi_module in {} and no wsgi_module loaded",
                apache.confdir
            ),
            fix: format!("install mod_wsgi on the host: `{install}`"),
            span: Some(host_node.name.span),
        });
    }

    // Exactly one LoadModule wsgi_module in the whole configuration.
    if apache.wsgi_loads.len() > 1 {
        out.push(Finding {
            severity: Severity::Error,
            scenario: "duplicate-loadmodule-wrong-python".into(),
            app: None,
            evidence: format!(
                "`LoadModule wsgi_module` in {} files: {}",
                apache.wsgi_loads.len(),
                apache.wsgi_loads.join(", ")
            ),
            fix: "keep exactly one `LoadModule wsgi_module`: disable the others (`a2dismod`, or move the file aside); the first one loaded decides the Python".into(),
            span: Some(host_node.name.span),
        });
    }

    // What other configuration on the host already claims: a daemon group of the same
    // name (Apache refuses the configuration), or the same server name on the same port
    // (whichever vhost loads first answers).
    let replaced = crate::desired::DesiredReplaced::of(m, host);
    let going = |file: &str| replaced.iter().any(|r| r.covers(file));
    for app in m.apps_on(host) {
        for (name, file) in &apache.foreign_daemons {
            if *name == *app.name && !going(file) {
                out.push(Finding {
                    severity: Severity::Error,
                    scenario: "duplicate-daemon-name".into(),
                    app: Some(app.name.value.clone()),
                    evidence: format!("`WSGIDaemonProcess {name}` is already defined in {file}, which wsgictl does not manage"),
                    fix: format!("rename the app (its name is its daemon group), or remove that definition from {file}"),
                    span: Some(app.name.span),
                });
            }
        }
        let names: Vec<&str> = std::iter::once(app.server_name.as_str())
            .chain(app.aliases.iter().map(|a| a.as_str()))
            .collect();
        for (port, name, file) in &apache.vhosts {
            let ours = file
                .rsplit('/')
                .next()
                .is_some_and(|f| f.starts_with("wsgictl-"));
            if !ours
                && !going(file)
                && *port == *app.port
                && names.iter().any(|n| n.eq_ignore_ascii_case(name))
            {
                out.push(Finding {
                    severity: Severity::Error,
                    scenario: "vhost-name-claimed".into(),
                    app: Some(app.name.value.clone()),
                    evidence: format!("{file} already serves {name} on port {port}"),
                    fix: "disable that vhost (`a2dissite`, or move it aside), or give this app another `server-name` or `port`".into(),
                    span: Some(app.server_name.span),
                });
            }
        }
    }

    // wsgictl runs the manifest's interpreter as root (to build the venv): never one that
    // another account owns or can write, which would be that account's way to root.
    for app in m.apps_on(host) {
        let venv = facts
            .venvs
            .get(&app.venv.path)
            .and_then(|f| f.known())
            .and_then(|v| v.as_ref())
            .and_then(|v| v.untrusted.as_ref())
            .map(|u| (format!("the venv's python {}/bin/python", app.venv.path), u));
        let base = facts
            .untrusted
            .get(app.python.as_str())
            .map(|u| (app.python.value.clone(), u));
        for (what, u) in base.into_iter().chain(venv) {
            let mut w = u.splitn(3, ' ');
            let (path, owner, mode) = (
                w.next().unwrap_or(""),
                w.next().unwrap_or("?"),
                w.next().unwrap_or("?"),
            );
            out.push(Finding {
                severity: Severity::Error,
                scenario: "interpreter-not-root-controlled".into(),
                app: Some(app.name.value.clone()),
                evidence: format!(
                    "{what} is controlled by `{owner}`: {path} (mode {mode}) is owned or writable by an account other than root; wsgictl did not run it as root"
                ),
                fix: "build the venv from an interpreter only root can change (`python \"/usr/bin/python3\"`), in a directory only root can change (`venv { path \"/srv/APP/venv\" }`); or have root install it system-wide (e.g. under /opt)".into(),
                span: Some(app.python.span),
            });
        }
    }

    // The venv's `python` is a symlink to the base interpreter: the daemon user must be able
    // to run it (a Python built under /root or a 0700 home is not).
    for app in m.apps_on(host) {
        let key = format!("{} {}", app.user, *app.python);
        if let Some(crate::facts::Reached {
            reach: crate::facts::Reach::Denied { path, stat },
            as_nobody,
        }) = facts.reach.get(&key).and_then(|f| f.known())
        {
            let who = if *as_nobody {
                format!(
                    "`{}` (checked as `nobody`: the account does not exist yet)",
                    app.user
                )
            } else {
                format!("`{}`", app.user)
            };
            out.push(Finding {
                severity: Severity::Error,
                scenario: "venv-base-interpreter-unreachable".into(),
                app: Some(app.name.value.clone()),
                evidence: format!("{who} cannot run {}: {path} ({stat}) is in the way", *app.python),
                fix: format!(
                    "build the venv from an interpreter every user can run (`python \"/usr/bin/python3\"`), or let the daemon user traverse {path} (`setfacl -m u:{}:x {path}`)",
                    app.user
                ),
                span: Some(app.python.span),
            });
        }
    }

    // The interpreter a venv is built from must be the X.Y mod_wsgi is linked against; mod_wsgi
    // itself says nothing and Django fails to import (ERRORS.md: silent!).
    if let Some(linked) = &apache.wsgi_python {
        for app in m.apps_on(host) {
            let python = &app.python;
            let Some(Some(version)) = facts
                .interpreters
                .get(&python.value)
                .and_then(|f| f.known())
            else {
                continue;
            };
            let xy: String = version.split('.').take(2).collect::<Vec<_>>().join(".");
            if xy != *linked {
                out.push(Finding {
                    severity: Severity::Error,
                    scenario: "venv-python-version-mismatch".into(),
                    app: Some(app.name.value.clone()),
                    evidence: format!(
                        "mod_wsgi ({}) is linked against Python {linked}; {} is Python {version}",
                        apache.wsgi_so.as_deref().unwrap_or("mod_wsgi"),
                        python.value
                    ),
                    fix: format!(
                        "build the venv from a Python {linked} interpreter: `python \"/usr/bin/python{linked}\"` in app `{}`, or install a mod_wsgi built for Python {xy}",
                        *app.name
                    ),
                    span: Some(python.span),
                });
            }
        }
    }
    out
}

/// What mod_wsgi appends to the socket prefix: `.<pid>.<generation>.<id>.sock`, generously.
const SOCKET_SUFFIX: usize = 25;

/// A finding as a miette diagnostic over the manifest's text.
struct Shown<'a> {
    f: &'a Finding,
    src: &'a NamedSource<String>,
}

impl fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.f.scenario)
    }
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let app = self
            .f
            .app
            .as_ref()
            .map(|a| format!("app `{a}`: "))
            .unwrap_or_default();
        write!(f, "{app}{}", self.f.evidence)
    }
}

impl std::error::Error for Shown<'_> {}

impl Diagnostic for Shown<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        let number = catalogue::SCENARIOS
            .iter()
            .find(|s| s.id == self.f.scenario)
            .map(|s| format!(" (#{})", s.number))
            .unwrap_or_default();
        Some(Box::new(format!("preflight::{}{number}", self.f.scenario)))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.f.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(&self.f.fix))
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.f.span.map(|_| self.src as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.f.span?;
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            Some("the fix goes here".into()),
            span,
        ))))
    }
}

/// Render findings against the manifest file (read once), as `plan` prints them.
pub fn render(findings: &[Finding], manifest: &std::path::Path, color: bool) -> String {
    let text = std::fs::read_to_string(manifest).unwrap_or_default();
    let src = NamedSource::new(manifest.display().to_string(), text);
    findings
        .iter()
        .map(|f| crate::manifest::diag::render(&Shown { f, src: &src }, color, 100))
        .collect()
}
