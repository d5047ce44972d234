//! The settings check's Python program (`src/settings_check.py`), run by the real `python3`
//! against a stand-in `django` package whose settings each case sets: which problems it
//! reports for which settings, and that it never reads a credential.

use std::process::Command;
use wsgictl::settings_check::{Expect, PROGRAM, parse};

/// Run the program with `settings` as the body of the stand-in `django.conf.settings`.
fn report(settings: &str, tls: bool) -> wsgictl::settings_check::Report {
    let dir = tempfile::tempdir().unwrap();
    let django = dir.path().join("django");
    std::fs::create_dir_all(&django).unwrap();
    std::fs::write(
        django.join("__init__.py"),
        "VERSION = (5, 2, 0)\ndef get_version():\n    return '5.2'\n",
    )
    .unwrap();
    std::fs::write(
        django.join("conf.py"),
        format!(
            "class _S:\n    INSTALLED_APPS = []\n    WSGI_APPLICATION = 'proj.wsgi.application'\n    STATIC_ROOT = '/srv/shop/static'\n    MEDIA_ROOT = '/srv/shop/media'\n    DEBUG = False\n    ALLOWED_HOSTS = ['shop.example.com']\n    SECURE_SSL_REDIRECT = False\n    SECURE_PROXY_SSL_HEADER = None\n    CSRF_TRUSTED_ORIGINS = []\n    MIDDLEWARE = []\n    DATABASES = {{}}\n{}\nsettings = _S()\n",
            settings
                .lines()
                .map(|l| format!("    {l}\n"))
                .collect::<String>()
        ),
    )
    .unwrap();
    let e = Expect {
        app: "shop".into(),
        settings: "proj.settings".into(),
        env_file: "/nonexistent/app.env".into(),
        src: "/srv/shop/src".into(),
        code: "/srv/shop/src".into(),
        static_dir: "/srv/shop/static".into(),
        media_dir: Some("/srv/shop/media".into()),
        data: Some("/srv/shop/data".into()),
        served: vec![
            "/srv/shop/static".into(),
            "/srv/shop/htdocs".into(),
            "/srv/shop/media".into(),
        ],
        tls,
        collectstatic: true,
        overlay: false,
    };
    let out = Command::new("python3")
        .arg("-c")
        .arg(PROGRAM)
        .arg(serde_json::to_string(&e).unwrap())
        .env("PYTHONPATH", dir.path())
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("settings="))
        .unwrap_or_else(|| panic!("no report: {text}{}", String::from_utf8_lossy(&out.stderr)));
    parse(line).unwrap().unwrap()
}

fn codes(r: &wsgictl::settings_check::Report) -> Vec<(String, String)> {
    r.problems
        .iter()
        .map(|p| (p.code.clone(), p.severity.clone()))
        .collect()
}

#[test]
fn settings_that_agree_with_the_manifest_have_no_problem() {
    let r = report("", false);
    assert!(r.problems.is_empty(), "{r:?}");
    assert_eq!(r.wsgi_application.as_deref(), Some("proj.wsgi.application"));
}

#[test]
fn each_contradiction_has_its_code_and_severity() {
    let r = report(
        "STATIC_ROOT = '/srv/shop/src/static'\nMEDIA_ROOT = '/srv/shop/src/media'\nDATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': '/srv/shop/src/db.sqlite3'}, 'logs': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': '/srv/shop/media/logs.db'}, 'pg': {'ENGINE': 'django.db.backends.postgresql', 'NAME': 'shop', 'PASSWORD': 'hunter2-never-read'}}",
        false,
    );
    assert_eq!(
        codes(&r),
        [
            ("sqlite-in-source".to_string(), "error".to_string()),
            ("sqlite-served".into(), "error".into()),
            ("static-root".into(), "error".into()),
            ("media-root".into(), "error".into()),
        ]
    );
    let json = serde_json::to_string(&r).unwrap();
    assert!(!json.contains("hunter2"), "a credential was read: {json}");
    assert!(
        r.databases
            .iter()
            .any(|d| d.alias == "pg" && d.name.is_none())
    );
}

#[test]
fn https_detection_problems_depend_on_tls_and_the_middleware() {
    let redirect = "MIDDLEWARE = ['django.middleware.security.SecurityMiddleware']\nSECURE_SSL_REDIRECT = True";
    assert_eq!(
        codes(&report(redirect, false)),
        [("ssl-redirect-without-tls".to_string(), "error".to_string())]
    );
    // Without SecurityMiddleware the setting does nothing.
    assert!(
        report("SECURE_SSL_REDIRECT = True", false)
            .problems
            .is_empty()
    );
    // A front proxy's header: not this check's business without tls.
    assert!(
        report(
            &format!("{redirect}\nSECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_PROTO', 'https')"),
            false
        )
        .problems
        .is_empty()
    );
    // With tls, a header Apache does not set: a loop with the redirect, else a warning.
    let wrong = "SECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_SSL', 'on')";
    assert_eq!(
        codes(&report(&format!("{redirect}\n{wrong}"), true)),
        [("proxy-header".to_string(), "error".to_string())]
    );
    assert_eq!(
        codes(&report(wrong, true)),
        [("proxy-header".to_string(), "warning".to_string())]
    );
    assert!(
        report(
            "SECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_PROTO', 'https')",
            true
        )
        .problems
        .is_empty()
    );
    assert_eq!(
        codes(&report("CSRF_TRUSTED_ORIGINS = ['shop.example.com']", true)),
        [("csrf-origin-scheme".to_string(), "warning".to_string())]
    );
}

#[test]
fn settings_that_do_not_load_report_the_exception_not_a_traceback() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("django")).unwrap();
    std::fs::write(dir.path().join("django/__init__.py"), "").unwrap();
    std::fs::write(
        dir.path().join("django/conf.py"),
        "raise RuntimeError('cannot connect to the database')\n",
    )
    .unwrap();
    let out = Command::new("python3")
        .arg("-c")
        .arg(PROGRAM)
        .arg(r#"{"app":"a","settings":"x","env_file":"/none","src":"/s","static_dir":"/t","media_dir":null,"data":null,"served":[],"tls":false,"collectstatic":false,"overlay":false}"#)
        .env("PYTHONPATH", dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.trim(),
        r#"settings={"error": "RuntimeError: cannot connect to the database"}"#
    );
}
