//! Quoting, end to end: hostile manifest values go through the `apache`, `py` and `sh`
//! filters, and the rendered env file and `.wsgi` script read them back exactly, in a real
//! Python and a real `sh`.

use crate::support::*;
use std::process::Command;
use wsgictl::{quote, shell};

const HOSTILE: &[&str] = &[
    "",
    "plain",
    "two  spaces",
    "it's",
    r#"say "hi""#,
    r"back\slash\",
    "$(reboot)",
    "`id`",
    "${HOME}",
    "; rm -rf / #",
    "a=b=c",
    "#not-a-comment",
    "--flag",
    "héllo ✓ 日本",
    "'\"'\"'",
];

#[test]
fn filters_on_hostile_values() {
    let mut table = String::new();
    // Inputs in Rust debug form; outputs exactly as they are written into files.
    let raw = |r: Result<String, String>| r.unwrap_or_else(|e| format!("<refused: {e}>"));
    for v in HOSTILE {
        let apache = raw(quote::apache(v).map_err(|e| e.to_string()));
        let py = quote::python(v);
        let sh = raw(shell::quote(v)
            .map(|q| q.into_owned())
            .map_err(|e| e.to_string()));
        table.push_str(&format!(
            "{v:?}\n  apache: {apache}\n  py:     {py}\n  sh:     {sh}\n"
        ));
    }
    for v in ["line\nbreak", "nul\0byte", "tab\there"] {
        let apache = raw(quote::apache(v).map_err(|e| e.to_string()));
        let sh = raw(shell::quote(v)
            .map(|q| q.into_owned())
            .map_err(|e| e.to_string()));
        table.push_str(&format!(
            "{v:?}\n  apache: {apache}\n  py:     {}\n  sh:     {sh}\n",
            quote::python(v)
        ));
    }
    insta::assert_snapshot!("quoting__hostile", table);
}

#[test]
fn python_literals_read_back_exactly() {
    for v in HOSTILE.iter().chain(&["line\nbreak\0nul\x1b"]) {
        let lit = quote::python(v);
        let o = Command::new("python3")
            .args([
                "-c",
                "import ast,sys; sys.stdout.write(ast.literal_eval(sys.stdin.read()))",
            ])
            .stdin_from(&lit);
        assert_eq!(o, *v, "literal {lit}");
    }
}

#[test]
fn shell_words_read_back_exactly_in_sh() {
    for v in HOSTILE {
        let q = shell::quote(v).unwrap();
        let out = Command::new("sh")
            .args(["-c", &format!("printf %s {q}")])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), *v, "quoted as {q}");
    }
}

/// Render a manifest whose env and secrets are hostile, write the files where the manifest
/// says (under a temp root), run the rendered `.wsgi` with a stub Django module, and compare
/// the environment the application sees.
#[test]
fn env_file_and_wsgi_script_deliver_values_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("srv/app");
    let project = fixture("manifests/project");
    let mut env_block = String::new();
    for (i, v) in HOSTILE.iter().enumerate() {
        env_block.push_str(&format!("        V{i} {}\n", kdl_string(v)));
    }
    let manifest = format!(
        r#"host "h" {{
    address "127.0.0.1"
}}
app "app" {{
    host "h"
    server-name "app.example.com"
    root "{root}"
    user "app"
    source "{project}/blog"
    venv {{ packages "django" }}
    django {{
        settings "stub.settings"
        wsgi "stub.wsgi"
        static "/static/" "{root}/static"
    }}
    env {{
{env_block}    }}
    secret "FROM_ENV" from-env="WSGICTL_TEST_SECRET"
    secret "FROM_FILE" from-file="{project}/secret.key"
}}
"#,
        root = root.display(),
        project = project.display()
    );
    let path = dir.path().join("site.kdl");
    std::fs::write(&path, manifest).unwrap();
    let m = wsgictl::manifest::load(&path).unwrap();
    let templates = wsgictl::templates::Templates::load(None).unwrap();
    let hostile_secret = "sec'ret \"$(x)\" ✓";
    let lookup = |v: &str| (v == "WSGICTL_TEST_SECRET").then(|| hostile_secret.to_string());
    let states = wsgictl::render::render_all(&m, &templates, &Default::default(), &lookup).unwrap();
    for f in &states[0].files {
        if f.path.starts_with(root.to_str().unwrap()) {
            std::fs::create_dir_all(std::path::Path::new(&f.path).parent().unwrap()).unwrap();
            std::fs::write(&f.path, f.content.secret_text()).unwrap();
        }
        assert!(
            !f.content.shown().contains("sec'ret"),
            "{} shows the secret",
            f.path
        );
    }
    // A stub Django project: wsgi.py exposes the environment it was imported with.
    let stub = dir.path().join("py/stub");
    std::fs::create_dir_all(&stub).unwrap();
    std::fs::write(stub.join("__init__.py"), "").unwrap();
    std::fs::write(
        stub.join("wsgi.py"),
        "import os\napplication = dict(os.environ)\n",
    )
    .unwrap();
    // The release's code directory, which the `.wsgi` runs in.
    std::fs::create_dir_all(root.join("current/src")).unwrap();
    let script = format!(
        "import json, runpy; ns = runpy.run_path({:?}); print(json.dumps(ns['application']))",
        root.join("current/app.wsgi").to_str().unwrap()
    );
    let out = Command::new("python3")
        .env_clear()
        .env("PYTHONPATH", dir.path().join("py"))
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: std::collections::HashMap<String, String> =
        serde_json::from_slice(&out.stdout).unwrap();
    for (i, v) in HOSTILE.iter().enumerate() {
        assert_eq!(
            seen.get(&format!("V{i}")).map(String::as_str),
            Some(*v),
            "V{i}"
        );
    }
    assert_eq!(seen["FROM_ENV"], hostile_secret);
    assert_eq!(
        seen["FROM_FILE"], "fixture-secret-from-file",
        "one trailing newline is dropped"
    );
    assert_eq!(seen["DJANGO_SETTINGS_MODULE"], "stub.settings");
}

/// A KDL v2 quoted string for `v` (JSON escapes are KDL escapes, but `\/` and `\u` differ).
fn kdl_string(v: &str) -> String {
    let mut out = String::from("\"");
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

trait StdinFrom {
    fn stdin_from(&mut self, input: &str) -> String;
}

impl StdinFrom for Command {
    fn stdin_from(&mut self, input: &str) -> String {
        use std::io::Write as _;
        let mut child = self
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    }
}
