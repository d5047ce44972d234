//! From what the doctor saw to findings: each with its catalogue scenario, the evidence, the
//! cause and the fix (pure).
//!
//! Stage: doctor. Live checks come first and are definite (a permission denied as the daemon
//! user, a missing venv, a failing import, ALLOWED_HOSTS); log lines then either add evidence
//! to a finding whose scenario they can point at, or become findings of their own (lines with
//! one candidate scenario before lines with several, so a specific line decides an ambiguous
//! one). Drift (a managed file that differs from the manifest) and the plan's preflight
//! findings are findings too.

use super::catalogue::{self, SCENARIOS};
use super::live::{AccessOutcome, AppLive, AppProbe, Daemon, Live, Since};
use super::signatures::{Context, Verdict, classify};
use crate::manifest::Manifest;
use crate::plan::{Action, Plan};
use crate::preflight::Severity;
use miette::SourceSpan;
use serde::Serialize;

/// Scenarios whose log lines are what any other cause looks like from Apache's side: an
/// exception while loading the script, a daemon that died.
const GENERIC: &[u8] = &[44, 46];

/// Scenarios whose own evidence is an `info` line (mod_wsgi logs the restart it makes).
const INFO_SIGNIFICANT: &[u8] = &[43, 49];

/// Evidence lines kept per finding; the rest are counted.
const MAX_EVIDENCE: usize = 3;

/// Where in the manifest a fix goes.
#[derive(Debug, Clone, Serialize)]
pub struct FixAt {
    pub file: String,
    pub line: usize,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    pub severity: Severity,
    /// Catalogue id, or `drift`, `configtest-failed`, `not-answering`, `http-error`.
    pub scenario: String,
    /// The catalogue number, when it is a catalogue scenario.
    pub number: Option<u8>,
    pub title: String,
    pub app: Option<String>,
    pub evidence: Vec<String>,
    /// Evidence lines beyond the ones kept.
    pub more: usize,
    pub cause: String,
    pub fix: String,
    pub fix_at: Option<FixAt>,
    /// Other scenarios the same evidence can mean.
    pub also: Vec<String>,
}

impl Diagnosis {
    fn catalogue(number: u8, app: Option<&str>, evidence: String, fix: Option<String>) -> Self {
        let s = catalogue::scenario(number).expect("catalogue number");
        Diagnosis {
            severity: Severity::Error,
            scenario: s.id.into(),
            number: Some(number),
            title: s.symptom.into(),
            app: app.map(str::to_string),
            evidence: vec![evidence],
            more: 0,
            cause: s.cause.into(),
            fix: fix.unwrap_or_else(|| s.fix.into()),
            fix_at: None,
            also: Vec::new(),
        }
    }

    fn own(
        id: &str,
        title: &str,
        app: Option<&str>,
        evidence: String,
        cause: &str,
        fix: String,
    ) -> Self {
        Diagnosis {
            severity: Severity::Error,
            scenario: id.into(),
            number: None,
            title: title.into(),
            app: app.map(str::to_string),
            evidence: vec![evidence],
            more: 0,
            cause: cause.into(),
            fix,
            fix_at: None,
            also: Vec::new(),
        }
    }

    fn at(mut self, src: &Source<'_>, span: SourceSpan) -> Self {
        self.fix_at = Some(src.locate(span));
        self
    }

    fn add_evidence(&mut self, line: &str) {
        if self.evidence.iter().any(|e| e == line) {
            return;
        }
        if self.evidence.len() < MAX_EVIDENCE {
            self.evidence.push(line.to_string());
        } else {
            self.more += 1;
        }
    }
}

/// The manifest's text, to say which line a fix goes on.
pub struct Source<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

impl Source<'_> {
    fn locate(&self, span: SourceSpan) -> FixAt {
        let offset = span.offset().min(self.text.len());
        let line = self.text[..offset].matches('\n').count() + 1;
        let start = self.text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let end = self.text[offset..]
            .find('\n')
            .map_or(self.text.len(), |i| offset + i);
        FixAt {
            file: self.file.to_string(),
            line,
            text: self.text[start..end].trim().to_string(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AppReport {
    pub app: String,
    pub url: String,
    /// HTTP status, or why there was none.
    pub status: Option<u16>,
    pub error: Option<String>,
    pub millis: Option<u64>,
    pub daemons: Vec<Daemon>,
    pub log_lines: usize,
    pub log_since: Since,
    pub findings: Vec<Diagnosis>,
    pub healthy: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostReport {
    pub host: String,
    pub target: String,
    /// Findings that concern the whole host (config test, main error log, host-wide files).
    pub findings: Vec<Diagnosis>,
    pub apps: Vec<AppReport>,
}

impl HostReport {
    pub fn healthy(&self) -> bool {
        self.findings.iter().all(|f| f.severity != Severity::Error)
            && self.apps.iter().all(|a| a.healthy)
    }
}

/// What diagnosing one host needs.
pub struct Inputs<'a> {
    pub m: &'a Manifest,
    pub src: Source<'a>,
    pub host: &'a str,
    pub target: &'a str,
    pub plan: &'a Plan,
    pub layout: crate::manifest::Layout,
    pub probes: &'a [AppProbe],
    pub live: &'a Live,
    /// The host has no SELinux (absent or disabled).
    pub no_selinux: bool,
    /// A rootless host: the account and its Apache, as the plan's gather saw them.
    pub rootless: Option<&'a crate::facts::user_server::UserServer>,
    /// A rootless host's `apachectl`.
    pub ctl: &'a str,
}

pub fn diagnose(i: &Inputs<'_>) -> HostReport {
    let ctx = Context {
        document_roots: i
            .probes
            .iter()
            .map(|p| format!("{}/htdocs", p.root))
            .collect(),
        no_selinux: i.no_selinux,
    };
    let mut host_findings = Vec::new();

    // Apache's config test: every line through the catalogue.
    if let Some((false, out)) = &i.live.configtest {
        let before = host_findings.len();
        log_findings(&mut host_findings, out.lines(), &ctx, None, |n, line| {
            config_fix(i, n, line, out)
        });
        if host_findings.len() == before {
            host_findings.push(Diagnosis::own(
                "configtest-failed",
                "Apache's configuration test fails",
                None,
                out.lines().last().unwrap_or("").to_string(),
                "a configuration file has an error; Apache keeps its running configuration until a reload, and refuses to start.",
                "fix the file the message names; `wsgictl apply` restores the files wsgictl manages".into(),
            ));
        }
    }

    // A rootless host: the account's Apache itself.
    if let Some(server) = i.rootless
        && server.pid.is_none()
    {
        host_findings.push(Diagnosis::catalogue(
            62,
            None,
            "the account's Apache is not running (no live process in its pid file)".into(),
            Some(format!(
                "`wsgictl apply` starts it and installs its supervision; by hand: `{} -k start`",
                i.ctl
            )),
        ));
    }

    // Preflight findings of the plan made from the same facts (the apps' come with them).
    for f in i.plan.findings.iter().filter(|f| f.app.is_none()) {
        host_findings.push(from_preflight(&i.src, f));
    }

    // Drift: what apply would change now.
    let drift: Vec<(Option<String>, String)> = i
        .plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .map(|c| {
            let owner = i
                .probes
                .iter()
                .find(|p| {
                    c.id.app() == Some(p.name.as_str())
                        || c.id.path().is_some_and(|x| {
                            x == p.root
                                || x.starts_with(&format!("{}/", p.root))
                                || x.contains(&format!("wsgictl-{}.conf", p.name))
                        })
                })
                .map(|p| p.name.clone());
            (
                owner,
                format!("{} {}  {}", c.action.symbol(), c.id, c.reason),
            )
        })
        .collect();
    if let Some(d) = drift_finding(
        i,
        None,
        drift.iter().filter(|(o, _)| o.is_none()).map(|(_, l)| l),
    ) {
        host_findings.push(d);
    }

    // The main error log: lines that name an app go to it.
    let mut main_by_app: Vec<Vec<&str>> = vec![Vec::new(); i.probes.len()];
    let mut main_host = Vec::new();
    for line in &i.live.main_log.lines {
        match i.probes.iter().position(|p| {
            line.contains(&format!("'{}'", p.name))
                || line.contains(&format!("(wsgi:{})", p.name))
                || line.contains(&format!("{}/", p.root))
        }) {
            Some(k) => main_by_app[k].push(line),
            None => main_host.push(line.as_str()),
        }
    }
    log_findings(
        &mut host_findings,
        main_host.into_iter(),
        &ctx,
        None,
        |_, _| None,
    );

    let apps = i
        .probes
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let empty = AppLive::default();
            let live = i.live.apps.get(&p.name).unwrap_or(&empty);
            let mut findings = app_findings(i, p, live);
            if let Some(d) = drift_finding(
                i,
                Some(p),
                drift.iter().filter(|(o, _)| o.as_deref() == Some(&p.name)).map(|(_, l)| l),
            ) {
                findings.push(d);
            }
            for f in i.plan.findings.iter().filter(|f| f.app.as_deref() == Some(&p.name)) {
                findings.push(from_preflight(&i.src, f));
            }
            let (status, error, millis) = match &live.http {
                Some(Ok((code, secs))) => (Some(*code), None, Some((secs * 1000.0) as u64)),
                Some(Err(e)) => (None, Some(e.clone()), None),
                None => (None, Some("not requested (the output was cut off)".into()), None),
            };
            let lines = || live.log.lines.iter().map(String::as_str).chain(main_by_app[k].iter().copied());
            let from_log = findings.len();
            log_findings(&mut findings, lines(), &ctx, Some(&p.name), |n, _| app_fix(p, n));
            // Frames in any release of the app are its own code.
            add_traceback(&mut findings, lines(), &format!("{}/releases", p.root));
            if let Some(code) = status
                && code < 400
                && matches!(live.django, Some(Ok(_)))
            {
                settled(&mut findings[from_log..], code);
            }

            // Rootless: the site must also be reachable through the host's web server.
            if let (Some(front), Some((false, code))) = (p.front_port, &live.front) {
                let answered = if code == "000" {
                    format!("nothing answers on port {front}")
                } else {
                    format!("port {front} answered {code} without reaching the account's Apache")
                };
                findings.push(Diagnosis::catalogue(
                    64,
                    Some(&p.name),
                    format!("GET http://{}:{front}{}: {answered}", p.server_name, p.path),
                    Some(format!(
                        "have the host's web server forward {} to the account's Apache; this is the block for the host's Apache:\n{}",
                        p.server_name,
                        crate::render::rootless::front_end(
                            &p.server_name,
                            &crate::render::rootless::backend_url(&p.listen, p.port)
                        )
                    )),
                ));
            }
            let errors = findings.iter().any(|f| f.severity == Severity::Error);
            match (status, &error) {
                (None, Some(e)) => findings.push(Diagnosis::own(
                    "not-answering",
                    "the site does not answer",
                    Some(&p.name),
                    format!("GET {}: {e}", p.url()),
                    "Apache is not running, or does not listen on this port.",
                    match i.rootless {
                        Some(_) => format!(
                            "start the account's Apache (`{} -k start`, or `wsgictl apply`) and check `ss -ltn` for the port",
                            i.ctl
                        ),
                        None => "start Apache (`systemctl start apache2` / `apache2ctl start`) and check `ss -ltn` for the port".into(),
                    },
                )),
                (Some(400), _) if !findings.iter().any(|f| f.number == Some(52)) => {
                    findings.push(Diagnosis::catalogue(52, Some(&p.name), format!("GET {} answered 400", p.url()), None));
                }
                (Some(c), _) if c >= 400 && !errors => findings.push(Diagnosis::own(
                    "http-error",
                    "the site answers with an error",
                    Some(&p.name),
                    format!("GET {} answered {c}", p.url()),
                    "nothing in the catalogue matched what the host logged.",
                    format!("read the app's error log on the host ({})", super::live::app_log_name(i.layout, &p.name)),
                )),
                _ => {}
            }
            let healthy = status.is_some_and(|c| c < 400)
                && !findings.iter().any(|f| f.severity == Severity::Error);
            AppReport {
                app: p.name.clone(),
                url: p.url(),
                status,
                error,
                millis,
                daemons: i.live.daemons.iter().filter(|d| d.group == p.name).cloned().collect(),
                log_lines: live.log.lines.len() + main_by_app[k].len(),
                log_since: live.log.since,
                findings,
                healthy,
            }
        })
        .collect();
    HostReport {
        host: i.host.to_string(),
        target: i.target.to_string(),
        findings: host_findings,
        apps,
    }
}

/// Scenarios of a script that does not load: unreadable by the daemon, or raising on import.
const LOAD_FAILURES: &[u8] = &[22, 44];

/// Log findings of a failed load when the live checks say the script loads now (the daemon
/// user imports it and the site answered `code`): a daemon that started while it was broken
/// logged them, before the fix. Live checks are definite; these become warnings that say so.
fn settled(log_findings: &mut [Diagnosis], code: u16) {
    for f in log_findings
        .iter_mut()
        .filter(|f| f.number.is_some_and(|n| LOAD_FAILURES.contains(&n)))
    {
        f.severity = Severity::Warning;
        f.cause = format!(
            "logged before the script loaded again: the daemon user imports it now and the site answers {code}. Then: {}",
            f.cause
        );
        f.fix =
            "nothing, if it was fixed since: the next doctor reads the log from after these lines"
                .into();
    }
}

/// A preflight finding of the plan, as the doctor prints it.
fn from_preflight(src: &Source<'_>, f: &crate::preflight::Finding) -> Diagnosis {
    let app = f.app.as_deref();
    let mut d = match SCENARIOS.iter().find(|s| s.id == f.scenario) {
        Some(s) => Diagnosis::catalogue(s.number, app, f.evidence.clone(), Some(f.fix.clone())),
        None => Diagnosis::own(
            &f.scenario,
            &f.scenario,
            app,
            f.evidence.clone(),
            "",
            f.fix.clone(),
        ),
    };
    d.severity = f.severity;
    if let Some(span) = f.span {
        d = d.at(src, span);
    }
    d
}

fn drift_finding<'a>(
    i: &Inputs<'_>,
    app: Option<&AppProbe>,
    mut lines: impl Iterator<Item = &'a String>,
) -> Option<Diagnosis> {
    let first = lines.next()?;
    let mut d = Diagnosis::own(
        "drift",
        "the host differs from the manifest",
        app.map(|a| a.name.as_str()),
        first.clone(),
        "something on the host was changed by hand (or removed) since the last apply.",
        "`wsgictl apply` puts back what the manifest says (`wsgictl plan` shows the diff first)"
            .into(),
    );
    for l in lines {
        d.add_evidence(l);
    }
    if let Some(a) = app.and_then(|a| i.m.apps.iter().find(|x| *x.name == a.name)) {
        d = d.at(&i.src, a.name.span);
    }
    Some(d)
}

/// The app's live checks: permissions, the venv's Python, the import test, Django's settings.
fn app_findings(i: &Inputs<'_>, p: &AppProbe, live: &AppLive) -> Vec<Diagnosis> {
    let app = i.m.apps.iter().find(|a| *a.name == p.name);
    let name = Some(p.name.as_str());
    let mut out: Vec<Diagnosis> = Vec::new();
    let push = |out: &mut Vec<Diagnosis>, d: Diagnosis| {
        if !out.iter().any(|o| o.scenario == d.scenario) {
            out.push(d);
        }
    };
    for a in &live.access {
        match &a.outcome {
            AccessOutcome::Ok | AccessOutcome::Skipped { .. } => {}
            AccessOutcome::NoUser => {
                let mut d = Diagnosis::catalogue(
                    8,
                    name,
                    format!(
                        "the daemon user `{}` does not exist (`getent passwd {}` finds nothing)",
                        a.user, a.user
                    ),
                    Some(format!(
                        "`wsgictl apply` creates the account `{}` (the app's `user`)",
                        a.user
                    )),
                );
                if let Some(app) = app {
                    d = d.at(&i.src, app.name.span);
                }
                push(&mut out, d);
            }
            AccessOutcome::Denied { path, stat } => {
                let python = a.target.ends_with("/bin/python");
                if python && stat == "missing" {
                    continue; // the venv check below says it
                }
                let managed = path.starts_with(&format!("{}/", p.root)) || *path == p.root;
                let fix_dir = if managed {
                    "`wsgictl apply` restores the permissions it manages".to_string()
                } else {
                    format!(
                        "`setfacl -m u:{u}:x {path}` (or `chmod o+x {path}`): {path} is not managed by wsgictl",
                        u = a.user
                    )
                };
                let what = if *path == a.target {
                    format!(
                        "`{}` cannot {} {} ({stat})",
                        a.user,
                        verb(&a.test),
                        a.target
                    )
                } else {
                    format!(
                        "`{}` cannot traverse {path} ({stat}) on the way to {}",
                        a.user, a.target
                    )
                };
                let d = if *path == a.target && stat == "missing" {
                    if a.target == p.wsgi {
                        Diagnosis::catalogue(
                            15,
                            name,
                            what,
                            Some("`wsgictl apply` writes the script".into()),
                        )
                    } else {
                        Diagnosis::catalogue(
                            14,
                            name,
                            what,
                            Some("`wsgictl apply` creates it".into()),
                        )
                    }
                } else if python {
                    Diagnosis::catalogue(
                        36,
                        name,
                        format!(
                            "{what}; it resolves to {}",
                            live.base.as_deref().unwrap_or("?")
                        ),
                        None,
                    )
                } else if *path == a.target && a.target == p.wsgi && a.user == p.user {
                    Diagnosis::catalogue(
                        22,
                        name,
                        what,
                        Some(format!(
                            "`wsgictl apply` restores its mode and group (root:{} 0640); by hand: `chgrp {} {} && chmod 0640 {}`",
                            p.user, p.user, p.wsgi, p.wsgi
                        )),
                    )
                } else if a.target == p.static_dir && *path == a.target {
                    Diagnosis::catalogue(14, name, what, Some(fix_dir))
                } else {
                    Diagnosis::catalogue(12, name, what, Some(fix_dir))
                };
                push(&mut out, d);
            }
        }
    }
    match &live.python {
        Some(Err(e)) if e == "missing" => {
            let mut d = Diagnosis::catalogue(
                33,
                name,
                format!(
                    "{}/bin/python does not exist: the venv (python-home) is gone",
                    p.venv
                ),
                Some(format!(
                    "`wsgictl apply` recreates the venv at {} and installs the requirements",
                    p.venv
                )),
            );
            if let Some(app) = app {
                d = d.at(&i.src, app.name.span);
            }
            push(&mut out, d);
        }
        Some(Err(e)) if !out.iter().any(|d| d.number == Some(36)) => {
            let d = Diagnosis::catalogue(
                36,
                name,
                format!("{}/bin/python as `{}`: {e}", p.venv, p.user),
                None,
            );
            push(&mut out, d);
        }
        _ => {}
    }
    let blocked = !out.is_empty();
    match &live.django {
        Some(Err(text)) if !blocked => {
            let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            let last = lines
                .last()
                .copied()
                .unwrap_or("(no output)")
                .trim()
                .to_string();
            let mut d = Diagnosis::catalogue(
                44,
                name,
                format!("importing {} as `{}` fails: {last}", p.wsgi, p.user),
                Some("fix the error the traceback ends with in the app's code or settings, then `wsgictl apply` (it deploys the source and restarts the daemon)".into()),
            );
            if let Some(frame) = lines
                .iter()
                .rev()
                .find(|l| l.trim_start().starts_with("File \""))
            {
                d.add_evidence(frame.trim());
            }
            push(&mut out, d);
        }
        Some(Ok(info)) => {
            if let Some(app) = app {
                let refused = &info.refused;
                if !refused.is_empty() {
                    let d = Diagnosis::catalogue(
                        52,
                        name,
                        format!("ALLOWED_HOSTS is {:?}; it does not allow {}", info.allowed_hosts, refused.join(", ")),
                        Some(format!("add {} to the settings' ALLOWED_HOSTS (where the settings read it from the environment, in the app's `env`)", refused.join(", "))),
                    )
                    .at(&i.src, app.server_name.span);
                    push(&mut out, d);
                }
                if info.static_root.as_deref().map(|s| s.trim_end_matches('/'))
                    != Some(p.static_dir.as_str())
                {
                    let mut d = Diagnosis::catalogue(
                        14,
                        name,
                        format!(
                            "Django's STATIC_ROOT is {:?}; Apache serves {}",
                            info.static_root, p.static_dir
                        ),
                        Some(format!(
                            "set STATIC_ROOT to {} in the settings, or the manifest's `static` directory to STATIC_ROOT",
                            p.static_dir
                        )),
                    );
                    d.severity = Severity::Warning;
                    push(&mut out, d);
                }
            }
        }
        _ => {}
    }
    out
}

fn verb(test: &str) -> &'static str {
    match test {
        "-r" => "read",
        "-x" => "execute",
        _ => "find",
    }
}

/// Scenario-specific fixes for what the config test says.
fn config_fix(i: &Inputs<'_>, n: u8, line: &str, out: &str) -> Option<String> {
    match n {
        1 => Some(
            "enable mod_wsgi: `wsgictl apply` (it enables the module it needs), or `a2enmod wsgi`; install it first if it is missing (`apt-get install libapache2-mod-wsgi-py3`)".into(),
        ),
        4 => {
            let file = out
                .lines()
                .find_map(|l| l.split(" of ").nth(1).map(|f| f.trim_end_matches(':').to_string()))
                .unwrap_or_else(|| "another file".into());
            // The directive itself, which the live script prints after the message.
            let named = out.lines().find_map(|l| {
                let mut words = l.strip_prefix("context:")?.split_whitespace();
                words.find(|w| *w == "WSGIDaemonProcess")?;
                words.next().map(str::to_string)
            });
            let name = named.filter(|n| i.probes.iter().any(|p| p.name == *n));
            Some(match name {
                Some(name) => format!("remove or rename `WSGIDaemonProcess {name}` in {file}: wsgictl's vhost defines that daemon group, and a name may be defined once per server"),
                None => format!("remove the second `WSGIDaemonProcess` of that name in {file}: a name may be defined once per server"),
            })
        }
        8 => {
            let user = line.rsplit(' ').next().unwrap_or("").to_string();
            Some(format!("`wsgictl apply` creates the account `{user}` (an app's `user`); a daemon user may never be root"))
        }
        _ => None,
    }
}

/// Scenario-specific fixes for what an app's logs say.
fn app_fix(p: &AppProbe, n: u8) -> Option<String> {
    match n {
        49 => Some(format!(
            "a request ran longer than request-timeout ({} s) and the daemon was restarted: make the view faster, or raise `request-timeout` in the app's `daemon` block",
            p.request_timeout
        )),
        11 => {
            Some("`wsgictl apply` restores the vhost with its `Require all granted` blocks".into())
        }
        _ => None,
    }
}

/// Classify `lines` and fold them into `findings`: specific lines first.
fn log_findings<'a>(
    findings: &mut Vec<Diagnosis>,
    lines: impl Iterator<Item = &'a str>,
    ctx: &Context,
    app: Option<&str>,
    fix: impl Fn(u8, &str) -> Option<String>,
) {
    let mut classified: Vec<(&str, Vec<u8>)> = lines
        .filter_map(|l| match classify(l, ctx) {
            Verdict::Scenarios(s) => Some((l, s)),
            _ => None,
        })
        .collect();
    classified.sort_by_key(|(_, s)| s.len() > 1);
    for (raw, cands) in classified {
        let line = trim(raw);
        if let Some(f) = findings
            .iter_mut()
            .find(|f| f.number.is_some_and(|n| cands.contains(&n)))
        {
            f.add_evidence(&line);
            continue;
        }
        // An informational line (a restart, a shutdown) only supports a finding; and an
        // exception or a crash is what any other cause looks like from Apache's side.
        let info = super::signatures::split(raw)
            .level
            .is_some_and(|l| matches!(l, "info" | "notice" | "debug") || l.starts_with("trace"));
        let generic = cands.iter().all(|n| GENERIC.contains(n));
        let significant = cands.iter().all(|n| INFO_SIGNIFICANT.contains(n));
        if (info && !significant) || generic {
            if let Some(f) = findings
                .iter_mut()
                .find(|f| f.severity == Severity::Error && f.number.is_some())
            {
                f.add_evidence(&line);
                continue;
            }
            if info {
                continue;
            }
        }
        let mut d = Diagnosis::catalogue(cands[0], app, line.clone(), fix(cands[0], &line));
        d.also = cands[1..]
            .iter()
            .filter_map(|n| catalogue::scenario(*n).map(|s| s.id.to_string()))
            .collect();
        findings.push(d);
    }
}

/// The exception a traceback in the log ends with, and the last frame of it in the app's own
/// code (`src`): `ModuleNotFoundError: No module named 'x' (raised in /srv/blog/src/blog/urls.py,
/// line 3)`. The last traceback wins; chained ones count as one.
fn traceback_summary<'a>(lines: impl Iterator<Item = &'a str>, src: &str) -> Option<String> {
    let own = format!("{}/", src.trim_end_matches('/'));
    let mut inside = false;
    let mut frame: Option<(String, String)> = None;
    let mut last = None;
    for raw in lines {
        let msg = super::signatures::split(raw).message;
        let t = msg.trim();
        if t.starts_with("Traceback (most recent call last)") {
            if !inside {
                frame = None;
            }
            inside = true;
            continue;
        }
        if !inside {
            continue;
        }
        if let Some(rest) = t.strip_prefix("File \"") {
            if let Some((path, after)) = rest.split_once("\", line ")
                && path.starts_with(&own)
            {
                let n: String = after.chars().take_while(char::is_ascii_digit).collect();
                frame = Some((path.to_string(), n));
            }
            continue;
        }
        // A frame's source line, a `^^^` marker, or the text between chained tracebacks.
        if msg.starts_with(' ')
            || t.is_empty()
            || t.starts_with("During handling of the above exception")
            || t.starts_with("The above exception was the direct cause")
        {
            continue;
        }
        last = Some(match &frame {
            Some((p, n)) => format!("{t} (raised in {p}, line {n})"),
            None => t.to_string(),
        });
        inside = false;
    }
    last
}

/// Put the traceback's last line first in the evidence of the finding it explains: the one
/// that holds mod_wsgi's `Exception occurred processing WSGI script`, else the app's first
/// catalogue error.
fn add_traceback<'a>(findings: &mut [Diagnosis], lines: impl Iterator<Item = &'a str>, src: &str) {
    let Some(summary) = traceback_summary(lines, src) else {
        return;
    };
    let holds = |f: &Diagnosis| {
        f.evidence
            .iter()
            .any(|e| e.contains("Exception occurred processing WSGI script"))
    };
    let target = match findings.iter().position(holds) {
        Some(k) => Some(k),
        None => findings
            .iter()
            .position(|f| f.severity == Severity::Error && f.number.is_some()),
    };
    if let Some(k) = target
        && !findings[k].evidence.contains(&summary)
    {
        findings[k].evidence.insert(0, summary);
    }
}

/// A log line without its timestamp, at most 300 characters.
fn trim(line: &str) -> String {
    let l = line.trim();
    let l = match l.strip_prefix('[').and_then(|r| r.split_once("] ")) {
        Some((stamp, rest)) if stamp.chars().any(|c| c.is_ascii_digit()) && stamp.contains(':') => {
            rest
        }
        _ => l,
    };
    if l.chars().count() > 300 {
        format!("{}…", l.chars().take(300).collect::<String>())
    } else {
        l.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_lose_their_timestamp_and_specific_lines_decide() {
        assert_eq!(
            trim("[Tue Nov 24 09:51:14.068974 2026] [wsgi:error] [pid 1] x"),
            "[wsgi:error] [pid 1] x"
        );
        let mut f = Vec::new();
        let lines = [
            "[Tue Nov 24 09:51:14 2026] [wsgi:error] [pid 7] [client 127.0.0.1:1] Truncated or oversized response headers received from daemon process 'app1': /srv/a/app.wsgi",
            "[Tue Nov 24 09:51:13 2026] [wsgi:info] [pid 8] mod_wsgi (pid=8): Daemon process request time limit exceeded, stopping process 'app1'.",
        ];
        log_findings(
            &mut f,
            lines.into_iter(),
            &Context::default(),
            Some("app1"),
            |_, _| None,
        );
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].scenario, "request-timeout-restart");
        assert_eq!(f[0].evidence.len(), 2);
    }

    /// mod_wsgi's lines for a view whose urls.py imports a module that is not installed: a
    /// lazy import the import test does not reach, found at the first request.
    #[test]
    fn a_traceback_names_its_exception_and_the_apps_own_line() {
        let p = "[Tue Dec 01 08:12:01.000001 2026] [wsgi:error] [pid 900:tid 901] [remote 127.0.0.1:5000]";
        let lines = [
            format!(
                "{p} mod_wsgi (pid=900): Exception occurred processing WSGI script '/srv/blog/app.wsgi'."
            ),
            format!("{p} Traceback (most recent call last):"),
            format!(
                "{p}   File \"/srv/blog/venv/lib/python3.11/site-packages/django/core/handlers/exception.py\", line 55, in inner"
            ),
            format!("{p}     response = get_response(request)"),
            format!("{p}   File \"/srv/blog/src/blog/urls.py\", line 3, in <module>"),
            format!("{p}     import markdown_extra"),
            format!(
                "{p}   File \"/srv/blog/venv/lib/python3.11/site-packages/django/urls/resolvers.py\", line 1, in x"
            ),
            format!("{p}     ^^^^^^^^^^^^^^^^"),
            format!("{p} ModuleNotFoundError: No module named 'markdown_extra'"),
        ];
        let mut f = Vec::new();
        log_findings(
            &mut f,
            lines.iter().map(String::as_str),
            &Context::default(),
            Some("blog"),
            |_, _| None,
        );
        add_traceback(&mut f, lines.iter().map(String::as_str), "/srv/blog/src");
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].scenario, "wsgi-import-exception");
        assert_eq!(
            f[0].evidence[0],
            "ModuleNotFoundError: No module named 'markdown_extra' (raised in /srv/blog/src/blog/urls.py, line 3)"
        );
    }

    /// A daemon's failed load while the script was unreadable, from the log; the live checks
    /// now pass: a warning that says when, and no error.
    #[test]
    fn a_failed_load_the_live_checks_contradict_is_history() {
        let p = "[Tue Dec 01 08:12:01.000001 2026] [wsgi:error] [pid 4790:tid 4790]";
        let lines = [
            format!(
                "{p} (13)Permission denied: mod_wsgi (pid=4790, process='app1', application=''): Could not read/compile source file '/srv/a/current/app.wsgi'."
            ),
            format!(
                "{p} mod_wsgi (pid=4790): Exception occurred processing WSGI script '/srv/a/current/app.wsgi'."
            ),
            format!("{p} PermissionError: [Errno 13] Permission denied: '/srv/a/current/app.wsgi'"),
        ];
        let mut f = vec![Diagnosis::own(
            "drift",
            "a live finding",
            Some("app1"),
            "x".into(),
            "y",
            "z".into(),
        )];
        log_findings(
            &mut f,
            lines.iter().map(String::as_str),
            &Context::default(),
            Some("app1"),
            |_, _| None,
        );
        assert!(f.iter().any(|d| d.number == Some(22)), "{f:#?}");
        settled(&mut f[1..], 200);
        assert_eq!(f[0].severity, Severity::Error, "a live finding stays");
        for d in &f[1..] {
            assert_eq!(d.severity, Severity::Warning, "{d:#?}");
            assert!(
                d.cause.starts_with("logged before the script loaded again"),
                "{d:#?}"
            );
        }
    }

    #[test]
    fn selinux_is_no_alternative_on_a_host_without_it() {
        let line = "[Tue Dec 01 08:12:01 2026] [core:error] [pid 4345:tid 4399] (13)Permission denied: [client 127.0.0.1:38958] AH00035: access to / denied (filesystem path '/srv/x/inner') because search permissions are missing on a component of the path";
        let find = |no_selinux| {
            let mut f = Vec::new();
            let ctx = Context {
                no_selinux,
                ..Context::default()
            };
            log_findings(&mut f, std::iter::once(line), &ctx, None, |_, _| None);
            f
        };
        let with = find(false);
        assert_eq!(with[0].also, ["selinux-denial"], "{with:#?}");
        let without = find(true);
        assert_eq!(without.len(), 1);
        assert!(without[0].also.is_empty(), "{without:#?}");
    }
}
