//! HTTPS on the lab: certificates already on the host (a throwaway CA made here), and ACME
//! against a real ACME server (Debian's pebble) with the host's certbot, deploying an
//! unmodified Wagtail project (`wagtail start`, in examples/production) with `overlay`,
//! `data`, `migrate`, `collectstatic` and `media`.

use crate::apply::{Site, all};
use crate::support::pebble::Pebble;
use crate::support::tls::Ca;
use crate::support::*;
use std::path::Path;
use std::process::Command;

/// A request from this machine: (status, headers and body). `https` requests go to `name`
/// through `--resolve` (SNI and Host as a browser sends them), verified against `ca`.
fn request(url: &str, name: &str, port: u16, ca: Option<&Path>) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-i", "--max-time", "30", "-w", "\n%{http_code}"])
        .arg("--resolve")
        .arg(format!("{name}:{port}:127.0.0.1"));
    if let Some(ca) = ca {
        cmd.arg("--cacert").arg(ca);
    }
    let out = cmd.arg(url).output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    let code = code.trim().parse().unwrap_or(0);
    if code == 0 {
        return (0, String::from_utf8_lossy(&out.stderr).to_string());
    }
    (code, body.to_string())
}

/// Replace `from` with `to` in the site's manifest.
fn edit(site: &Site, from: &str, to: &str) {
    crate::apply::edit(&site.manifest, from, to);
}

#[test]
fn certificates_on_the_host_are_served_checked_and_refused_when_expired_or_not_theirs() {
    let http_port = free_port();
    let site = Site::new(
        1,
        &format!(
            "    http-port {http_port}\n    tls {{\n        certificate \"CERT\"\n        key \"KEY\"\n    }}\n"
        ),
    );
    let tls = site.base.join("tls");
    let ca = Ca::new(&tls);
    let (cert, key) = ca.issue_valid("app1", &["app1.example.com"], 90);
    edit(&site, "\"CERT\"", &format!("{cert:?}"));
    edit(&site, "\"KEY\"", &format!("{key:?}"));

    // The plan shows the certificate's subject, SAN, issuer and expiry.
    let o = site.wsgictl("plan", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    let plan = stdout(&o);
    let line = plan
        .lines()
        .find(|l| l.contains("certificate:app1"))
        .unwrap_or_else(|| panic!("no certificate line:\n{plan}"));
    for want in [
        "CN=app1.example.com",
        "SAN app1.example.com",
        "wsgictl test CA",
        "valid until 20",
    ] {
        assert!(line.contains(want), "{want}: {line}");
    }
    assert!(plan.contains("+ tls-vhost:app1"), "{plan}");

    site.applied();
    let url = format!("https://app1.example.com:{}/", site.port);
    let (code, body) = request(&url, "app1.example.com", site.port, Some(&ca.cert));
    assert_eq!(code, 200, "{body}\n{}", site.apache.error_log());
    assert!(body.contains("hello 1"), "{body}");
    // Mozilla intermediate: TLS 1.1 is refused.
    let old = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "--tls-max", "1.1", "--resolve"])
        .arg(format!("app1.example.com:{}:127.0.0.1", site.port))
        .arg("--cacert")
        .arg(&ca.cert)
        .arg(&url)
        .status()
        .unwrap();
    assert!(!old.success(), "TLS 1.1 was accepted");
    // Plain HTTP answers 301 to the https URL, port included.
    let (code, head) = request(
        &format!("http://app1.example.com:{http_port}/some/page?x=1"),
        "app1.example.com",
        http_port,
        None,
    );
    assert_eq!(code, 301, "{head}");
    assert!(
        head.contains(&format!(
            "Location: https://app1.example.com:{}/some/page?x=1",
            site.port
        )),
        "{head}"
    );
    let o = site.wsgictl("plan", &[]);
    assert!(
        stdout(&o).contains("0 to create, 0 to change"),
        "{}",
        all(&o)
    );
    // doctor requests the app over https, by name.
    let o = site.wsgictl("doctor", &[]);
    let out = all(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "GET https://app1.example.com:{}/ → 200",
            site.port
        )) && out.contains("All 1 app healthy."),
        "{out}"
    );

    // An expired certificate at the same path: a preflight error, and apply refuses.
    // Put (certificate, key) at the manifest's paths and plan: (exit code, output).
    let plan_with = |(c, k): &(std::path::PathBuf, std::path::PathBuf)| {
        std::fs::copy(c, &cert).unwrap();
        std::fs::copy(k, &key).unwrap();
        let o = site.wsgictl("plan", &[]);
        (o.status.code(), all(&o))
    };
    let expired = ca.issue(
        "expired",
        &["app1.example.com"],
        "20200101000000Z",
        "20200201000000Z",
    );
    let (code, out) = plan_with(&expired);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("tls-certificate-expired") && out.contains("expired on 2020-02-01"),
        "{out}"
    );
    let o = site.apply();
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    assert!(all(&o).contains("tls-certificate-expired"), "{}", all(&o));

    // A valid certificate with another certificate's key: a preflight error.
    let fresh = ca.issue_valid("fresh", &["app1.example.com"], 90);
    let other = ca.issue_valid("other", &["app1.example.com"], 90);
    let (code, out) = plan_with(&(fresh.0.clone(), other.1));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("tls-key-mismatch"), "{out}");

    // One that expires within 14 days: a warning, and apply goes ahead.
    let (code, out) = plan_with(&ca.issue_valid("soon", &["app1.example.com"], 7));
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("tls-certificate-expired") && out.contains("within 14 days"),
        "{out}"
    );

    // One that does not cover the server name: a preflight error naming it.
    let (code, out) = plan_with(&ca.issue_valid("wrong", &["other.example.com"], 90));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("tls-name-mismatch") && out.contains("does not cover app1.example.com"),
        "{out}"
    );
    // What is served did not change through any of this.
    plan_with(&fresh);
    let (code, _) = request(&url, "app1.example.com", site.port, Some(&ca.cert));
    assert_eq!(code, 200);
}

/// The Wagtail project, copied unmodified below the site's base; an app block for it.
fn wagtail_site(overlay: bool, extra: &str) -> (Site, String) {
    let site = Site::new(0, "");
    let project = site.base.join("mysite");
    let from = root().join("examples/production/mysite");
    let o = Command::new("cp")
        .arg("-r")
        .arg(&from)
        .arg(&project)
        .output()
        .unwrap();
    assert!(o.status.success());
    let r = site.base.join("srv/shop");
    let name = format!("shop-{}.test", unique());
    let block = format!(
        "app \"shop\" {{\n    host \"lab\"\n    server-name \"{name}\"\n    alias \"www.{name}\"\n    port {port}\n    root \"{r}\"\n    user \"shop\"\n    \
         data \"{r}/data\"\n    source \"{src}\" {{\n        exclude \"*.sqlite3\"\n    }}\n    venv {{\n        packages \"wagtail>=8.0,<8.1\"\n    }}\n    \
         django {{\n        settings \"mysite.settings.production\"\n        static \"/static/\" \"{r}/static\"\n        media \"/media/\" \"{r}/media\"\n        \
         collectstatic #true\n        migrate #true\n        overlay {overlay}\n    }}\n    secret \"DJANGO_SECRET_KEY\" from-env=\"LAB_SECRET\"\n    health \"/\"\n{extra}}}\n",
        port = site.port,
        r = r.display(),
        src = project.display(),
        overlay = if overlay { "#true" } else { "#false" },
    );
    let text = std::fs::read_to_string(&site.manifest).unwrap();
    std::fs::write(&site.manifest, format!("{text}{block}")).unwrap();
    (site, name)
}

#[test]
fn an_unmodified_wagtail_project_is_served_over_acme_https_with_private_data() {
    let http_port = free_port();
    let pebble = Pebble::start(http_port);
    let (site, name) = wagtail_site(
        true,
        &format!(
            "    http-port {http_port}\n    tls {{\n        acme {{\n            email \"ops@example.com\"\n            directory \"{}\"\n            trust \"{}\"\n        }}\n        hsts 600\n    }}\n",
            pebble.directory,
            pebble.trust.display()
        ),
    );
    let r = site.base.join("srv/shop");

    // The plan shows each step of the first deploy, in order.
    let o = site.wsgictl("plan", &[]);
    let plan = stdout(&o);
    let at = |id: &str| {
        plan.find(id)
            .unwrap_or_else(|| panic!("{id} is not in the plan:\n{plan}"))
    };
    assert!(at("+ vhost:shop") < at("+ certificate:shop"), "{plan}");
    assert!(at("+ certificate:shop") < at("+ tls-vhost:shop"), "{plan}");
    assert!(at("settings:shop") < at("collectstatic:shop"), "{plan}");
    assert!(plan.contains("Apache is reloaded first"), "{plan}");
    // Nothing on the host yet: the .wsgi will read WSGI_APPLICATION when the app starts.
    assert!(
        plan.contains(
            "application: WSGI_APPLICATION of wsgictl_settings, read when the app starts"
        ),
        "{plan}"
    );

    let o = site.apply();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}\n{}\n{}",
        all(&o),
        site.apache.error_log(),
        pebble.log()
    );
    let out = all(&o);
    let steps: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("certificate:shop") || l.contains("tls-vhost:shop"))
        .collect();
    assert!(!steps.is_empty(), "{out}");

    // https answers 200 with a certificate that verifies against pebble's root.
    let roots = pebble.root(&site.base.join("pebble-root.pem"));
    let base = format!("https://{name}:{}", site.port);
    let (code, page) = request(&format!("{base}/"), &name, site.port, Some(&roots));
    assert_eq!(code, 200, "{page}\n{}", site.apache.error_log());
    assert!(
        page.contains("Strict-Transport-Security: max-age=600"),
        "{page}"
    );
    // The alias is covered too.
    let www = format!("www.{name}");
    let (code, _) = request(
        &format!("https://{www}:{}/", site.port),
        &www,
        site.port,
        Some(&roots),
    );
    assert_eq!(code, 200);
    // http answers 301 to https.
    let (code, head) = request(
        &format!("http://{name}:{http_port}/"),
        &name,
        http_port,
        None,
    );
    assert_eq!(code, 301, "{head}");
    assert!(head.contains(&format!("Location: {base}/")), "{head}");
    // The admin login and one of its stylesheets (collectstatic ran into the served dir).
    let (code, login) = request(
        &format!("{base}/admin/login/"),
        &name,
        site.port,
        Some(&roots),
    );
    assert_eq!(code, 200, "{login}");
    let css = login
        .split('"')
        .find(|s| s.starts_with("/static/") && s.contains(".css"))
        .unwrap_or_else(|| panic!("no stylesheet in the login page:\n{login}"))
        .to_string();
    let (code, _) = request(&format!("{base}{css}"), &name, site.port, Some(&roots));
    assert_eq!(code, 200, "{css}");
    // The database is in `data` (migrate made it there), owned by the daemon, and not served.
    let db = r.join("data/db.sqlite3");
    assert!(
        db.is_file(),
        "no database in data: {:?}",
        std::fs::read_dir(r.join("data")).map(|d| d.count())
    );
    assert!(!r.join("current/src/db.sqlite3").exists());
    let data_mode = std::fs::metadata(r.join("data")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&data_mode.permissions()) & 0o777,
        0o750
    );
    for path in [
        "/db.sqlite3",
        "/data/db.sqlite3",
        "/media/../data/db.sqlite3",
        "/static/../data/db.sqlite3",
    ] {
        let (code, body) = request(&format!("{base}{path}"), &name, site.port, Some(&roots));
        assert_ne!(
            code,
            200,
            "{path} served the database: {}",
            &body[..body.len().min(200)]
        );
        assert!(!body.contains("SQLite format 3"), "{path}");
    }
    // Renewal is certbot's: its lineage holds the deploy hook that reloads this instance.
    let env = wsgictl::render::HostEnv {
        layout: wsgictl::manifest::Layout::Debian,
        confdir: site.apache.confdir().display().to_string(),
        apache_user: String::new(),
        apache_group: String::new(),
        listening: Default::default(),
        rootless: None,
    };
    let lineage = wsgictl::render::lineage(&env, "shop");
    let _cleanup = crate::support::pebble::Lineage(lineage.clone());
    let renewal =
        std::fs::read_to_string(format!("/etc/letsencrypt/renewal/{lineage}.conf")).unwrap();
    let hook = env.deploy_hook_path();
    assert!(renewal.contains(&hook), "{renewal}");
    let script = std::fs::read_to_string(&hook).unwrap();
    assert!(
        script.contains(&format!(
            "APACHE_CONFDIR={}",
            site.apache.confdir().display()
        )),
        "{script}"
    );

    // A second apply changes nothing: no certificate requested, no reload.
    let before = site.apache.pid();
    let apache_log = site.apache.error_log().len();
    let log_before = std::fs::read_to_string("/var/log/letsencrypt/letsencrypt.log")
        .unwrap_or_default()
        .len();
    let o = site.apply();
    assert_eq!(o.status.code(), Some(0), "{}", all(&o));
    let out = all(&o);
    assert!(
        out.contains("0 to create, 0 to change, 0 to delete"),
        "{out}"
    );
    assert!(
        !out.contains("request a certificate") && !out.contains("then: configtest"),
        "{out}"
    );
    let o = site.wsgictl("plan", &[]);
    assert!(stdout(&o).contains("valid until"), "{}", all(&o));
    assert_eq!(site.apache.pid(), before);
    let new_log = &site.apache.error_log()[apache_log..];
    assert!(!new_log.contains("Graceful restart"), "{new_log}");
    let log_after = std::fs::read_to_string("/var/log/letsencrypt/letsencrypt.log")
        .unwrap_or_default()
        .len();
    assert_eq!(log_before, log_after, "certbot ran again");

    // certbot's renewal (forced here) runs the deploy hook: the new certificate is served.
    let serial = |_: ()| {
        let o = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "openssl s_client -connect 127.0.0.1:{} -servername {name} </dev/null 2>/dev/null | openssl x509 -noout -serial",
                site.port
            ))
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let first = serial(());
    let o = Command::new("certbot")
        // The timer's runs sleep a random while first; not this one.
        .args([
            "renew",
            "--force-renewal",
            "--no-random-sleep-on-renew",
            "--non-interactive",
            "--cert-name",
            &lineage,
        ])
        .env("REQUESTS_CA_BUNDLE", &pebble.trust)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while serial(()) == first {
        assert!(
            std::time::Instant::now() < deadline,
            "the renewed certificate is not served"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn without_overlay_apply_stops_before_collectstatic_with_both_values_and_both_fixes() {
    let (site, name) = wagtail_site(false, "");
    let r = site.base.join("srv/shop");
    let o = site.apply();
    let out = all(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let src = r.join("current/src");
    // The settings were loaded from the new release, not yet switched to.
    let release = format!("{}/releases/", r.display());
    for want in [
        "Django's settings contradict the manifest".to_string(),
        format!("STATIC_ROOT is {release}"),
        "/src/static,".to_string(),
        format!("{}/static", r.display()),
        "change `static \"...\"".to_string(),
        "overlay #true".to_string(),
        format!("MEDIA_ROOT is {release}"),
        "/src/media,".to_string(),
        "SQLite database".to_string(),
        "`data`".to_string(),
    ] {
        assert!(out.contains(&want), "{want}:\n{out}");
    }
    assert!(
        !out.contains("Traceback") && !out.contains("PermissionError"),
        "{out}"
    );
    // Stopped before any hook: nothing collected, no database, nothing the site reads.
    // Nothing was switched to: no `current`, no static link.
    assert!(!r.join("current").exists() && !r.join("static").exists());
    assert!(!src.join("db.sqlite3").exists());
    let vhost = site
        .apache
        .confdir()
        .join("sites-enabled/wsgictl-shop.conf");
    assert!(!vhost.exists(), "the vhost was enabled");
    let (code, _) = request(
        &format!("http://{name}:{}/", site.port),
        &name,
        site.port,
        None,
    );
    assert_ne!(code, 200);
    // The release it stopped in was never switched to: the next plan makes a new one and
    // removes that, and the next apply stops the same way.
    let o = site.wsgictl("plan", &[]);
    let out = all(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("+ release:shop")
            && out.contains("(left unfinished by an apply that stopped)"),
        "{out}"
    );
    let o = site.apply();
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    assert!(
        all(&o).contains("Django's settings contradict the manifest"),
        "{}",
        all(&o)
    );
    assert!(!r.join("current").exists());
}

#[test]
fn https_settings_that_would_break_the_site_are_named_before_any_hook_runs() {
    let site = Site::new(1, "");
    let project = crate::promises::with_project(
        &site,
        "MIDDLEWARE = [\"django.middleware.security.SecurityMiddleware\"] + MIDDLEWARE\nSECURE_SSL_REDIRECT = True",
    );
    // Production settings that redirect to https, on an app without tls.
    let o = site.apply();
    let out = all(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("SECURE_SSL_REDIRECT is on") && out.contains("add `tls {"),
        "{out}"
    );
    assert!(
        !site
            .apache
            .confdir()
            .join("sites-enabled/wsgictl-app1.conf")
            .exists()
    );

    // With tls, and a proxy header that Apache never sets: Django would never see https, and
    // the redirect would loop.
    let http_port = free_port();
    let ca = Ca::new(&site.base.join("tls"));
    let (cert, key) = ca.issue_valid("app1", &["app1.example.com"], 90);
    edit(
        &site,
        "    health \"/\"\n",
        &format!(
            "    health \"/\"\n    http-port {http_port}\n    tls {{\n        certificate {cert:?}\n        key {key:?}\n    }}\n"
        ),
    );
    let settings = project.join("blog/settings.py");
    let text = std::fs::read_to_string(&settings).unwrap();
    std::fs::write(
        &settings,
        format!("{text}SECURE_PROXY_SSL_HEADER = (\"HTTP_X_FORWARDED_SSL\", \"on\")\n"),
    )
    .unwrap();
    let o = site.apply();
    let out = all(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("SECURE_PROXY_SSL_HEADER is HTTP_X_FORWARDED_SSL=on")
            && out.contains("(\"HTTP_X_FORWARDED_PROTO\", \"https\")"),
        "{out}"
    );

    // The header Apache's TLS vhost does set: served over https, no loop, Django sees https.
    std::fs::write(
        &settings,
        format!("{text}SECURE_PROXY_SSL_HEADER = (\"HTTP_X_FORWARDED_PROTO\", \"https\")\n"),
    )
    .unwrap();
    site.applied();
    let (code, body) = request(
        &format!("https://app1.example.com:{}/", site.port),
        "app1.example.com",
        site.port,
        Some(&ca.cert),
    );
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("scheme: https"), "{body}");
    // Each check saw the settings as changed above (the report is kept under a key over the
    // source, venv and env file); the kept report is root's alone and holds no error.
    let src = site.root(1).join("current/src");
    let kept = wsgictl::settings_check::cache_path(src.to_str().unwrap());
    let meta = std::fs::metadata(&kept).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
    let text = std::fs::read_to_string(&kept).unwrap();
    assert!(
        text.contains("\"problems\": []") && !text.contains(KNOWN_SECRET),
        "{text}"
    );
}
