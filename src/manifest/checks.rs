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
