//! Every rendered configuration passes Apache's own syntax check, with mod_wsgi loaded, in a
//! real (throwaway) Debian Apache instance; and the check does catch a broken one.

use crate::support::apache::ApacheInstance;
use crate::support::*;
use wsgictl::manifest;
use wsgictl::render::{HostEnv, render_host};
use wsgictl::templates::Templates;

fn lookup(_: &str) -> Option<String> {
    Some(KNOWN_SECRET.to_string())
}

/// Render every host of `manifest_path` into a fresh instance each and configtest it.
fn configtest(
    manifest_path: &std::path::Path,
    templates_dir: Option<&std::path::Path>,
) -> Vec<(String, std::process::Output)> {
    let m = manifest::load(manifest_path).unwrap();
    let templates = Templates::load(templates_dir.or(m.templates.as_deref())).unwrap();
    let mut results = Vec::new();
    for host in &m.hosts {
        let apache = ApacheInstance::new();
        ApacheInstance::ensure_accounts(&m, &host.name);
        let mut env = HostEnv::assumed(host);
        env.layout = manifest::Layout::Debian;
        env.confdir = apache.confdir().display().to_string();
        let mut state = render_host(&m, host, &templates, &env, None, &lookup).unwrap();
        // A TLS vhost's certificate (certbot's, or the manifest's files) is not on this
        // machine: a throwaway one stands in for it, at paths of this test.
        let tls = tempfile::tempdir().unwrap();
        for c in state.certificates.clone() {
            let ca = crate::support::tls::Ca::new(&tls.path().join(&c.app));
            let (cert, key) = ca.issue_valid("site", &[c.names[0].as_str()], 30);
            for f in state.files.iter_mut().filter(|f| {
                f.role == wsgictl::desired::FileRole::TlsVhost && f.app.as_deref() == Some(&c.app)
            }) {
                if std::path::Path::new(&c.certificate).exists() {
                    continue;
                }
                f.content = wsgictl::desired::Content::plain(
                    f.content
                        .shown()
                        .replace(&c.certificate, cert.to_str().unwrap())
                        .replace(&c.key, key.to_str().unwrap()),
                );
            }
        }
        let written = apache.install(&state);
        let vhosts: usize = m
            .apps_on(&host.name)
            .map(|a| if a.tls.is_some() { 2 } else { 1 })
            .sum();
        assert_eq!(
            written.len(),
            vhosts + 1,
            "{}: one vhost per app (two with tls) and the host-wide file",
            host.name.value
        );
        let test = apache.ctl(&["-t"]);
        if test.status.success() {
            let modules = apache.ctl(&["-M"]);
            assert!(
                String::from_utf8_lossy(&modules.stdout).contains("wsgi_module"),
                "mod_wsgi is not loaded in the instance: {}",
                String::from_utf8_lossy(&modules.stderr)
            );
        }
        results.push((host.name.value.clone(), test));
    }
    results
}

#[test]
fn every_shipped_manifest_passes_apache_configtest() {
    for f in [
        "site.kdl.example",
        "examples/single-app/site.kdl",
        "examples/two-apps/site.kdl",
        "examples/production/site.kdl",
        "tests/fixtures/manifests/ok/two-apps-one-host.kdl",
        "tests/fixtures/manifests/ok/tls-acme.kdl",
    ] {
        for (host, out) in configtest(&root().join(f), None) {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success() && err.contains("Syntax OK"),
                "{f} on {host}: apache2ctl -t failed:\n{err}"
            );
        }
    }
}

#[test]
fn configtest_catches_a_broken_vhost() {
    // Negative control: an override that gives every app the same daemon name must fail,
    // with Apache's own message.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("apache")).unwrap();
    let builtin = include_str!("../modules/apache/vhost.conf.tera");
    let broken = builtin
        .replace(
            "WSGIDaemonProcess {{ app.name }}",
            "WSGIDaemonProcess shared",
        )
        .replace("WSGIProcessGroup {{ app.name }}", "WSGIProcessGroup shared")
        .replace("process-group={{ app.name }}", "process-group=shared");
    assert_ne!(broken, builtin);
    std::fs::write(dir.path().join("apache/vhost.conf"), broken).unwrap();
    let results = configtest(&root().join("examples/two-apps/site.kdl"), Some(dir.path()));
    let (_, out) = &results[0];
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a duplicate daemon name passed configtest:\n{err}"
    );
    assert!(
        err.contains("Name duplicates previous WSGI daemon definition"),
        "{err}"
    );
}

#[test]
fn a_tls_app_passes_configtest_with_mod_ssl_and_a_real_certificate() {
    // The TLS vhost (Mozilla's intermediate settings, HSTS, X-Forwarded-Proto) and the
    // redirect vhost, with mod_ssl, mod_rewrite and mod_headers enabled as apply enables them.
    let dir = tempfile::tempdir().unwrap();
    let ca = crate::support::tls::Ca::new(dir.path());
    let (cert, key) = ca.issue_valid("shop", &["shop.example.com"], 30);
    let text = std::fs::read_to_string(fixture("manifests/ok/tls-files.kdl"))
        .unwrap()
        .replace("/etc/ssl/certs/shop.pem", cert.to_str().unwrap())
        .replace("/etc/ssl/private/shop.key", key.to_str().unwrap())
        .replace(
            "\"../project/",
            &format!("\"{}/", fixture("manifests/project").display()),
        )
        .replace("    tls {\n", "    tls {\n        hsts 600\n");
    let manifest = dir.path().join("site.kdl");
    std::fs::write(&manifest, text).unwrap();
    let results = configtest(&manifest, None);
    let (host, out) = &results[0];
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.contains("Syntax OK"),
        "{host}: apache2ctl -t failed:\n{err}"
    );

    // Negative control: the same vhost without mod_ssl is refused by Apache itself.
    let m = manifest::load(&manifest).unwrap();
    let host = &m.hosts[0];
    let apache = ApacheInstance::new();
    let mut env = HostEnv::assumed(host);
    env.confdir = apache.confdir().display().to_string();
    let mut state = render_host(
        &m,
        host,
        &Templates::load(None).unwrap(),
        &env,
        None,
        &lookup,
    )
    .unwrap();
    state.links.retain(|l| !l.name.starts_with("ssl"));
    apache.install(&state);
    let out = apache.ctl(&["-t"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Invalid command 'SSLEngine'"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
