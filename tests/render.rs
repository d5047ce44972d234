//! `wsgictl render`: every file with path, owner and mode; secrets only ever as `<redacted>`.

use crate::support::*;
use std::os::unix::fs::PermissionsExt as _;

const SECRET_ENV: (&str, &str) = ("BLOG_SECRET_KEY", KNOWN_SECRET);

#[test]
fn example_renders_every_file_with_path_owner_and_mode() {
    let o = wsgictl(&["render", "-f", "site.kdl.example"], &[SECRET_ENV]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    for header in [
        "--- web1:/srv/blog/current/app.wsgi (root:blog 0644, from built-in wsgi/app.wsgi)",
        "--- web1:/srv/blog/current/app.env (root:blog 0640, from built-in wsgi/app.env)",
        "--- web1:/etc/apache2/sites-available/wsgictl-blog.conf (root:root 0644, from built-in apache/redirect.conf)",
        "--- web1:/etc/apache2/sites-available/wsgictl-blog.tls.conf (root:root 0644, from built-in apache/vhost.conf)",
        "--- web1:/var/lib/wsgictl/deploy-hook_etc_apache2.sh (root:root 0700, from built-in certbot/deploy-hook.sh)",
        "--- web1:/etc/apache2/conf-available/wsgictl.conf (root:root 0644, from built-in apache/wsgictl.conf)",
    ] {
        assert!(out.contains(header), "missing `{header}` in\n{out}");
    }
    assert!(!out.contains(KNOWN_SECRET), "a secret value was printed");
    assert!(
        !out.contains("demo-only-blog-secret-key"),
        "a from-file secret value was printed"
    );
    assert!(out.contains("DJANGO_SECRET_KEY='<redacted>'"), "{out}");
    assert!(out.contains("BLOG_API_TOKEN='<redacted>'"), "{out}");
    insta::assert_snapshot!("render__site_kdl_example", out);
}

#[test]
fn examples_render_with_the_builtins() {
    for (name, file) in [
        ("single_app", "examples/single-app/site.kdl"),
        ("two_apps", "examples/two-apps/site.kdl"),
        ("production", "examples/production/site.kdl"),
        ("rootless", "examples/rootless/site.kdl"),
    ] {
        let o = wsgictl(&["render", "-f", file], &[]);
        assert_eq!(o.status.code(), Some(0), "{file}: {}", stderr(&o));
        let out = stdout(&o);
        assert!(
            !out.contains("demo-only-"),
            "{file}: a secret value was printed"
        );
        insta::assert_snapshot!(format!("render__{name}"), out);
    }
}

#[test]
fn a_missing_secret_variable_is_named() {
    let o = wsgictl(&["render", "-f", "site.kdl.example"], &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("environment variable BLOG_SECRET_KEY is not set"),
        "{err}"
    );
    assert!(
        err.contains("secret `DJANGO_SECRET_KEY` of app `blog`"),
        "{err}"
    );
    assert!(
        stdout(&o).is_empty(),
        "nothing is rendered when a secret is missing"
    );
}

#[test]
fn out_writes_a_tree_mirroring_remote_paths_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let o = wsgictl(
        &["render", "-f", "site.kdl.example", "--out", out],
        &[SECRET_ENV],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), format!("wrote 6 files under {out}\n"));
    let env = dir.path().join("web1/srv/blog/current/app.env");
    let text = std::fs::read_to_string(&env).unwrap();
    assert!(text.contains("DJANGO_SECRET_KEY='<redacted>'") && !text.contains(KNOWN_SECRET));
    assert_eq!(
        std::fs::metadata(&env).unwrap().permissions().mode() & 0o7777,
        0o640
    );
    let vhost = dir
        .path()
        .join("web1/etc/apache2/sites-available/wsgictl-blog.tls.conf");
    assert!(
        std::fs::read_to_string(vhost)
            .unwrap()
            .contains("WSGIDaemonProcess blog")
    );
    assert!(dir.path().join("web1/srv/blog/releases").is_dir());
}

#[test]
fn app_and_host_select_what_is_rendered() {
    let o = wsgictl(
        &[
            "render",
            "-f",
            "examples/two-apps/site.kdl",
            "--app",
            "shop",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("/srv/shop/current/app.wsgi") && !out.contains("/srv/blog/current/app.wsgi"),
        "{out}"
    );
    // The host-wide file still serves every app of the host.
    assert!(out.contains("conf-available/wsgictl.conf"), "{out}");

    let o = wsgictl(
        &[
            "render",
            "-f",
            "examples/two-apps/site.kdl",
            "--app",
            "nope",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no app named `nope`") && stderr(&o).contains("apps: blog, shop"),
        "{}",
        stderr(&o)
    );

    let o = wsgictl(
        &[
            "render",
            "-f",
            "examples/two-apps/site.kdl",
            "--host",
            "web9",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no host named `web9`") && stderr(&o).contains("hosts: lab"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn listen_lines_cover_each_port_once() {
    let o = wsgictl(
        &[
            "render",
            "-f",
            "tests/fixtures/manifests/ok/two-apps-one-host.kdl",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.matches("\nListen 80\n").count(), 1, "{out}");
    assert_eq!(out.matches("\nListen 8080\n").count(), 1, "{out}");
}

#[test]
fn rhel_layout_uses_conf_d_and_its_socket_prefix() {
    let o = wsgictl(
        &[
            "render",
            "-f",
            "tests/fixtures/manifests/ok/rhel-multi-host.kdl",
            "--host",
            "web2",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("--- web2:/etc/httpd/conf.d/wsgictl-blog.conf"),
        "{out}"
    );
    assert!(
        out.contains("--- web2:/etc/httpd/conf.d/00-wsgictl.conf"),
        "{out}"
    );
    assert!(out.contains("WSGISocketPrefix run/wsgi"), "{out}");
    assert!(
        out.contains(r#"ErrorLog "logs/wsgictl-blog-error_log""#),
        "{out}"
    );
    assert!(!out.contains("--- web1:"), "{out}");
}

#[test]
fn a_missing_secret_of_an_app_on_two_hosts_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = std::fs::read_to_string(fixture("manifests/ok/rhel-multi-host.kdl"))
        .unwrap()
        .replace(
            "../project/",
            &format!("{}/", fixture("manifests/project").display()),
        )
        .replace(
            "python \"/usr/bin/python3.11\"",
            "secret \"API_TOKEN\" from-env=\"WSGICTL_TEST_UNSET\"",
        );
    let path = dir.path().join("site.kdl");
    std::fs::write(&path, manifest).unwrap();
    let o = wsgictl(&["render", "-f", path.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o).matches("WSGICTL_TEST_UNSET is not set").count(),
        1,
        "{}",
        stderr(&o)
    );
}
