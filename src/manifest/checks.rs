//! Rules that relate several nodes: unique names, no collisions on one host.
//!
//! (Whether an app's `host` is declared is checked while decoding, so it is reported even for
//! an app with other problems.)
//!
//! Stage: load (pure). Runs on the decoded model; each problem points at the second
//! occurrence and its help names the first.

use super::diag::Problem;
use super::model::{App, Host, Spanned};
use miette::SourceSpan;
use std::collections::HashMap;

pub(super) fn check(hosts: &[Host], apps: &[App], problems: &mut Vec<Problem>) {
    unique(hosts.iter().map(|h| &h.name), "host", problems);
    unique(apps.iter().map(|a| &a.name), "app", problems);

    for host in hosts {
        let on_host: Vec<&App> = apps
            .iter()
            .filter(|a| a.hosts.iter().any(|h| **h == *host.name))
            .collect();
        // (name, port) → the app and span that claimed it first.
        let mut names: HashMap<(String, u16), (&str, SourceSpan)> = HashMap::new();
        let mut roots: HashMap<String, (&str, SourceSpan)> = HashMap::new();
        // Static and media directories: one app, one purpose each.
        let mut dirs: HashMap<String, (&str, &str)> = HashMap::new();
        for app in &on_host {
            for n in std::iter::once(&app.server_name).chain(&app.aliases) {
                let key = (n.to_ascii_lowercase(), *app.port);
                match names.get(&key) {
                    Some((first, _)) if *first != app.name.as_str() => problems.push(Problem {
                        code: "server-name-conflict",
                        message: format!(
                            "apps `{first}` and `{}` both claim {}:{} on host `{}`",
                            *app.name, n.value, *app.port, *host.name
                        ),
                        span: n.span,
                        label: "claimed twice".into(),
                        help: Some(format!(
                            "Apache would send every request for {} to the first vhost; give `{}` another server-name or port",
                            n.value, *app.name
                        )),
                    }),
                    _ => {
                        names.insert(key, (app.name.as_str(), n.span));
                    }
                }
            }
            for (what, dir) in std::iter::once(("static", &app.django.static_files))
                .chain(app.django.media.as_ref().map(|m| ("media", m)))
            {
                match dirs.get(&dir.dir) {
                    Some((first, first_what)) if *first != app.name.as_str() || *first_what != what => problems.push(Problem {
                        code: "directory-conflict",
                        message: format!(
                            "app `{}` uses {} as its {what} directory, which is already the {first_what} directory of app `{first}` on host `{}`",
                            *app.name, dir.dir, *host.name
                        ),
                        span: app.name.span,
                        label: format!("{what} directory taken"),
                        help: Some(format!(
                            "give each app its own directories, such as `{what} \"{}\" \"{}/{what}\"`",
                            dir.url,
                            app.root.trim_end_matches('/')
                        )),
                    }),
                    Some(_) => {}
                    None => {
                        dirs.insert(dir.dir.clone(), (app.name.as_str(), what));
                    }
                }
            }
            venv_overlap(app, &on_host, problems);
            if host.rootless {
                listen_conflict(app, &on_host, problems);
            }
            data_placement(app, problems);
            env_served(app, problems);
            let root = app.root.trim_end_matches('/').to_string();
            match roots.get(&root) {
                Some((first, _)) => problems.push(Problem {
                    code: "root-conflict",
                    message: format!(
                        "apps `{first}` and `{}` share the root {} on host `{}`",
                        *app.name, app.root.value, *host.name
                    ),
                    span: app.root.span,
                    label: "same root".into(),
                    help: Some(format!(
                        "give `{}` its own root, such as `root \"/srv/{}\"`",
                        *app.name, *app.name
                    )),
                }),
                None => {
                    roots.insert(root, (app.name.as_str(), app.root.span));
                }
            }
        }
    }
}

/// On a rootless host, apps sharing a port must listen on the same address, or on addresses
/// that are both specific: Linux refuses a wildcard and a specific address on one port.
fn listen_conflict(app: &App, on_host: &[&App], problems: &mut Vec<Problem>) {
    let addr = |a: &App| a.listen_address().to_string();
    let wild = |a: &str| a == "0.0.0.0" || a == "::";
    let mine = addr(app);
    let Some(first) = on_host
        .iter()
        .take_while(|o| o.name.value != app.name.value)
        .find(|o| *o.port == *app.port && addr(o) != mine && (wild(&addr(o)) || wild(&mine)))
    else {
        return;
    };
    problems.push(Problem {
        code: "listen-conflict",
        message: format!(
            "app `{}` listens on {mine}:{}, and app `{}` on {}:{} of the same account's Apache",
            *app.name,
            *app.port,
            *first.name,
            addr(first),
            *first.port
        ),
        span: app.listen.as_ref().map_or(app.port.span, |l| l.span),
        label: "conflicting address".into(),
        help: Some(format!(
            "give both the same `listen`, or another `port` to `{}`",
            *app.name
        )),
    });
}

/// `a` is `b` or one of its ancestors.
fn covers(a: &str, b: &str) -> bool {
    let a = a.trim_end_matches('/');
    let b = b.trim_end_matches('/');
    a == b || a.is_empty() || b.starts_with(&format!("{a}/"))
}

/// A venv is rebuilt with `rm -rf`: it may not be, nor contain, the app's root, source,
/// static or media directory, nor another app's venv or root on the same host.
fn venv_overlap(app: &App, on_host: &[&App], problems: &mut Vec<Problem>) {
    let venv = app.venv.path.as_str();
    let root = app.root.trim_end_matches('/');
    let mut own = vec![
        ("the app's root", root.to_string()),
        ("the app's releases", format!("{root}/releases")),
        ("the app's current release", format!("{root}/current")),
        ("the app's source directory", format!("{root}/src")),
        (
            "the app's static directory",
            app.django.static_files.dir.clone(),
        ),
    ];
    if let Some(m) = &app.django.media {
        own.push(("the app's media directory", m.dir.clone()));
    }
    let mut hit = own
        .into_iter()
        .find(|(_, dir)| covers(venv, dir))
        .map(|(what, dir)| format!("{what} {dir}"));
    // Apps that share a root are reported as `root-conflict` already.
    let others = on_host
        .iter()
        .filter(|o| o.name.value != app.name.value && o.root.trim_end_matches('/') != root);
    for other in others {
        if hit.is_some() {
            break;
        }
        if covers(venv, &other.venv.path) || covers(&other.venv.path, venv) {
            hit = Some(format!("app `{}`'s venv {}", *other.name, other.venv.path));
        } else if covers(venv, &other.root) {
            hit = Some(format!("app `{}`'s root {}", *other.name, other.root.value));
        }
    }
    if let Some(what) = hit {
        problems.push(Problem {
            code: "venv-overlap",
            message: format!(
                "the venv {venv} of app `{}` is or contains {what}; rebuilding the venv would delete it",
                *app.name
            ),
            span: app.venv.path_span.unwrap_or(app.root.span),
            label: "venv path overlaps".into(),
            help: Some(format!(
                "give the venv a directory of its own, such as `path \"{root}/venv\"`"
            )),
        });
    }
}

/// Directories Apache serves for `app`: static, media, the empty DocumentRoot.
fn served(app: &App) -> Vec<(&'static str, String)> {
    let root = app.root.trim_end_matches('/');
    let mut out = vec![
        ("static", app.django.static_files.dir.clone()),
        ("htdocs", format!("{root}/htdocs")),
    ];
    if let Some(m) = &app.django.media {
        out.push(("media", m.dir.clone()));
    }
    if app.tls.is_some() {
        out.push(("ACME challenge", format!("{root}/acme")));
    }
    out
}

/// `data` is never served, never synced over, never inside the venv.
fn data_placement(app: &App, problems: &mut Vec<Problem>) {
    let Some(data) = &app.data else {
        return;
    };
    let root = app.root.trim_end_matches('/');
    let mut taken = served(app);
    taken.push(("source", format!("{root}/src")));
    taken.push(("releases", format!("{root}/releases")));
    taken.push(("current release", format!("{root}/current")));
    taken.push(("venv", app.venv.path.clone()));
    let d = data.trim_end_matches('/');
    let hit = taken
        .iter()
        .find(|(_, dir)| covers(dir, d) || covers(d, dir))
        .cloned();
    if d == root {
        problems.push(Problem {
            code: "data-overlap",
            message: format!(
                "the data directory of app `{}` is its root {root}",
                *app.name
            ),
            span: data.span,
            label: "data overlaps".into(),
            help: Some(format!(
                "give it a directory of its own, such as `data \"{root}/data\"`"
            )),
        });
    } else if let Some((what, dir)) = hit {
        problems.push(Problem {
            code: "data-overlap",
            message: format!(
                "the data directory {d} of app `{}` overlaps its {what} directory {dir}{}",
                *app.name,
                if what == "source" || what == "venv" {
                    ", which apply replaces"
                } else {
                    ": Apache would serve the database to anyone"
                }
            ),
            span: data.span,
            label: "data overlaps".into(),
            help: Some(format!(
                "give it a directory of its own, such as `data \"{root}/data\"`"
            )),
        });
    }
}

/// An `env` value that names a file inside a directory Apache serves (a database URL, a log
/// file): anyone could download it.
fn env_served(app: &App, problems: &mut Vec<Problem>) {
    for e in &app.env {
        for (what, dir) in served(app) {
            if e.value.contains(&format!("{}/", dir.trim_end_matches('/'))) {
                let root = app.root.trim_end_matches('/');
                problems.push(Problem {
                    code: "env-path-served",
                    message: format!(
                        "`{}` of app `{}` names a path inside its {what} directory {dir}, which Apache serves to anyone",
                        e.name, *app.name
                    ),
                    span: app.name.span,
                    label: "in this app".into(),
                    help: Some(format!(
                        "keep databases and files the app writes in its `data` directory (such as `data \"{root}/data\"`), never below static, media or the DocumentRoot"
                    )),
                });
                break;
            }
        }
    }
}

fn unique<'a>(
    names: impl Iterator<Item = &'a Spanned<String>>,
    what: &str,
    problems: &mut Vec<Problem>,
) {
    let mut seen: HashMap<&str, SourceSpan> = HashMap::new();
    for n in names {
        if seen.contains_key(n.as_str()) {
            problems.push(Problem {
                code: "duplicate-name",
                message: format!("{what} `{}` is declared twice", n.value),
                span: n.span,
                label: "declared again here".into(),
                help: Some(format!(
                    "{what} names must be unique; rename or remove one of them"
                )),
            });
        } else {
            seen.insert(n.as_str(), n.span);
        }
    }
}
