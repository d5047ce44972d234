//! From what the vhosts say ([`super::vhosts`]) and what their files say ([`super::remote`])
//! to one app per site: its names, ports and certificate, root, venv and interpreter, daemon
//! account and sizing, Django settings, static and media, environment (secrets apart), the
//! directives kept verbatim, the files it takes over, and the report of all of it: what was
//! recognised, what is kept as written, what the first plan changes and why, what is not
//! imported.
//!
//! Stage: import (pure). Secret values live only in [`App::secrets`], which the writer puts in
//! 0600 files; nothing else here holds them.

use super::remote::{Ask, ProjectInfo, Read};
use super::tree::At;
use super::vhosts::{Found, WsgiVhost};
use super::wsgi::WsgiFile;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// The closest manifest to today's behaviour, improvements left for later.
    pub keep_as_is: bool,
}

/// One entry of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub text: String,
    pub at: Option<At>,
    /// The catalogue scenario that explains it (`wsgictl doctor --list`).
    pub scenario: Option<&'static str>,
}

fn entry(text: impl Into<String>, at: Option<&At>, scenario: Option<&'static str>) -> Entry {
    Entry {
        text: text.into(),
        at: at.cloned(),
        scenario,
    }
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub recognised: Vec<Entry>,
    pub kept: Vec<Entry>,
    /// What the first plan changes, each with why.
    pub changes: Vec<Entry>,
    pub not_imported: Vec<Entry>,
    /// What the user must do before the first apply.
    pub todo: Vec<Entry>,
}

/// A secret's value: never printed (its `Debug` says so).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Debug, Clone, Default)]
pub struct App {
    pub name: String,
    pub server_name: String,
    pub aliases: Vec<String>,
    pub port: u16,
    pub http_port: Option<u16>,
    pub tls: Option<(String, String)>,
    pub mount: String,
    pub root: String,
    pub user: String,
    pub group: Option<String>,
    pub python: String,
    pub venv: String,
    /// `name==version` of what the venv holds (the requirements import writes).
    pub packages: Vec<String>,
    pub settings: String,
    pub wsgi_module: Option<String>,
    pub static_files: Option<(String, String)>,
    pub media: Option<(String, String)>,
    pub data: Option<String>,
    pub overlay: bool,
    /// Daemon sizing as manifest lines (`processes 3`).
    pub daemon: Vec<(String, u32)>,
    pub env: Vec<(String, String)>,
    pub secrets: Vec<(String, Secret)>,
    pub raw: Vec<String>,
    pub replaces: Vec<String>,
    /// The project directory on the host (`import --fetch-source` copies it).
    pub project: String,
    pub exclude: Vec<String>,
    /// Where each part came from, for the block's comment.
    pub from: Vec<(String, At)>,
    pub report: Report,
}

/// Host-wide findings.
#[derive(Debug, Default)]
pub struct Imported {
    pub apps: Vec<App>,
    pub report: Report,
}

/// What round trip 2 must read for these vhosts.
pub fn asks(found: &Found) -> Vec<Ask> {
    let mut out = Vec::new();
    let mut add = |a: Ask| {
        if !out.contains(&a) {
            out.push(a)
        }
    };
    for v in &found.wsgi {
        if v.script.ends_with('/') {
            add(Ask::Dir(v.script.trim_end_matches('/').to_string()));
        } else {
            add(Ask::Wsgi(v.script.clone()));
        }
        for p in project_candidates(v, found) {
            add(Ask::Project(p));
        }
        for venv in venv_candidates(v, found) {
            add(Ask::Venv(venv.0));
        }
        for f in [&v.certificate, &v.key].into_iter().flatten() {
            add(Ask::Exists(f.clone()));
        }
        if let Some((d, _)) = &v.document_root {
            add(Ask::Htaccess(d.trim_end_matches('/').to_string()));
        }
    }
    for o in &found.other {
        if let Some(d) = &o.document_root {
            add(Ask::Htaccess(d.clone()));
        }
    }
    out
}

fn opt<'a>(v: &'a WsgiVhost, k: &str) -> Option<&'a str> {
    v.daemon
        .as_ref()
        .and_then(|(o, _)| o.iter().find(|(n, _)| n == k))
        .map(|(_, val)| val.as_str())
}

/// The module path the app ran with: its daemon's `python-path`, or in embedded mode the
/// server-wide `WSGIPythonPath`.
fn python_path(v: &WsgiVhost, found: &Found) -> Vec<String> {
    let path = if v.group.is_some() {
        opt(v, "python-path")
    } else {
        found.globals.python_path.as_ref().map(|(p, _)| p.as_str())
    };
    path.map(|p| {
        p.split(':')
            .filter(|s| !s.is_empty())
            .map(|s| s.trim_end_matches('/').to_string())
            .collect()
    })
    .unwrap_or_default()
}

fn parent(p: &str) -> Option<String> {
    std::path::Path::new(p)
        .parent()
        .map(|d| d.display().to_string())
        .filter(|d| !d.is_empty())
}

fn project_candidates(v: &WsgiVhost, found: &Found) -> Vec<String> {
    let mut out: Vec<String> = python_path(v, found)
        .into_iter()
        .filter(|p| !p.ends_with("site-packages"))
        .collect();
    let script = v.script.trim_end_matches('/');
    if let Some(d) = parent(script) {
        let grand = parent(&d).filter(|dd| dd != "/");
        // Django's own layout: PROJECT/PACKAGE/wsgi.py.
        if script.ends_with("/wsgi.py")
            && let Some(g) = &grand
        {
            out.push(g.clone());
        }
        out.push(d.clone());
        out.extend(grand);
    }
    let mut seen = Vec::new();
    out.retain(|p| {
        let new = !seen.contains(p);
        seen.push(p.clone());
        new
    });
    out
}

/// `/srv/x/venv/lib/python3.11/site-packages` → `/srv/x/venv`.
fn venv_of_site_packages(p: &str) -> Option<String> {
    let lib = parent(p.trim_end_matches('/'))?;
    let venv = parent(&lib)?;
    (p.trim_end_matches('/').ends_with("site-packages")
        && std::path::Path::new(&lib)
            .file_name()?
            .to_str()?
            .starts_with("python"))
    .then(|| parent(&venv))
    .flatten()
}

/// Venv candidates with how they were found, best first.
fn venv_candidates(v: &WsgiVhost, found: &Found) -> Vec<(String, &'static str, Option<At>)> {
    let mut out = Vec::new();
    let daemon_at = v.daemon.as_ref().map(|(_, at)| at.clone());
    if let Some(h) = opt(v, "python-home") {
        out.push((
            h.trim_end_matches('/').to_string(),
            "python-home",
            daemon_at.clone(),
        ));
    }
    for p in python_path(v, found) {
        if let Some(venv) = venv_of_site_packages(&p) {
            out.push((venv, "site-packages", daemon_at.clone()));
        }
    }
    if let Some((h, at)) = &found.globals.python_home {
        out.push((
            h.trim_end_matches('/').to_string(),
            "WSGIPythonHome",
            Some(at.clone()),
        ));
    }
    out
}

/// Names that hold secrets (case-insensitive parts), and values that carry credentials.
fn is_secret(name: &str, value: &str) -> bool {
    let n = name.to_ascii_uppercase();
    let by_name = [
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "TOKEN",
        "API_KEY",
        "APIKEY",
        "PRIVATE",
        "CREDENTIAL",
        "DSN",
        "AUTH",
    ]
    .iter()
    .any(|p| n.contains(p))
        || n.ends_with("_KEY");
    // scheme://user:password@host
    let by_value = value
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .is_some_and(|(cred, _)| cred.contains(':'));
    by_name || by_value
}

fn valid_app_name(s: &str) -> bool {
    crate::manifest::rules::app_name(s).is_ok()
}

fn app_name(v: &WsgiVhost, taken: &[String]) -> String {
    let base = v
        .group
        .clone()
        .filter(|g| valid_app_name(g))
        .or_else(|| {
            v.server_name
                .as_deref()
                .and_then(|s| s.trim_start_matches("www.").split('.').next())
                .map(|s| {
                    let dashed: String = s
                        .chars()
                        .map(|c| {
                            if c.is_ascii_alphanumeric() {
                                c.to_ascii_lowercase()
                            } else {
                                '-'
                            }
                        })
                        .collect();
                    dashed
                        .split('-')
                        .filter(|p| !p.is_empty())
                        .collect::<Vec<_>>()
                        .join("-")
                })
                .filter(|s| valid_app_name(s))
        })
        .unwrap_or_else(|| "site".to_string());
    let mut name = base.clone();
    let mut k = 2;
    while taken.contains(&name) {
        name = format!("{base}-{k}");
        k += 1;
    }
    name
}

/// Server-wide directives a site file may hold and still be taken over whole (besides the
/// access directives of its `<Directory>` sections): what goes with it is reported, and
/// wsgictl writes its own (the Listen lines its apps need).
const RETIRABLE: &[&str] = &[
    "Listen",
    "Define",
    "UnDefine",
    "NameVirtualHost",
    "WSGIRestrictEmbedded",
    "WSGIApplicationGroup",
    "WSGIProcessGroup",
    "WSGIPassAuthorization",
];

const SHARED: &[&str] = &[
    "/",
    "/srv",
    "/var/www",
    "/opt",
    "/home",
    "/usr/local",
    "/var/lib",
    "/var",
    "/usr",
];

/// Directories wsgictl makes in a root: a project of that name cannot share it.
const OWN: &[&str] = &[
    "src", "current", "releases", "htdocs", "acme", "overlay", "data",
];

/// The app's root: the directory that holds the project, unless that is a shared one or the
/// project's own name is one wsgictl uses in a root (`src`: a `{root}/src` is the code of a
/// deployment from before releases, which wsgictl removes once it has a release).
fn root_for(project: &str, name: &str) -> String {
    let base = std::path::Path::new(project)
        .file_name()
        .and_then(|f| f.to_str())
        .unwrap_or("");
    // A home directory is an account's, not a place for releases.
    let home = |p: &str| p == "/root" || parent(p).as_deref() == Some("/home");
    if let Some(p) = parent(project)
        && !SHARED.contains(&p.as_str())
        && !home(&p)
        && !OWN.contains(&base)
    {
        return p;
    }
    let fallback = format!("/srv/{name}");
    if project == fallback || project.starts_with(&format!("{fallback}/")) {
        format!("/srv/wsgictl-{name}")
    } else {
        fallback
    }
}

/// Interpret every WSGI vhost into apps (one per site: a :80 and a :443 vhost of the same
/// name and script are one app with `tls`).
///
/// `real` maps each file Apache names to its real path (a `sites-enabled` link to its file).
pub fn interpret(
    found: &Found,
    read: &Read,
    real: &BTreeMap<String, String>,
    apache_user: &str,
    o: Options,
) -> Imported {
    let mut out = Imported::default();
    // Group vhosts by (server name, script).
    let mut groups: Vec<Vec<&WsgiVhost>> = Vec::new();
    for v in &found.wsgi {
        // wsgictl's own vhosts (another manifest's, or this one's once applied).
        let file = v.at.as_ref().map_or("", |at| at.file.as_str());
        if file
            .rsplit('/')
            .next()
            .is_some_and(|f| f.starts_with("wsgictl-"))
        {
            out.report.not_imported.push(entry(
                format!(
                    "{} is wsgictl's own vhost (a manifest manages it): not imported",
                    v.server_name.as_deref().unwrap_or("(no name)")
                ),
                v.at.as_ref(),
                None,
            ));
            continue;
        }
        match groups
            .iter_mut()
            .find(|g| g[0].server_name == v.server_name && g[0].script == v.script)
        {
            Some(g) => g.push(v),
            None => groups.push(vec![v]),
        }
    }
    let mut absorbed: Vec<At> = Vec::new();
    for g in &groups {
        let names: Vec<String> = out.apps.iter().map(|a| a.name.clone()).collect();
        let mut app = one(g, found, read, apache_user, o, &names);
        // A plain-HTTP vhost of the same name that only redirects to https goes with it.
        if app.tls.is_some() {
            for other in &found.other {
                if other.https_redirect
                    && other.name == app.server_name
                    && app.http_port.is_none_or(|p| p == other.port)
                {
                    app.http_port = Some(other.port);
                    absorbed.push(other.at.clone());
                    app.report.recognised.push(entry(
                        format!(
                            "the :{} vhost that redirects to https → `http-port {}` (wsgictl's redirect)",
                            other.port, other.port
                        ),
                        Some(&other.at),
                        None,
                    ));
                }
            }
        }
        for v in g {
            absorbed.extend(v.at.clone());
        }
        out.apps.push(app);
    }
    // Files: taken over when every vhost in them went into an app.
    for (file, vhosts) in &found.files {
        let all_in = vhosts.iter().all(|at| absorbed.contains(at));
        let mine: Vec<usize> = out
            .apps
            .iter()
            .enumerate()
            .filter(|(_, a)| a.from.iter().any(|(_, at)| &at.file == file))
            .map(|(k, _)| k)
            .collect();
        if mine.is_empty() {
            continue;
        }
        let real = real.get(file).cloned().unwrap_or_else(|| file.clone());
        // Server-wide configuration in the file that is not the vhosts' own: the file stays.
        let foreign: Vec<&(String, At)> = found
            .globals
            .other
            .iter()
            .filter(|(text, at)| {
                let name = text.split_whitespace().next().unwrap_or("");
                // A server-wide AddHandler may serve other sites' scripts: it stays.
                &at.file == file
                    && (name.eq_ignore_ascii_case("AddHandler")
                        || !RETIRABLE
                            .iter()
                            .chain(super::vhosts::ACCESS)
                            .any(|r| r.eq_ignore_ascii_case(name)))
            })
            .collect();
        let main = found.main.as_deref() == Some(file.as_str());
        if all_in && (main || !foreign.is_empty()) {
            let (why, at) = match foreign.first() {
                Some((text, at)) if !main => (format!("it also holds `{text}`"), Some(at)),
                _ => (
                    "it is Apache's main configuration file".to_string(),
                    vhosts.first(),
                ),
            };
            for &k in &mine {
                out.apps[k].report.todo.push(entry(
                    format!("{file} is not taken over, as {why}: remove the imported vhosts from it by hand before the first apply (two vhosts for one name: the first one read answers)"),
                    at,
                    Some("scriptalias-order-shadowing"),
                ));
            }
            continue;
        }
        if all_in {
            for &k in &mine {
                out.apps[k].replaces.push(real.clone());
                out.apps[k].report.changes.push(entry(
                    format!(
                        "{real} is taken over (`replaces`): the first apply disables it and moves it to {}{real} (root only), in the run that enables wsgictl's vhost; a failed configtest puts it back",
                        crate::desired::REPLACED_DIR
                    ),
                    vhosts.first(),
                    None,
                ));
            }
            for (text, at) in found
                .globals
                .other
                .iter()
                .filter(|(_, at)| &at.file == file)
            {
                // What the apps relied on server-wide follows them into their vhosts.
                if text
                    .to_ascii_lowercase()
                    .starts_with("wsgipassauthorization ")
                {
                    for &k in &mine {
                        let app = &mut out.apps[k];
                        if !app.raw.contains(text) {
                            app.raw.push(text.clone());
                            app.report.kept.push(entry(
                                format!("`{text}` (server-wide in {real}) → apache-raw: the app keeps receiving the Authorization header"),
                                Some(at),
                                Some("authorization-header-stripped"),
                            ));
                        }
                    }
                    continue;
                }
                out.report.changes.push(entry(
                    format!("`{text}` goes with {real} (the first apply disables that file)"),
                    Some(at),
                    None,
                ));
            }
            for (what, g) in [
                ("WSGIPythonHome", &found.globals.python_home),
                ("WSGIPythonPath", &found.globals.python_path),
                ("WSGISocketPrefix", &found.globals.socket_prefix),
            ] {
                if let Some((val, at)) = g
                    && &at.file == file
                {
                    let instead = match what {
                        "WSGIPythonPath" => {
                            "each app's project directory is on its own module path"
                        }
                        "WSGIPythonHome" => "each app's daemon has its venv as python-home",
                        _ => "wsgictl's host-wide file sets it",
                    };
                    out.report.changes.push(entry(
                        format!("`{what} {val}` goes with {real}: {instead}"),
                        Some(at),
                        None,
                    ));
                }
            }
        } else {
            out.report.not_imported.push(entry(
                format!("{file} also holds vhosts that were not imported, so it stays enabled: remove the imported vhosts from it by hand before the first apply (two vhosts for one name: the first one read answers)"),
                vhosts.first(),
                Some("scriptalias-order-shadowing"),
            ));
        }
    }
    if !out.apps.is_empty() {
        out.report.changes.push(entry(
            "wsgictl's host-wide file (conf-available/wsgictl.conf) is added: `WSGIRestrictEmbedded On` (Python runs only in daemon processes: a site left in embedded mode on this host stops working), `WSGISocketPrefix` in Apache's run directory, and the Listen lines its apps need",
            None,
            Some("embedded-fallback-no-process-group"),
        ));
    }
    for o in &found.other {
        if !absorbed.contains(&o.at) {
            out.report.not_imported.push(entry(
                format!(
                    "vhost {}:{} mounts no WSGI application: left as it is",
                    if o.name.is_empty() {
                        "(no name)"
                    } else {
                        &o.name
                    },
                    o.port
                ),
                Some(&o.at),
                None,
            ));
        }
    }
    for (f, bytes) in &read.htaccess {
        let text = String::from_utf8_lossy(bytes).to_ascii_lowercase();
        if text.contains("wsgi-script") {
            out.report.not_imported.push(entry(
                format!("{f} serves WSGI scripts from a document root (`AddHandler wsgi-script`): wsgictl never serves code from a document root, so this is not imported; give the site its own app block (`wsgictl import` reads `WSGIScriptAlias`), or leave it as it is"),
                Some(&At { file: f.clone(), line: text.lines().position(|l| l.contains("wsgi-script")).unwrap_or(0) + 1 }),
                Some("execcgi-off-addhandler"),
            ));
        }
    }
    out
}

/// Everything in the vhost itself, then each part read from the host, in turn.
fn one(
    g: &[&WsgiVhost],
    found: &Found,
    read: &Read,
    apache_user: &str,
    o: Options,
    taken: &[String],
) -> App {
    // The TLS vhost leads; a plain one of the same site gives the http port.
    let lead = g
        .iter()
        .find(|v| v.certificate.is_some())
        .copied()
        .unwrap_or(g[0]);
    // A daemon group defined in one vhost serves the other vhosts of the same name (certbot's
    // copy of a vhost leaves `WSGIDaemonProcess` in the original).
    let merged;
    let lead = if lead.daemon.is_none() && lead.group.is_some() {
        let mut m = lead.clone();
        m.daemon = g
            .iter()
            .filter(|v| v.group == lead.group)
            .find_map(|v| v.daemon.clone());
        merged = m;
        &merged
    } else {
        lead
    };
    let mut app = App {
        name: app_name(lead, taken),
        server_name: lead.server_name.clone().unwrap_or_default(),
        aliases: lead.aliases.clone(),
        port: lead.port,
        mount: lead.mount.clone(),
        ..Default::default()
    };
    let r = &mut app.report;
    if !app.server_name.is_empty()
        && crate::manifest::rules::server_name(&app.server_name, false).is_err()
    {
        r.todo.push(entry(
            format!("the server name {:?} is not a valid DNS name: write the name the site answers to in `server-name`", app.server_name),
            lead.at.as_ref(),
            None,
        ));
    }
    if app.server_name.is_empty() {
        // Apache names it after the server (`-S` says which name).
        let named = lead
            .at
            .as_ref()
            .and_then(|at| found.names.iter().find(|(a, _)| a == at))
            .map(|(_, n)| n.clone());
        app.server_name = named.unwrap_or_else(|| "localhost".into());
        r.todo.push(entry(
            format!("the vhost has no ServerName (Apache answers it as {}): set `server-name` to the name the site answers to", app.server_name),
            lead.at.as_ref(),
            None,
        ));
    }
    for v in g {
        if let Some(at) = &v.at {
            app.from
                .push((format!("<VirtualHost *:{}>", v.port), at.clone()));
        }
        if let Some(at) = &v.script_at {
            app.from.push(("WSGIScriptAlias".into(), at.clone()));
        }
        if let Some((_, at)) = &v.daemon {
            app.from.push(("WSGIDaemonProcess".into(), at.clone()));
        }
        for (t, at) in &v.recognised {
            r.recognised.push(entry(t.clone(), Some(at), None));
        }
        for (t, at) in &v.dropped {
            r.changes
                .push(entry(format!("dropped: {t}"), Some(at), None));
        }
        for (t, at) in &v.kept {
            if !app.raw.contains(t) {
                app.raw.push(t.clone());
                r.kept.push(entry(
                    format!("`{}` → apache-raw", t.lines().next().unwrap_or("")),
                    Some(at),
                    None,
                ));
            }
        }
    }
    if let (Some(c), Some(k)) = (&lead.certificate, &lead.key) {
        app.tls = Some((c.clone(), k.clone()));
        for f in [c, k] {
            if read.exists.get(f) == Some(&false) {
                r.todo.push(entry(
                    format!("{f} does not exist on the host"),
                    lead.at.as_ref(),
                    Some("tls-certificate-unreadable"),
                ));
            }
        }
        let plain: Vec<&&WsgiVhost> = g.iter().filter(|v| v.certificate.is_none()).collect();
        if let Some(p) = plain.first() {
            app.http_port = Some(p.port);
            r.changes.push(entry(
                format!("http://{}:{}/ serves the app today; with `tls` wsgictl's plain-HTTP vhost redirects it to https (301, with mod_rewrite, which apply enables)", app.server_name, p.port),
                p.at.as_ref(),
                None,
            ));
        }
    }
    // Any other port the site answered on: one app has one port (and `http-port` with tls).
    for v in g {
        if v.port != app.port && Some(v.port) != app.http_port {
            r.changes.push(entry(
                format!(
                    "the site also answers on :{} today; wsgictl serves it on :{} only",
                    v.port, app.port
                ),
                v.at.as_ref(),
                None,
            ));
        }
    }
    if lead.address != "*" && lead.address != "_default_" {
        r.changes.push(entry(
            format!(
                "the vhost answered on {} only; wsgictl's answers on every address (*:{})",
                lead.address, lead.port
            ),
            lead.at.as_ref(),
            None,
        ));
    }
    for (t, at) in g.iter().flat_map(|v| v.translated.iter()) {
        r.changes.push(entry(
            format!("the access rules on the script's directory guarded the app: they follow it to its URL → apache-raw `{}`", t.lines().next().unwrap_or("")),
            Some(at),
            None,
        ));
    }
    // What the vhost serves besides the app: kept when the app does not take every path.
    for v in g {
        if let Some((dir, at)) = &v.document_root {
            let line = format!("DocumentRoot {}", super::tree::quoted(dir));
            if lead.mount != "/" {
                if !app.raw.contains(&line) {
                    app.raw.insert(0, line.clone());
                    r.kept.push(entry(
                        format!(
                            "`{line}` → apache-raw (it serves what is not below {})",
                            lead.mount
                        ),
                        Some(at),
                        None,
                    ));
                }
            } else {
                r.recognised.push(entry(
                    format!("`{line}`: every path went to the app (WSGIScriptAlias /), so wsgictl's empty document root takes its place"),
                    Some(at),
                    None,
                ));
            }
        }
    }

    let c = Ctx {
        g,
        lead,
        found,
        read,
        apache_user,
        o,
    };
    let (script, wsgi) = script_of(&mut app, &c);
    if app.mount != "/" {
        app.report.recognised.push(entry(
            format!("mounted at {} → `mount \"{}\"`", lead.mount, app.mount),
            lead.script_at.as_ref(),
            None,
        ));
    }
    secondary(&mut app, &c);
    let (project, pinfo) = project_and_settings(&mut app, &c, &script, wsgi.as_ref());
    venv_of(&mut app, &c, wsgi.as_ref());
    account(&mut app, &c);
    static_and_media(&mut app, &c, &project, &pinfo);
    environment(&mut app, &c, &script, wsgi.as_ref());
    let (name, root) = (&app.name, &app.root);
    app.report.changes.insert(
        0,
        entry(
            format!(
                "the vhost is wsgictl's from now on: wsgictl-{name}.conf{}, enabled, with an empty document root {root}/htdocs; the code is deployed as releases in {root}/releases, `{root}/current` pointing at the running one",
                if app.tls.is_some() {
                    format!(" (the redirect) and wsgictl-{name}.tls.conf")
                } else {
                    String::new()
                }
            ),
            None,
            None,
        ),
    );
    app
}

/// What every step reads.
struct Ctx<'a> {
    g: &'a [&'a WsgiVhost],
    lead: &'a WsgiVhost,
    found: &'a Found,
    read: &'a Read,
    apache_user: &'a str,
    o: Options,
}

/// Other mounts of the vhost stay as written, with the daemon group they need when its
/// definition would go with the file.
fn secondary(app: &mut App, c: &Ctx<'_>) {
    let Ctx { lead, found, .. } = *c;
    for (url, group, at) in &lead.secondary {
        let def = group.as_ref().and_then(|g| {
            found
                .globals
                .daemons
                .iter()
                .find(|(n, _, d)| n == g && d.file == at.file)
        });
        if let Some((name, opts, dat)) = def {
            let line = std::iter::once(format!("WSGIDaemonProcess {name}"))
                .chain(
                    opts.iter()
                        .map(|(k, v)| format!("{k}={}", super::tree::quoted(v))),
                )
                .collect::<Vec<_>>()
                .join(" ");
            app.raw.insert(0, line);
            app.report.kept.push(entry(
                format!("`WSGIDaemonProcess {name}` → apache-raw (the mount at {url} needs it, and its file goes)"),
                Some(dat),
                None,
            ));
        }
        app.report.not_imported.push(entry(
            format!("the application mounted at {url} (same vhost) is kept as written, not managed by wsgictl: give it a vhost or a mount of its own and import it"),
            Some(at),
            None,
        ));
    }
}

/// A path as one word of a command people paste into a shell.
fn shell_word(s: &str) -> String {
    crate::shell::quote(s).map_or_else(|_| s.to_string(), |q| q.into_owned())
}

fn at_line(script: &str, line: usize) -> At {
    At {
        file: script.to_string(),
        line,
    }
}

fn script_of(app: &mut App, c: &Ctx<'_>) -> (String, Option<WsgiFile>) {
    let Ctx { lead, read, .. } = *c;
    let r = &mut app.report;
    // The .wsgi: a file, or the one script of a directory.
    let (script, wsgi) = if lead.script.ends_with('/') {
        let dir = lead.script.trim_end_matches('/');
        match read.dirs.get(dir).map(|s| s.as_slice()) {
            Some([(name, w)]) => {
                app.mount = if lead.mount == "/" {
                    format!("/{name}")
                } else {
                    format!("{}/{name}", lead.mount)
                };
                r.changes.push(entry(
                    format!("WSGIScriptAlias maps {} to the directory {dir}: its one script {name} is mounted at `mount \"{}\"`", lead.mount, app.mount),
                    lead.script_at.as_ref(),
                    Some("scriptalias-directory-target"),
                ));
                (format!("{dir}/{name}"), w.clone().ok())
            }
            other => {
                r.todo.push(entry(
                    format!("WSGIScriptAlias maps {} to the directory {dir}, which holds {} scripts: give the app's `mount` and `django {{ wsgi }}` by hand", lead.mount, other.map_or(0, |s| s.len())),
                    lead.script_at.as_ref(),
                    Some("scriptalias-directory-target"),
                ));
                (dir.to_string(), None)
            }
        }
    } else {
        let w = match read.wsgi.get(&lead.script) {
            Some(Ok(w)) if w.error.is_none() => Some(w.clone()),
            Some(Ok(w)) => {
                r.todo.push(entry(
                    format!(
                        "{} could not be read: {}",
                        lead.script,
                        w.error.as_deref().unwrap_or("?")
                    ),
                    lead.script_at.as_ref(),
                    Some("wsgi-import-exception"),
                ));
                None
            }
            Some(Err(e)) => {
                r.todo.push(entry(
                    format!("{}: {e}", lead.script),
                    lead.script_at.as_ref(),
                    None,
                ));
                None
            }
            None => None,
        };
        (lead.script.clone(), w)
    };
    (script, wsgi)
}

fn project_and_settings(
    app: &mut App,
    c: &Ctx<'_>,
    script: &str,
    wsgi: Option<&WsgiFile>,
) -> (String, ProjectInfo) {
    let Ctx {
        lead, read, found, ..
    } = *c;
    let r = &mut app.report;
    // The project: a directory with manage.py that the module path or the script names.
    let mut candidates: Vec<String> = wsgi.iter().flat_map(|w| w.projects.clone()).collect();
    candidates.extend(project_candidates(lead, found));
    let project = candidates
        .iter()
        .find(|c| read.projects.get(*c).is_some_and(|p| p.manage))
        .or(candidates.first())
        .cloned()
        .unwrap_or_else(|| parent(script).unwrap_or_default());
    let pinfo = read.projects.get(&project).cloned().unwrap_or_default();
    if !pinfo.manage {
        r.todo.push(entry(
            format!("no manage.py found next to the module path ({project} is assumed to be the project directory): check `source`"),
            lead.script_at.as_ref(),
            Some("python-path-missing-project"),
        ));
    }
    for (root, at) in c.g.iter().filter_map(|v| v.document_root.as_ref()) {
        let root = root.trim_end_matches('/');
        if [&project, &script.to_string()]
            .iter()
            .any(|p| p.starts_with(&format!("{root}/")) || *p == root)
        {
            r.todo.push(entry(
                format!("the code ({project}) is below the DocumentRoot {root}: Apache can serve its files as they are, settings included; the releases are not, but the old directory stays where it is — move it out of the document root"),
                Some(at),
                Some("wsgi-script-not-found"),
            ));
        }
    }
    app.project = project.clone();
    app.root = root_for(&project, &app.name);
    r.recognised.push(entry(
        format!(
            "the project in {project} → `source` (fetched by `import --fetch-source`); `root \"{}\"` holds wsgictl's releases, the old directory stays as it is",
            app.root
        ),
        None,
        None,
    ));
    for extra in python_path(lead, found)
        .iter()
        .filter(|p| **p != project && !p.ends_with("site-packages"))
    {
        r.changes.push(entry(
            format!("python-path entry {extra} is not carried: only the project directory is on the module path (move what it holds into the project or the venv)"),
            lead.daemon.as_ref().map(|(_, at)| at),
            Some("python-path-missing-project"),
        ));
    }

    // Settings.
    let settings_env = lead
        .env
        .iter()
        .find(|(n, _, _)| n == "DJANGO_SETTINGS_MODULE");
    if let Some((_, val, at)) = settings_env {
        r.changes.push(entry(
            format!("`SetEnv DJANGO_SETTINGS_MODULE {val}` never reaches os.environ (mod_wsgi passes SetEnv only in each request's WSGI environ), so Django never used it; the settings module is the one the .wsgi or manage.py names"),
            Some(at),
            Some("django-settings-module-leak"),
        ));
    }
    let from_wsgi = wsgi.as_ref().and_then(|w| {
        w.settings
            .clone()
            .map(|s| (s, w.settings_how.clone().unwrap_or_default()))
    });
    let from_manage = pinfo.manage_py.as_ref().and_then(|w| w.settings.clone());
    app.settings = match (&from_wsgi, &from_manage, pinfo.settings.as_slice()) {
        (Some((s, how)), _, _) => {
            if how == "setdefault" {
                r.changes.push(entry(
                    format!("the .wsgi `setdefault`s DJANGO_SETTINGS_MODULE ({s}); wsgictl's .wsgi assigns it, so no other value in the environment can win"),
                    None,
                    Some("django-settings-module-leak"),
                ));
            }
            s.clone()
        }
        (None, Some(s), _) => s.clone(),
        (None, None, [one]) => one.clone(),
        _ => {
            // A guess, said as one: SetEnv's value (what the author meant), else the
            // settings module next to the script's package.
            let package = script
                .strip_prefix(&format!("{project}/"))
                .and_then(|rel| rel.rsplit_once('/'))
                .map(|(pkg, _)| pkg.replace('/', "."));
            let guess = settings_env
                .map(|(_, v, _)| v.clone())
                .or(package.map(|p| format!("{p}.settings")))
                .unwrap_or_else(|| "settings".into());
            r.todo.push(entry(
                format!("the settings module could not be read from the .wsgi or manage.py: `{guess}` is a guess — check `django {{ settings }}`"),
                lead.script_at.as_ref(),
                None,
            ));
            guess
        }
    };
    r.recognised.push(entry(
        format!(
            "DJANGO_SETTINGS_MODULE {} → `django {{ settings }}`",
            app.settings
        ),
        None,
        None,
    ));
    if let Some(w) = &wsgi {
        if let Some(m) = &w.application_from {
            app.wsgi_module = Some(m.clone());
        }
        for d in &w.dynamic {
            r.recognised.push(entry(
                format!(
                    "{} is computed at run time: `{}`{}",
                    d.what,
                    d.source.as_deref().unwrap_or("?"),
                    d.value
                        .as_deref()
                        .map(|v| format!(" (evaluates to {v})"))
                        .unwrap_or_else(|| " (not evaluated)".into())
                ),
                Some(&at_line(script, d.line)),
                None,
            ));
        }
        if let Some(b) = &w.application_built
            && w.application_from.is_none()
        {
            r.todo.push(entry(
                format!("the .wsgi builds `application` itself (`{}`): wsgictl's .wsgi loads Django's own, so that would be lost — move it into a module of the project and name it in `django {{ wsgi \"…\" }}`", b.source.as_deref().unwrap_or("?")),
                Some(&at_line(script, b.line)),
                Some("callable-not-found"),
            ));
        }
        for l in &w.activate_this {
            r.changes.push(entry(
                "activate_this.py: wsgictl's .wsgi needs none (the daemon's python-home is the venv)",
                Some(&at_line(script, *l)),
                Some("python-home-not-venv-root"),
            ));
        }
        for s in w.site_dirs.iter().flatten() {
            r.changes.push(entry(
                format!("site.addsitedir({s}): the venv is the daemon's python-home instead"),
                None,
                Some("python-home-not-venv-root"),
            ));
        }
    }
    // The script may itself be the project's wsgi module (`WSGIScriptAlias / …/proj/wsgi.py`).
    if app.wsgi_module.is_none()
        && let Some(rel) = script.strip_prefix(&format!("{project}/"))
        && let Some(m) = rel.strip_suffix(".py")
    {
        app.wsgi_module = Some(m.replace('/', "."));
    }
    r.changes.push(entry(
        format!("{script} is replaced by wsgictl's .wsgi and environment file in each release ({root}/current/app.wsgi and app.env), which assign the settings and the environment and put the release's code on the module path", root = app.root),
        lead.script_at.as_ref(),
        None,
    ));

    (project, pinfo)
}

fn venv_of(app: &mut App, c: &Ctx<'_>, wsgi: Option<&WsgiFile>) {
    let Ctx {
        lead, found, read, ..
    } = *c;
    let r = &mut app.report;
    // Venv and interpreter.
    let mut venv = None;
    let mut site_dirs: Vec<(String, &'static str, Option<At>)> = venv_candidates(lead, found);
    if let Some(w) = &wsgi {
        for s in w.site_dirs.iter().flatten() {
            if let Some(v) = venv_of_site_packages(s) {
                site_dirs.push((v, "site.addsitedir", None));
            }
        }
    }
    // Embedded mode uses the server-wide python home only.
    if lead.group.is_none() {
        site_dirs.retain(|(_, how, _)| *how != "python-home");
    }
    for (path, how, at) in &site_dirs {
        if let Some(Some(info)) = read.venvs.get(path) {
            venv = Some((path.clone(), info.clone()));
            if *how == "site-packages" || *how == "site.addsitedir" {
                r.changes.push(entry(
                    format!("{how} {path}/lib/…/site-packages → `venv {{ path \"{path}\" }}`, run as the daemon's python-home"),
                    at.as_ref(),
                    Some("python-home-not-venv-root"),
                ));
            } else {
                r.recognised.push(entry(
                    format!("{how} {path} → `venv {{ path }}`"),
                    at.as_ref(),
                    None,
                ));
            }
            break;
        }
    }
    match venv {
        Some((path, info)) => {
            // A venv inside the project is not code.
            if let Some(rel) = path.strip_prefix(&format!("{}/", app.project)) {
                app.exclude.push(format!("{rel}/"));
            }
            app.venv = path;
            app.python = match (&info.python, &info.home) {
                (Some(p), Some(h)) if parent(p).as_deref() == Some(h.as_str()) => p.clone(),
                (_, Some(h)) => format!("{h}/python3"),
                (Some(p), None) => p.clone(),
                (None, None) => "/usr/bin/python3".into(),
            };
            app.packages = info.packages.clone();
            r.recognised.push(entry(
                format!(
                    "the venv's base interpreter {}{} → `python`; its {} installed distributions → the requirements import writes",
                    app.python,
                    info.version
                        .as_deref()
                        .map(|v| format!(" (python {v})"))
                        .unwrap_or_default(),
                    app.packages.len()
                ),
                None,
                None,
            ));
            if let Some(u) = &info.untrusted {
                let mut new = format!("{}/venv", app.root);
                if new == app.venv {
                    new = format!("{}/wsgictl-venv", app.root);
                }
                let old = std::mem::replace(&mut app.venv, new);
                r.changes.push(entry(
                    format!("the venv {old} is not root's alone ({u}): wsgictl runs pip in a venv as root, so it builds a new one, {}, with the same pinned packages (from PyPI); the old venv stays as it is", app.venv),
                    None,
                    None,
                ));
            } else {
                r.changes.push(entry(
                    "the venv gets wsgictl's install record: the first apply runs pip against the requirements import wrote (what is installed already stays)".to_string(),
                    None,
                    None,
                ));
            }
        }
        None => {
            app.venv = format!("{}/venv", app.root);
            app.python = "/usr/bin/python3".into();
            app.packages = vec!["Django".into()];
            r.todo.push(entry(
                format!("no virtualenv was found (the site runs on the system's packages): wsgictl builds {} — list the packages the site needs in the requirements import wrote", app.venv),
                None,
                Some("python-home-missing-or-unreadable"),
            ));
        }
    }
}

fn account(app: &mut App, c: &Ctx<'_>) {
    let Ctx {
        g,
        lead,
        apache_user,
        o,
        ..
    } = *c;
    let r = &mut app.report;
    // Account and daemon.
    match &lead.group {
        Some(group) => {
            app.user = opt(lead, "user").unwrap_or(apache_user).to_string();
            app.group = opt(lead, "group").map(str::to_string);
            r.recognised.push(entry(
                format!(
                    "daemon group `{group}` → app `{}`, `user \"{}\"`",
                    app.name, app.user
                ),
                lead.daemon.as_ref().map(|(_, at)| at),
                None,
            ));
            if group != &app.name {
                r.changes.push(entry(
                    format!(
                        "the daemon group is named after the app: `{group}` becomes `{}`",
                        app.name
                    ),
                    None,
                    None,
                ));
            }
            for k in crate::manifest::DAEMON_OPTIONS {
                if let Some(n) = opt(lead, k).and_then(|v| v.parse().ok()) {
                    app.daemon.push((k.to_string(), n));
                }
            }
            let modelled: Vec<&str> = crate::manifest::DAEMON_OPTIONS
                .iter()
                .copied()
                .chain([
                    "user",
                    "group",
                    "python-home",
                    "python-path",
                    "home",
                    "display-name",
                    "lang",
                    "locale",
                ])
                .collect();
            if let Some((opts, at)) = &lead.daemon {
                let others: Vec<String> = opts
                    .iter()
                    .filter(|(k, _)| !modelled.contains(&k.as_str()))
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                if !others.is_empty() {
                    r.changes.push(entry(
                        format!(
                            "WSGIDaemonProcess options wsgictl sets itself or does not model: {}",
                            others.join(" ")
                        ),
                        Some(at),
                        None,
                    ));
                }
                if !opts.iter().any(|(k, _)| k == "processes") {
                    r.changes.push(entry(
                        "the daemon had one process (mod_wsgi's default without `processes=`); wsgictl's default is 2 processes × 15 threads".to_string(),
                        Some(at),
                        None,
                    ));
                    if o.keep_as_is {
                        app.daemon.insert(0, ("processes".into(), 1));
                    }
                }
            }
        }
        None => {
            app.user = apache_user.to_string();
            r.changes.push(entry(
                format!(
                    "embedded mode (no daemon process group): the app moves into a daemon process group of its own, run as {}{}",
                    app.user,
                    if o.keep_as_is {
                        ", one process like Apache's own children".to_string()
                    } else {
                        "; a dedicated account (`user \"NAME\"`) is better still".to_string()
                    }
                ),
                lead.script_at.as_ref(),
                Some("embedded-fallback-no-process-group"),
            ));
            if o.keep_as_is {
                app.daemon.push(("processes".into(), 1));
            }
        }
    }
    if let Some(ag) = &lead.application_group
        && ag != "%{GLOBAL}"
    {
        r.changes.push(entry(
            format!("application group `{ag}` → %{{GLOBAL}} (the main interpreter: C extensions such as numpy and psycopg work there)"),
            None,
            Some("subinterpreter-c-extension"),
        ));
    }
    for at in g.iter().flat_map(|v| v.old_access.iter()) {
        r.changes.push(entry(
            "Apache 2.2 access control (`Order`/`Allow`/`Deny`) on a path wsgictl serves → `Require all granted`, which it writes itself".to_string(),
            Some(at),
            Some("apache22-access-syntax"),
        ));
    }
}

fn static_and_media(app: &mut App, c: &Ctx<'_>, project: &str, pinfo: &ProjectInfo) {
    let Ctx { g, .. } = *c;
    let r = &mut app.report;
    // Static and media.
    for (url, dir, at) in g.iter().flat_map(|v| v.aliases_dirs.iter()) {
        let u = url.to_ascii_lowercase();
        let url = if url.ends_with('/') {
            url.clone()
        } else {
            format!("{url}/")
        };
        let slot = if u.contains("static") {
            &mut app.static_files
        } else {
            &mut app.media
        };
        if slot.is_none() {
            *slot = Some((url, dir.clone()));
            app.from.push(("Alias".into(), at.clone()));
        }
    }
    match &app.static_files {
        Some((_, dir)) => r.changes.push(entry(
            format!("{dir} becomes a link to the running release's static files; what it holds now is carried into the first release"),
            None,
            Some("static-files-denied-or-missing"),
        )),
        None => {
            let dir = format!("{}/static", app.root);
            r.changes.push(entry(
                format!("no static Alias: wsgictl serves {dir} at /static/ (set STATIC_ROOT to it for collectstatic)"),
                None,
                None,
            ));
            app.static_files = Some(("/static/".into(), dir));
        }
    }
    // What lives in the project but is not code: static, media (the venv: in `venv_of`).
    for dir in app
        .static_files
        .iter()
        .chain(app.media.iter())
        .map(|(_, d)| d.clone())
        .collect::<Vec<_>>()
    {
        if let Some(rel) = dir.strip_prefix(&format!("{project}/")) {
            app.exclude.push(format!("{rel}/"));
        }
    }
    if !pinfo.sqlite.is_empty() || !pinfo.sqlite_settings.is_empty() {
        app.data = Some(format!("{}/data", app.root));
        app.overlay = true;
        r.changes.push(entry(
            format!(
                "{} uses SQLite inside the project, which every release replaces: `data \"{}/data\"` and `overlay #true` move the database there (the overlay also sets ALLOWED_HOSTS to the app's names and STATIC_ROOT to its static directory, without editing the project)",
                pinfo.sqlite_settings.first().map_or("the project", String::as_str),
                app.root
            ),
            None,
            Some("django-settings-contradict-manifest"),
        ));
        for db in &pinfo.sqlite {
            app.exclude.push(db.clone());
            r.todo.push(entry(
                format!("SQLite database {project}/{db}: it is not part of the code, so it stays out of the releases; `data` and `overlay #true` put Django's SQLite in {}/data — copy it there before the first apply (the site's writes after that are not carried): install -D -o {u} -m 0600 {} {}", app.root, shell_word(&format!("{project}/{db}")), shell_word(&format!("{}/data/{}", app.root, std::path::Path::new(db).file_name().and_then(|f| f.to_str()).unwrap_or("db.sqlite3"))), u = app.user),
                None,
                None,
            ));
        }
    }
}

fn environment(app: &mut App, c: &Ctx<'_>, script: &str, wsgi: Option<&WsgiFile>) {
    let Ctx { g, o, .. } = *c;
    let r = &mut app.report;
    // Environment: SetEnv (not DJANGO_SETTINGS_MODULE) and the .wsgi's os.environ.
    let mut env: BTreeMap<String, (String, Option<At>, &'static str)> = BTreeMap::new();
    for v in g {
        for (n, val, at) in &v.env {
            if n != "DJANGO_SETTINGS_MODULE" {
                env.insert(n.clone(), (val.clone(), Some(at.clone()), "SetEnv"));
            }
        }
    }
    if let Some(w) = &wsgi {
        for (n, val, line, how) in &w.env {
            env.insert(
                n.clone(),
                (
                    val.clone(),
                    Some(at_line(script, *line)),
                    if how == "setdefault" {
                        "the .wsgi's os.environ.setdefault"
                    } else {
                        "the .wsgi's os.environ"
                    },
                ),
            );
        }
    }
    for (n, (val, at, how)) in env {
        let valid = n
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
            && n.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            r.not_imported.push(entry(
                format!("environment name `{n}` ({how}) is not of the form [A-Z_][A-Z0-9_]*: not imported"),
                at.as_ref(),
                None,
            ));
            continue;
        }
        let secret = is_secret(&n, &val);
        if how == "SetEnv" && o.keep_as_is && !secret {
            // Only each request's WSGI environ, as today.
            app.raw
                .push(format!("SetEnv {n} {}", super::tree::quoted(&val)));
            r.kept.push(entry(
                format!("`SetEnv {n}` → apache-raw (--keep-as-is: it stays out of os.environ)"),
                at.as_ref(),
                None,
            ));
            continue;
        }
        if secret {
            r.recognised.push(entry(
                format!("{how} {n}: a secret → `secret \"{n}\" from-file=` (a 0600 file; the value is shown nowhere)"),
                at.as_ref(),
                None,
            ));
            app.secrets.push((n.clone(), Secret(val)));
        } else {
            r.recognised
                .push(entry(format!("{how} {n} → `env`"), at.as_ref(), None));
            app.env.push((n.clone(), val));
        }
        if how == "SetEnv" {
            r.changes.push(entry(
                format!("{n} reaches os.environ from now on (SetEnv put it only in each request's WSGI environ){}", if secret && o.keep_as_is { "; a secret is never written into the vhost, not even with --keep-as-is" } else { "" }),
                at.as_ref(),
                None,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_recognised_by_name_and_by_credentials_in_urls() {
        assert!(is_secret("DJANGO_SECRET_KEY", "x"));
        assert!(is_secret("DB_PASSWORD", "x"));
        assert!(is_secret("STRIPE_API_KEY", "x"));
        assert!(is_secret("DATABASE_URL", "postgres://blog:hunter2@db/blog"));
        assert!(!is_secret("DATABASE_URL", "sqlite:////srv/x/db.sqlite3"));
        assert!(!is_secret("DJANGO_DEBUG", "0"));
        assert!(!is_secret("KEYBOARD_LAYOUT", "us"));
    }

    #[test]
    fn venvs_from_site_packages_and_roots_from_projects() {
        assert_eq!(
            venv_of_site_packages("/srv/old/venv/lib/python3.11/site-packages").as_deref(),
            Some("/srv/old/venv")
        );
        assert_eq!(venv_of_site_packages("/srv/old/proj"), None);
        assert_eq!(root_for("/srv/old/proj", "old"), "/srv/old");
        assert_eq!(root_for("/srv/proj", "proj"), "/srv/wsgictl-proj");
        assert_eq!(root_for("/srv/proj", "blog"), "/srv/blog");
        assert_eq!(root_for("/srv/old/src", "old"), "/srv/wsgictl-old");
        assert_eq!(root_for("/var/www/site", "site"), "/srv/site");
        assert_eq!(
            root_for("/home/sammy/myproject", "myproject"),
            "/srv/myproject"
        );
        assert_eq!(
            root_for("/home/sammy/sites/blog", "blog"),
            "/home/sammy/sites"
        );
    }

    #[test]
    fn a_secret_value_never_prints() {
        let s = Secret("hunter2".into());
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
