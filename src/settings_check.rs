//! Django's own settings as the truth: load them as the daemon user, as mod_wsgi would, and
//! compare them with what the manifest says.
//!
//! Stage: facts and apply (pure: the Python that runs on the host, and what turns
//! their JSON into findings). One Python program, [`PROGRAM`], reads the settings and decides
//! which values contradict the manifest (each with a code and a severity); plan runs it as a
//! probe when the venv and source are in place, and apply runs it before any Django hook, both
//! through `facts::settings` (one pass for every app, its report kept under a key).
//! The messages and their fixes are written here, once, for both. No credential is ever
//! read: of `DATABASES` only the engine and, for SQLite, the file.

use serde::{Deserialize, Serialize};

/// What the manifest says, handed to [`PROGRAM`] as its one JSON argument.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expect {
    pub app: String,
    pub settings: String,
    pub env_file: String,
    /// Where the settings are loaded from (the release's `src`).
    pub src: String,
    /// What holds the deployed code: `{root}/releases` (every release).
    #[serde(default)]
    pub code: String,
    pub static_dir: String,
    pub media_dir: Option<String>,
    pub data: Option<String>,
    /// Directories Apache serves: static, media, the DocumentRoot.
    pub served: Vec<String>,
    pub tls: bool,
    pub collectstatic: bool,
    pub overlay: bool,
}

/// What [`PROGRAM`] printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The settings did not load: the exception's last line.
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub django: Option<String>,
    #[serde(default)]
    pub wsgi_application: Option<String>,
    #[serde(default)]
    pub static_root: Option<String>,
    #[serde(default)]
    pub media_root: Option<String>,
    #[serde(default)]
    pub databases: Vec<Database>,
    #[serde(default)]
    pub debug: bool,
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    #[serde(default)]
    pub secure_ssl_redirect: bool,
    #[serde(default)]
    pub csrf_trusted_origins: Vec<String>,
    #[serde(default)]
    pub problems: Vec<Problem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Database {
    pub alias: String,
    pub engine: String,
    /// SQLite's file (absolute), when the engine is SQLite.
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub code: String,
    /// `error` blocks apply before any hook runs; `warning` is shown.
    pub severity: String,
    /// The setting's value as Django sees it.
    #[serde(default)]
    pub value: Option<String>,
    /// What the manifest wants there.
    #[serde(default)]
    pub want: Option<String>,
}

impl Problem {
    pub fn is_error(&self) -> bool {
        self.severity == "error"
    }
}

/// Run by the venv's Python as the daemon user, in `src`, with the daemon's `python-path`:
/// loads the env file as the `.wsgi` does, imports the settings, prints `settings={json}`.
pub const PROGRAM: &str = include_str!("settings_check.py");
/// Where the last report of the app whose source is `src` is kept, with the key it holds for.
pub fn cache_path(src: &str) -> String {
    let id = crate::source::sha256_hex(src.as_bytes());
    format!("{CACHE_DIR}/{}", &id[..16])
}

/// wsgictl's private cache of settings reports (root's, 0700 like its parent; `facts::settings`
/// says what a report is kept under).
pub const CACHE_DIR: &str = "/var/lib/wsgictl/settings";

/// The `settings=…` line's value: `None` for `skip`/`absent` (nothing to check yet).
pub fn parse(value: &str) -> Result<Option<Report>, String> {
    match value.trim() {
        "skip" | "absent" | "" => Ok(None),
        json => serde_json::from_str(json)
            .map(Some)
            .map_err(|e| format!("unreadable settings report ({e}): {json}")),
    }
}

/// What to say of `p`, for app `app` of the manifest `e` came from: the message, then the fix.
pub fn explain(e: &Expect, p: &Problem) -> (String, String) {
    let value = p.value.as_deref().unwrap_or("not set");
    let want = p.want.as_deref().unwrap_or("");
    let overlay = if e.overlay {
        String::new()
    } else {
        " or turn on `overlay #true` in the app's `django` block (wsgictl then sets it without touching the project)".to_string()
    };
    match p.code.as_str() {
        "static-root" => (
            format!(
                "Django's STATIC_ROOT is {value}, but the manifest serves static files from {want}; collectstatic would write where Apache does not serve{}",
                if value.starts_with(&format!("{}/", e.code)) {
                    " (inside the synced source, which the daemon user cannot write)"
                } else {
                    ""
                }
            ),
            format!(
                "change `static \"...\" \"{want}\"` in the manifest to {value},{overlay}"
            ),
        ),
        "media-root" => (
            format!(
                "Django's MEDIA_ROOT is {value}, but the manifest serves media from {want}; uploads would not be served"
            ),
            format!("change `media \"...\" \"{want}\"` in the manifest to {value},{overlay}"),
        ),
        "sqlite-in-source" => (
            format!(
                "the SQLite database {value} is inside the deployed code {}, which every release replaces and the daemon user cannot write",
                e.code
            ),
            data_fix(e),
        ),
        "sqlite-served" => (
            format!(
                "the SQLite database {value} is in a directory Apache serves: anyone could download it"
            ),
            data_fix(e),
        ),
        "ssl-redirect-without-tls" => (
            "SECURE_SSL_REDIRECT is on, so Django answers every request with a 301 to https://, which this app does not serve".to_string(),
            "add `tls { acme { email \"...\" } }` (or `certificate` and `key`) to the app".into(),
        ),
        "proxy-header" => (
            format!(
                "SECURE_PROXY_SSL_HEADER is {value}; Apache terminates TLS itself and sets only X-Forwarded-Proto, so Django would see plain http: CSRF refuses logins (and SECURE_SSL_REDIRECT loops)"
            ),
            "set SECURE_PROXY_SSL_HEADER = (\"HTTP_X_FORWARDED_PROTO\", \"https\") or remove it; mod_wsgi already tells Django the request is https".into(),
        ),
        "csrf-origin-scheme" => (
            format!(
                "CSRF_TRUSTED_ORIGINS has entries without a scheme ({value}); Django 4 and later refuse them"
            ),
            format!(
                "write them as https://NAME, or turn on `overlay #true`{}",
                if e.overlay { " (it adds the https origins of the server names)" } else { "" }
            ),
        ),
        other => (
            format!("settings check `{other}` failed ({value})"),
            String::new(),
        ),
    }
}

fn data_fix(e: &Expect) -> String {
    match (&e.data, e.overlay) {
        (Some(d), true) => format!("the overlay moves it into {d}; check that `data` is set"),
        (Some(d), false) => format!(
            "point the database at {d} (the app's `data` directory), or turn on `overlay #true`, which moves SQLite there"
        ),
        (None, _) => "add `data \"/srv/APP/data\"` to the app (a private directory the daemon writes) and put the database there, or turn on `overlay #true` with `data`, which moves SQLite there".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect() -> Expect {
        Expect {
            app: "shop".into(),
            settings: "proj.settings.production".into(),
            env_file: "/srv/shop/app.env".into(),
            src: "/srv/shop/src".into(),
            code: "/srv/shop/releases".into(),
            static_dir: "/srv/shop/static".into(),
            media_dir: Some("/srv/shop/media".into()),
            data: None,
            served: vec!["/srv/shop/static".into(), "/srv/shop/media".into()],
            tls: true,
            collectstatic: true,
            overlay: false,
        }
    }

    #[test]
    fn static_root_inside_the_source_gives_both_values_and_both_fixes() {
        let p = Problem {
            code: "static-root".into(),
            severity: "error".into(),
            value: Some("/srv/shop/releases/20261201T090102-3f2a9c/src/static".into()),
            want: Some("/srv/shop/static".into()),
        };
        let (msg, fix) = explain(&expect(), &p);
        assert!(
            msg.contains("/srv/shop/releases/20261201T090102-3f2a9c/src/static")
                && msg.contains("/srv/shop/static"),
            "{msg}"
        );
        assert!(msg.contains("inside the synced source"), "{msg}");
        assert!(
            fix.contains("static \"...\"") && fix.contains("overlay #true"),
            "{fix}"
        );
    }

    #[test]
    fn reports_parse_and_skips_are_none() {
        assert_eq!(parse("skip").unwrap(), None);
        assert_eq!(parse("absent").unwrap(), None);
        let r = parse(r#"{"django": "5.1", "static_root": "/x", "problems": [{"code": "static-root", "severity": "error", "value": "/x", "want": "/y"}]}"#).unwrap().unwrap();
        assert!(r.problems[0].is_error());
        assert!(parse("{nope").is_err());
    }

    #[test]
    fn sqlite_fix_names_data() {
        let p = Problem {
            code: "sqlite-in-source".into(),
            severity: "error".into(),
            value: Some("/srv/shop/src/db.sqlite3".into()),
            want: None,
        };
        let (_, fix) = explain(&expect(), &p);
        assert!(fix.contains("data \"/srv/APP/data\""), "{fix}");
    }
}
