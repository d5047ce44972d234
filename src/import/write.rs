//! The text import writes: one `app` block per imported site (with a comment giving the
//! `file:line` of every directive it came from) and the import report.
//!
//! Stage: import (pure). Secret values never reach this text: an app's secrets appear as
//! `secret "NAME" from-file="…"` only, the file written apart with mode 0600.

use super::site::{App, Entry, Imported, Report};
use std::fmt::Write as _;

/// Where the local files of an app go, relative to the manifest.
pub struct Paths {
    pub source: String,
    pub requirements: String,
    /// `secrets/APP.NAME` per secret name.
    pub secret: Box<dyn Fn(&str) -> String>,
}

/// A KDL string literal.
pub fn kdl_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A KDL v2 multi-line raw string, each line indented by `pad` (the closing quotes' indent).
fn kdl_raw(text: &str, pad: &str) -> String {
    let mut hashes = "#".to_string();
    while text.contains(&format!("\"\"\"{hashes}")) {
        hashes.push('#');
    }
    format!(
        "{hashes}\"\"\"\n{}\n{pad}\"\"\"{hashes}",
        crate::render::indent(text, pad)
    )
}

pub fn app_block(app: &App, host: &str, paths: &Paths, report_file: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "// Imported from host \"{host}\" by `wsgictl import`; the first plan changes only what {report_file} lists."
    );
    let w = app.from.iter().map(|(w, _)| w.len()).max().unwrap_or(0);
    for (what, at) in &app.from {
        let _ = writeln!(s, "//   {what:w$}  {at}");
    }
    let _ = writeln!(s, "app {} {{", kdl_str(&app.name));
    let line = |s: &mut String, l: String| {
        let _ = writeln!(s, "    {l}");
    };
    line(&mut s, format!("host {}", kdl_str(host)));
    line(&mut s, format!("server-name {}", kdl_str(&app.server_name)));
    for a in &app.aliases {
        line(&mut s, format!("alias {}", kdl_str(a)));
    }
    line(&mut s, format!("port {}", app.port));
    if let Some((cert, key)) = &app.tls {
        if let Some(p) = app.http_port {
            line(&mut s, format!("http-port {p}"));
        }
        line(
            &mut s,
            format!(
                "tls {{\n        certificate {}\n        key {}\n    }}",
                kdl_str(cert),
                kdl_str(key)
            ),
        );
    }
    if app.mount != "/" {
        line(&mut s, format!("mount {}", kdl_str(&app.mount)));
    }
    line(&mut s, format!("root {}", kdl_str(&app.root)));
    line(&mut s, format!("user {}", kdl_str(&app.user)));
    if let Some(g) = &app.group {
        line(&mut s, format!("group {}", kdl_str(g)));
    }
    if let Some(d) = &app.data {
        line(&mut s, format!("data {}", kdl_str(d)));
    }
    if app.exclude.is_empty() {
        line(&mut s, format!("source {}", kdl_str(&paths.source)));
    } else {
        let ex: Vec<String> = app.exclude.iter().map(|e| kdl_str(e)).collect();
        line(
            &mut s,
            format!(
                "source {} {{\n        exclude {}\n    }}",
                kdl_str(&paths.source),
                ex.join(" ")
            ),
        );
    }
    line(&mut s, format!("python {}", kdl_str(&app.python)));
    line(
        &mut s,
        format!(
            "venv {{\n        path {}\n        requirements {}\n    }}",
            kdl_str(&app.venv),
            kdl_str(&paths.requirements)
        ),
    );
    let mut django = format!("django {{\n        settings {}\n", kdl_str(&app.settings));
    if let Some(m) = &app.wsgi_module {
        let _ = writeln!(django, "        wsgi {}", kdl_str(m));
    }
    if let Some((url, dir)) = &app.static_files {
        let _ = writeln!(django, "        static {} {}", kdl_str(url), kdl_str(dir));
    }
    if let Some((url, dir)) = &app.media {
        let _ = writeln!(django, "        media {} {}", kdl_str(url), kdl_str(dir));
    }
    if app.overlay {
        django.push_str("        overlay #true\n");
    }
    django.push_str("    }");
    line(&mut s, django);
    if !app.daemon.is_empty() {
        let mut d = "daemon {\n".to_string();
        for (k, v) in &app.daemon {
            let _ = writeln!(d, "        {k} {v}");
        }
        d.push_str("    }");
        line(&mut s, d);
    }
    if !app.env.is_empty() {
        let mut e = "env {\n".to_string();
        for (k, v) in &app.env {
            let _ = writeln!(e, "        {k} {}", kdl_str(v));
        }
        e.push_str("    }");
        line(&mut s, e);
    }
    for (name, _) in &app.secrets {
        line(
            &mut s,
            format!(
                "secret {} from-file={}",
                kdl_str(name),
                kdl_str(&(paths.secret)(name))
            ),
        );
    }
    if !app.raw.is_empty() {
        line(
            &mut s,
            format!("apache-raw {}", kdl_raw(&app.raw.join("\n"), "        ")),
        );
    }
    for r in &app.replaces {
        line(&mut s, format!("replaces {}", kdl_str(r)));
    }
    s.push_str("}\n");
    s
}

fn section(s: &mut String, title: &str, entries: &[Entry]) {
    if entries.is_empty() {
        return;
    }
    let _ = writeln!(s, "  {title}:");
    for e in entries {
        let at = e.at.as_ref().map(|a| format!(" ({a})")).unwrap_or_default();
        let why = e.scenario.map(|id| format!(" [{id}]")).unwrap_or_default();
        let _ = writeln!(s, "    - {}{at}{why}", e.text);
    }
}

fn report_body(s: &mut String, r: &Report) {
    section(s, "Before the first apply", &r.todo);
    section(s, "What the first plan changes, and why", &r.changes);
    section(s, "Kept as written (apache-raw)", &r.kept);
    section(s, "Recognised", &r.recognised);
    section(s, "Not imported", &r.not_imported);
}

/// The import report: per app, then for the host.
pub fn report(host: &str, imported: &Imported, fetched: bool) -> String {
    let mut s = format!(
        "wsgictl import report for host \"{host}\": {} app{} found.\n\
         [scenario] ids are explained by `wsgictl doctor --list`. Secret values appear nowhere here.\n",
        imported.apps.len(),
        if imported.apps.len() == 1 { "" } else { "s" }
    );
    for app in &imported.apps {
        let _ = writeln!(
            s,
            "\napp \"{}\" ({}{}{}):",
            app.name,
            app.server_name,
            if app.port == 80 {
                String::new()
            } else {
                format!(":{}", app.port)
            },
            if app.mount == "/" { "" } else { &app.mount }
        );
        let mut r = app.report.clone();
        if !fetched {
            r.todo.insert(
                0,
                Entry {
                    text: format!(
                        "the project's code is on the host in {}: run `wsgictl import --fetch-source DIR` to copy it here, or copy it into the app's `source` directory yourself",
                        app.project
                    ),
                    at: None,
                    scenario: None,
                },
            );
        }
        report_body(&mut s, &r);
    }
    if !imported.report.changes.is_empty()
        || !imported.report.not_imported.is_empty()
        || !imported.report.todo.is_empty()
    {
        let _ = writeln!(s, "\nhost \"{host}\":");
        report_body(&mut s, &imported.report);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::site::Secret;

    #[test]
    fn strings_and_raw_blocks_are_valid_kdl_that_round_trips() {
        let app = App {
            name: "old".into(),
            server_name: "old.example.com".into(),
            port: 80,
            mount: "/app".into(),
            root: "/srv/old".into(),
            user: "www-data".into(),
            python: "/usr/bin/python3.11".into(),
            venv: "/srv/old/venv".into(),
            settings: "proj.settings".into(),
            static_files: Some(("/static/".into(), "/srv/old/static".into())),
            env: vec![("GREETING".into(), "say \"hi\"\\n".into())],
            secrets: vec![("DJANGO_SECRET_KEY".into(), Secret("hunter2".into()))],
            raw: vec![
                "RewriteEngine On".into(),
                "<Location /admin>\n    Require ip 10.0.0.0/8\n</Location>".into(),
                "Header set X \"\"\"#".into(),
            ],
            replaces: vec!["/etc/apache2/sites-available/old.conf".into()],
            ..Default::default()
        };
        let paths = Paths {
            source: "./src/old".into(),
            requirements: "./imported/old1/old/requirements.txt".into(),
            secret: Box::new(|n| format!("./secrets/old.{n}")),
        };
        let text = app_block(&app, "old1", &paths, "import-old1.report");
        assert!(!text.contains("hunter2"));
        let doc: kdl::KdlDocument = text.parse().expect(&text);
        let node = doc.get("app").unwrap();
        let children = node.children().unwrap();
        let raw = children.get_arg("apache-raw").unwrap().as_string().unwrap();
        assert_eq!(
            raw,
            "RewriteEngine On\n<Location /admin>\n    Require ip 10.0.0.0/8\n</Location>\nHeader set X \"\"\"#"
        );
        let env = children.get("env").unwrap().children().unwrap();
        assert_eq!(
            env.get_arg("GREETING").unwrap().as_string(),
            Some("say \"hi\"\\n")
        );
        assert_eq!(children.get_arg("mount").unwrap().as_string(), Some("/app"));
    }
}
