//! Decoding of `app` blocks and everything inside them: source, venv, django, daemon, env,
//! secrets.
//!
//! Stage: load. Reads the file system only to check the local paths an app names.

use super::super::model::*;
use super::super::rules;
use super::Decoder;
use super::values::{args, name_span, nodes};
use kdl::KdlNode;

const APP: &[&str] = &[
    "host",
    "server-name",
    "alias",
    "port",
    "http-port",
    "tls",
    "root",
    "user",
    "group",
    "source",
    "python",
    "venv",
    "django",
    "daemon",
    "env",
    "secret",
    "health",
    "health-expect",
    "releases",
    "data",
    "mount",
    "apache-raw",
    "replaces",
    "listen",
    "front-port",
];
const SOURCE: &[&str] = &["exclude"];
const VENV: &[&str] = &["path", "requirements", "packages"];
const DJANGO: &[&str] = &[
    "settings",
    "wsgi",
    "static",
    "media",
    "collectstatic",
    "migrate",
    "overlay",
];
/// The `daemon` block's nodes: mod_wsgi's `WSGIDaemonProcess` options of the same names.
pub const DAEMON: &[&str] = &[
    "processes",
    "threads",
    "maximum-requests",
    "request-timeout",
    "graceful-timeout",
    "queue-timeout",
];

impl Decoder<'_> {
    pub(super) fn app(&mut self, node: &KdlNode) -> Option<App> {
        let name = self.block_name(node, "app \"blog\"");
        let name_ok = name
            .as_ref()
            .is_some_and(|n| self.rule("invalid-name", "app name", n, rules::app_name));
        let mut hosts = Vec::new();
        let mut server_name = None;
        let mut aliases = Vec::new();
        let mut port = None;
        let mut http_port = None;
        let mut tls_node = None;
        let mut data = None;
        let mut root = None;
        let mut user = None;
        let mut group = None;
        let mut source = None;
        let mut python = None;
        let mut venv_node = None;
        let mut django_node = None;
        let mut daemon = Daemon::default();
        let mut env = Vec::new();
        let mut secrets: Vec<SecretRef> = Vec::new();
        let mut health = None;
        let mut health_expect: Option<Spanned<String>> = None;
        let mut releases = 5;
        let mut mount = None;
        let mut apache_raw = None;
        let mut replaces = Vec::new();
        let mut listen: Option<Spanned<String>> = None;
        let mut front_port: Option<Spanned<u16>> = None;
        let mut ok = true;

        for child in self.block(node, APP, &["host", "alias", "secret", "replaces"]) {
            match child.name().value() {
                "host" => {
                    for h in self.strings(child, "host \"web1\"") {
                        self.known_host(&h);
                        hosts.push(h);
                    }
                }
                "server-name" => {
                    let v = self.one_string(child, "server-name \"blog.example.com\"");
                    server_name = v.filter(|v| {
                        self.rule("invalid-server-name", "server name", v, |s| {
                            rules::server_name(s, false)
                        })
                    });
                    ok &= server_name.is_some();
                }
                "alias" => {
                    for v in self.strings(child, "alias \"www.blog.example.com\"") {
                        if self.rule("invalid-server-name", "alias", &v, |s| {
                            rules::server_name(s, true)
                        }) {
                            aliases.push(v);
                        }
                    }
                }
                "port" => {
                    port = self.port(child);
                    ok &= port.is_some();
                }
                "http-port" => {
                    http_port = self.port(child);
                    ok &= http_port.is_some();
                }
                "tls" => tls_node = Some(child),
                "data" => {
                    let v = self.one_string(child, "data \"/srv/blog/data\"");
                    data =
                        v.filter(|v| self.remote(v, "data directory", true) && self.not_slash(v));
                    ok &= data.is_some();
                }
                "root" => {
                    let v = self.one_string(child, "root \"/srv/blog\"");
                    root = v.filter(|v| self.remote(v, "app root", true) && self.not_slash(v));
                    ok &= root.is_some();
                }
                "user" | "group" => {
                    let field = child.name().value();
                    let v = self.one_string(child, &format!("{field} \"blog\""));
                    let v = v.filter(|v| {
                        self.rule("invalid-name", "account name", v, rules::account_name)
                    });
                    if let Some(v) = &v
                        && field == "user"
                        && v.value == "root"
                    {
                        self.problem(
                                "daemon-user-root",
                                v.span,
                                "the daemon process cannot run as root",
                                "root is refused by mod_wsgi",
                                Some("use a dedicated account such as `user \"blog\"`; wsgictl creates it".into()),
                            );
                        ok = false;
                        continue;
                    }
                    ok &= v.is_some();
                    if field == "user" { user = v } else { group = v }
                }
                "source" => {
                    source = self.source(child);
                    ok &= source.is_some();
                }
                "python" => {
                    let v = self.one_string(child, "python \"/usr/bin/python3\"");
                    python = v.filter(|v| self.remote(v, "interpreter path", false));
                    ok &= python.is_some();
                }
                "venv" => venv_node = Some(child),
                "django" => django_node = Some(child),
                "daemon" => daemon = self.daemon(child),
                "env" => env = self.env(child),
                "secret" => {
                    if let Some(s) = self.secret(child) {
                        if secrets.iter().any(|o| o.name == s.name) {
                            self.problem(
                                "duplicate-name",
                                s.span,
                                format!("secret `{}` is given more than once", s.name),
                                "set again here",
                                Some("each environment name may be set once".into()),
                            );
                        }
                        secrets.push(s);
                    } else {
                        ok = false;
                    }
                }
                "health" => {
                    let v = self.one_string(child, "health \"/\"");
                    health =
                        v.filter(|v| self.rule("invalid-url", "health path", v, rules::url_path));
                    ok &= health.is_some();
                }
                "health-expect" => {
                    let v = self.one_string(child, "health-expect \"Welcome\"");
                    health_expect = v.filter(|v| {
                        self.rule("invalid-value", "expected text", v, rules::expected_text)
                    });
                    ok &= health_expect.is_some();
                }
                "mount" => {
                    let v = self.one_string(child, "mount \"/blog\"");
                    mount = v.filter(|v| self.rule("invalid-url", "mount point", v, rules::mount));
                    ok &= mount.is_some();
                }
                "apache-raw" => {
                    let v = self.text(child, "apache-raw \"Header set X-Frame-Options DENY\"");
                    apache_raw = v.filter(|v| {
                        self.rule(
                            "invalid-value",
                            "set of Apache directives",
                            v,
                            rules::apache_raw,
                        )
                    });
                    ok &= apache_raw.is_some();
                }
                "replaces" => {
                    for v in
                        self.strings(child, "replaces \"/etc/apache2/sites-available/blog.conf\"")
                    {
                        if self.remote(&v, "Apache file", false) {
                            replaces.push(v.value);
                        } else {
                            ok = false;
                        }
                    }
                }
                "listen" => {
                    let v = self.one_string(child, "listen \"127.0.0.1\"");
                    listen = v.filter(|v| {
                        self.rule(
                            "invalid-address",
                            "listen address",
                            v,
                            rules::listen_address,
                        )
                    });
                    ok &= listen.is_some();
                }
                "front-port" => {
                    front_port = self.port(child);
                    ok &= front_port.is_some();
                }
                // Current and previous are never removed: at least two.
                "releases" => match self.one_int(child, 2, 100, "releases 5") {
                    Some(n) => releases = n.value as u32,
                    None => ok = false,
                },
                _ => unreachable!(),
            }
        }

        let rootless = self.rootless_app(node, &hosts, &user, &listen, &front_port);
        if rootless.is_some() {
            ok &= self.rootless_limits(node, port.as_ref());
        }
        for (field, present, example) in [
            (
                "host",
                !hosts.is_empty() || self.has_child(node, "host"),
                "host \"web1\"",
            ),
            (
                "server-name",
                self.has_child(node, "server-name"),
                "server-name \"blog.example.com\"",
            ),
            ("root", self.has_child(node, "root"), "root \"/srv/blog\""),
            (
                "user",
                self.has_child(node, "user") || rootless.is_some(),
                "user \"blog\"",
            ),
            (
                "source",
                self.has_child(node, "source"),
                "source \"./blog\"",
            ),
            (
                "venv",
                venv_node.is_some(),
                "venv { requirements \"./blog/requirements.txt\" }",
            ),
            (
                "django",
                django_node.is_some(),
                "django { settings \"blog.settings\" ... }",
            ),
        ] {
            if !present {
                self.missing(node, field, example);
                ok = false;
            }
        }

        let venv = venv_node.and_then(|v| self.venv(v, root.as_ref()));
        let django = django_node.and_then(|d| self.django(d));
        let tls = tls_node.and_then(|t| {
            let tls = self.tls(t);
            ok &= tls.is_some();
            tls
        });
        self.tls_ports(
            node,
            tls.as_ref(),
            port.as_ref(),
            http_port.as_ref(),
            &aliases,
        );
        // After the block: `env` may come before or after the secrets.
        for s in &secrets {
            if env.iter().any(|e| e.name == s.name) {
                self.problem(
                    "duplicate-name",
                    s.span,
                    format!("`{}` is set both in `env` and as a secret", s.name),
                    "also set in env",
                    Some("each environment name may be set once".into()),
                );
            }
        }
        if let (
            Some(Tls {
                source: TlsSource::Acme(_),
                span,
                ..
            }),
            true,
        ) = (&tls, hosts.len() > 1)
        {
            self.problem(
                "acme-several-hosts",
                *span,
                format!(
                    "ACME's HTTP-01 reaches only the host that DNS names for the app; it is deployed to {} hosts",
                    hosts.len()
                ),
                "each host would ask for the same names",
                Some("use `certificate` and `key` (one certificate copied to every host), or deploy the app to one host".into()),
            );
        }
        if let (Some(e), None) = (&health_expect, &health) {
            self.problem(
                "missing-value",
                e.span,
                "`health-expect` is looked for in the answer to `health`, and this app has no `health`",
                "no health path",
                Some("add `health \"/\"` (or the path whose page holds the text)".into()),
            );
            ok = false;
        }
        if !(ok && name_ok) {
            return None;
        }
        let user = match (user, rootless.flatten()) {
            (Some(u), _) => u,
            (None, Some(account)) => Spanned {
                value: account,
                span: name_span(node),
            },
            (None, None) => return None,
        };
        Some(App {
            name: name?,
            hosts,
            server_name: server_name?,
            aliases,
            port: port.unwrap_or(Spanned {
                value: if tls.is_some() { 443 } else { 80 },
                span: name_span(node),
            }),
            http_port: tls.as_ref().map(|_| {
                http_port.unwrap_or(Spanned {
                    value: 80,
                    span: name_span(node),
                })
            }),
            tls,
            data,
            root: root?,
            group: group.map_or_else(|| user.value.clone(), |g| g.value),
            user: user.value,
            source: source?,
            python: python.unwrap_or_else(|| Spanned {
                value: "/usr/bin/python3".to_string(),
                span: name_span(node),
            }),
            venv: venv?,
            django: django?,
            daemon,
            env,
            secrets,
            health: health.map(|h| h.value),
            health_expect: health_expect.map(|h| h.value),
            releases,
            mount: mount.map_or_else(|| "/".to_string(), |m| m.value),
            apache_raw: apache_raw.map(|r| r.value),
            replaces,
            listen,
            front_port: front_port.map_or(80, |p| p.value),
        })
    }

    /// Whether the app is on a rootless host (`Some`, with the account when the host names
    /// it). Such an app runs as the account: a `user` must be that account. Its hosts are all
    /// rootless or none; `listen` and `front-port` are for rootless hosts only.
    fn rootless_app(
        &mut self,
        node: &KdlNode,
        hosts: &[Spanned<String>],
        user: &Option<Spanned<String>>,
        listen: &Option<Spanned<String>>,
        front_port: &Option<Spanned<u16>>,
    ) -> Option<Option<String>> {
        let kinds: Vec<Option<Option<String>>> = hosts
            .iter()
            .map(|h| self.rootless(h).map(|u| u.map(str::to_string)))
            .collect();
        let first = kinds.iter().position(Option::is_some);
        if let Some(i) = first
            && let Some(j) = kinds.iter().position(Option::is_none)
        {
            self.problem(
                "rootless-mixed",
                hosts[j.max(i)].span,
                format!(
                    "app `{}` is deployed to the rootless host `{}` and to `{}`, which is not rootless",
                    args(node)
                        .next()
                        .and_then(|a| a.value().as_string())
                        .unwrap_or("?"),
                    hosts[i].value,
                    hosts[j].value
                ),
                "mixes rootless and root hosts",
                Some("deploy the app to rootless hosts only, or to root hosts only (one app block each)".into()),
            );
        }
        let Some(i) = first else {
            for (what, span) in [
                ("listen", listen.as_ref().map(|l| l.span)),
                ("front-port", front_port.as_ref().map(|p| p.span)),
            ] {
                if let Some(span) = span {
                    self.problem(
                        "rootless-only",
                        span,
                        format!("`{what}` is for apps on rootless hosts (the account's own Apache)"),
                        "not a rootless host",
                        Some(format!("the host's Apache decides its addresses: remove `{what}`, or deploy to a host with `rootless #true`")),
                    );
                }
            }
            return None;
        };
        let account = kinds[i].clone().flatten();
        if let (Some(u), Some(a)) = (user, &account)
            && u.value != *a
        {
            self.problem(
                "rootless-user",
                u.span,
                format!(
                    "on the rootless host `{}` every app runs as the account `{a}`",
                    hosts[i].value
                ),
                "another account",
                Some(format!(
                    "remove `user` (it is `{a}`), or write `user \"{a}\"`"
                )),
            );
        }
        Some(account)
    }

    /// What a rootless app cannot have: a port below 1024 (the account's Apache cannot bind
    /// it), TLS (the host's web server in front terminates it), files of the system Apache.
    fn rootless_limits(&mut self, node: &KdlNode, port: Option<&Spanned<u16>>) -> bool {
        let mut ok = true;
        match port {
            None => {
                self.missing(node, "port", "port 18080");
                ok = false;
            }
            Some(p) if p.value < 1024 => {
                self.problem(
                    "rootless-port",
                    p.span,
                    format!("an ordinary account cannot listen on port {}: ports below 1024 need root", p.value),
                    "privileged port",
                    Some("pick a high port such as `port 18080`; the host's web server in front forwards to it (the plan prints the snippet)".into()),
                );
                ok = false;
            }
            Some(_) => {}
        }
        for (field, example) in [
            (
                "tls",
                "the host's web server in front terminates TLS and forwards to the account's Apache",
            ),
            (
                "http-port",
                "the account's Apache serves one plain-HTTP port",
            ),
            (
                "replaces",
                "the system Apache's files are not the account's to move",
            ),
            ("group", "the apps run in the account's own primary group"),
        ] {
            if let Some(c) = nodes(node).iter().find(|c| c.name().value() == field) {
                self.problem(
                    "rootless-unsupported",
                    name_span(c),
                    format!("`{field}` is not available on a rootless host: {example}"),
                    "needs root",
                    Some(format!("remove `{field}`")),
                );
                ok = false;
            }
        }
        ok
    }

    /// `http-port` only with `tls`, never the HTTPS port; no wildcard alias with ACME (HTTP-01
    /// cannot validate one).
    fn tls_ports(
        &mut self,
        node: &KdlNode,
        tls: Option<&Tls>,
        port: Option<&Spanned<u16>>,
        http_port: Option<&Spanned<u16>>,
        aliases: &[Spanned<String>],
    ) {
        match (tls, http_port) {
            (None, Some(h)) if !self.has_child(node, "tls") => self.problem(
                "http-port-without-tls",
                h.span,
                "`http-port` is the port of the vhost that redirects to https; this app has no `tls`",
                "nothing to redirect to",
                Some("serve plain HTTP with `port` alone, or add `tls { ... }`".into()),
            ),
            (Some(_), _) => {
                let https = port.map_or(443, |p| p.value);
                let http = http_port.map_or(80, |p| p.value);
                if https == http {
                    let span = http_port.or(port).map_or_else(|| name_span(node), |p| p.span);
                    self.problem(
                        "port-conflict",
                        span,
                        format!("the HTTPS port and the HTTP port are both {https}"),
                        "same port twice",
                        Some("one port serves TLS, the other plain HTTP: for example `port 443` and `http-port 80`".into()),
                    );
                }
            }
            _ => {}
        }
        if let Some(Tls {
            source: TlsSource::Acme(_),
            ..
        }) = tls
        {
            for a in aliases.iter().filter(|a| a.starts_with("*.")) {
                self.problem(
                    "acme-wildcard",
                    a.span,
                    format!("ACME over HTTP-01 cannot validate the wildcard {}", a.value),
                    "wildcard alias",
                    Some("list each name as an alias, or use `certificate` and `key` for a wildcard certificate obtained another way".into()),
                );
            }
        }
    }

    /// `DJANGO_SETTINGS_MODULE` is assigned by the `.wsgi` from `django { settings }`.
    pub(super) fn not_reserved(&mut self, name: &Spanned<String>) -> bool {
        if name.value != "DJANGO_SETTINGS_MODULE" {
            return true;
        }
        self.problem(
            "reserved-env-name",
            name.span,
            "DJANGO_SETTINGS_MODULE cannot be set in `env` or as a secret",
            "set by wsgictl",
            Some("set it with `settings \"blog.settings\"` in the app's `django` block".into()),
        );
        false
    }

    pub(super) fn known_host(&mut self, h: &Spanned<String>) {
        if self.declared_hosts.contains(&h.value) {
            return;
        }
        let known: Vec<&str> = self.declared_hosts.iter().map(String::as_str).collect();
        let help = match rules::suggest(h, &known) {
            Some(s) => format!(
                "did you mean `{s}`? or declare `host {:?} {{ ... }}`",
                h.value
            ),
            None if known.is_empty() => {
                format!("declare it: `host {:?} {{ address \"...\" }}`", h.value)
            }
            None => format!("declared hosts: {}", known.join(", ")),
        };
        self.problem(
            "unknown-host",
            h.span,
            format!("unknown host `{}`", h.value),
            "no such host",
            Some(help),
        );
    }

    pub(super) fn not_slash(&mut self, v: &Spanned<String>) -> bool {
        if v.value.trim_end_matches('/').is_empty() {
            self.problem(
                "invalid-remote-path",
                v.span,
                "the app root cannot be `/`",
                "the whole file system",
                Some("give the app its own directory, such as `root \"/srv/blog\"`".into()),
            );
            return false;
        }
        true
    }

    pub(super) fn source(&mut self, node: &KdlNode) -> Option<Source> {
        self.props(node, &[]);
        let v = self
            .count_args(node, 1, 1, "source \"./blog\"")
            .and_then(|a| self.string(node, a[0]));
        let mut exclude = Vec::new();
        for child in self.block(node, SOURCE, SOURCE) {
            exclude.extend(
                self.strings(child, "exclude \"*.sqlite3\" \"media/\"")
                    .into_iter()
                    .map(|s| s.value),
            );
        }
        let path = self.local_path(&v?, "source directory", true)?;
        Some(Source { path, exclude })
    }

    pub(super) fn venv(&mut self, node: &KdlNode, root: Option<&Spanned<String>>) -> Option<Venv> {
        self.props(node, &[]);
        let _ = self.count_args(node, 0, 0, "venv { ... }");
        let mut path = None;
        let mut requirements = None;
        let mut packages = Vec::new();
        let mut ok = true;
        for child in self.block(node, VENV, &["packages"]) {
            match child.name().value() {
                "path" => {
                    let v = self.one_string(child, "path \"/srv/blog/venv\"");
                    path = v.filter(|v| self.remote(v, "venv path", true));
                    ok &= path.is_some();
                }
                "requirements" => {
                    let v = self.one_string(child, "requirements \"./blog/requirements.txt\"");
                    requirements = v.and_then(|v| self.local_path(&v, "requirements file", false));
                    ok &= requirements.is_some();
                }
                "packages" => {
                    for v in self.strings(child, "packages \"django>=4.2,<5.1\"") {
                        if self.rule(
                            "invalid-requirement",
                            "pip requirement",
                            &v,
                            rules::pip_requirement,
                        ) {
                            packages.push(v.value);
                        } else {
                            ok = false;
                        }
                    }
                }
                _ => unreachable!(),
            }
        }
        if !self.has_child(node, "requirements") && !self.has_child(node, "packages") {
            self.problem(
                "missing-value",
                name_span(node),
                "`venv` has neither `requirements` nor `packages`",
                "installs nothing",
                Some("add `requirements \"./blog/requirements.txt\"` or `packages \"django>=4.2\"` (or both)".into()),
            );
            ok = false;
        }
        if !ok {
            return None;
        }
        let path_span = path.as_ref().map(|p| p.span);
        let path = match path {
            Some(p) => p.value.trim_end_matches('/').to_string(),
            None => format!("{}/venv", root?.value.trim_end_matches('/')),
        };
        Some(Venv {
            path,
            path_span,
            requirements,
            packages,
        })
    }

    pub(super) fn django(&mut self, node: &KdlNode) -> Option<Django> {
        self.props(node, &[]);
        let _ = self.count_args(node, 0, 0, "django { ... }");
        let mut settings = None;
        let mut wsgi = None;
        let mut static_files = None;
        let mut media = None;
        let (mut collectstatic, mut migrate, mut overlay) = (false, false, false);
        let mut ok = true;
        for child in self.block(node, DJANGO, &[]) {
            match child.name().value() {
                "settings" | "wsgi" => {
                    let field = child.name().value();
                    let v = self.one_string(child, &format!("{field} \"blog.{field}\""));
                    let v = v.filter(|v| {
                        self.rule("invalid-module", "Python module", v, rules::python_module)
                    });
                    ok &= v.is_some();
                    if field == "settings" {
                        settings = v
                    } else {
                        wsgi = v
                    }
                }
                "static" | "media" => {
                    let field = child.name().value();
                    let example = format!("{field} \"/{field}/\" \"/srv/blog/{field}\"");
                    let dir = self.url_dir(child, &example);
                    ok &= dir.is_some();
                    if field == "static" {
                        static_files = dir
                    } else {
                        media = dir
                    }
                }
                "collectstatic" => collectstatic = self.one_bool(child).unwrap_or(false),
                "migrate" => migrate = self.one_bool(child).unwrap_or(false),
                "overlay" => overlay = self.one_bool(child).unwrap_or(false),
                _ => unreachable!(),
            }
        }
        if !self.has_child(node, "settings") {
            self.missing(node, "settings", "settings \"blog.settings\"");
            ok = false;
        }
        if !self.has_child(node, "static") {
            self.missing(node, "static", "static \"/static/\" \"/srv/blog/static\"");
            ok = false;
        }
        if !ok {
            return None;
        }
        Some(Django {
            settings: settings?.value,
            wsgi: wsgi.map(|w| w.value),
            static_files: static_files?,
            media,
            collectstatic,
            migrate,
            overlay,
        })
    }

    pub(super) fn url_dir(&mut self, node: &KdlNode, example: &str) -> Option<UrlDir> {
        let a = self.exact_args(node, 2, example)?;
        let url = self.string(node, a[0]);
        let dir = self.string(node, a[1]);
        let url = url.filter(|u| self.rule("invalid-url", "URL prefix", u, rules::url_prefix));
        let dir = dir.filter(|d| self.remote(d, "directory", false));
        let mut url = url?.value;
        if !url.ends_with('/') {
            url.push('/');
        }
        Some(UrlDir {
            url,
            dir: dir?.value.trim_end_matches('/').to_string(),
            span: name_span(node),
        })
    }

    pub(super) fn daemon(&mut self, node: &KdlNode) -> Daemon {
        self.props(node, &[]);
        let _ = self.count_args(node, 0, 0, "daemon { ... }");
        let mut d = Daemon::default();
        for child in self.block(node, DAEMON, &[]) {
            let name = child.name().value();
            let (lo, hi) = match name {
                "processes" => (1, 128),
                "threads" => (1, 1000),
                "maximum-requests" => (0, 10_000_000),
                _ => (1, 86_400),
            };
            let Some(v) = self.one_int(child, lo, hi, &format!("{name} {lo}")) else {
                continue;
            };
            let v = v.value as u32;
            match name {
                "processes" => d.processes = v,
                "threads" => d.threads = v,
                "maximum-requests" => d.maximum_requests = (v > 0).then_some(v),
                "request-timeout" => d.request_timeout = v,
                "graceful-timeout" => d.graceful_timeout = v,
                "queue-timeout" => d.queue_timeout = v,
                _ => unreachable!(),
            }
        }
        d
    }

    pub(super) fn env(&mut self, node: &KdlNode) -> Vec<EnvVar> {
        self.props(node, &[]);
        let _ = self.count_args(node, 0, 0, "env { NAME \"value\" }");
        let mut out: Vec<EnvVar> = Vec::new();
        for child in nodes(node) {
            let name = Spanned {
                value: child.name().value().to_string(),
                span: name_span(child),
            };
            let name_ok = self.rule(
                "invalid-env-name",
                "environment name",
                &name,
                rules::env_name,
            ) && self.not_reserved(&name);
            let value = self.one_string(child, &format!("{} \"value\"", name.value));
            if out.iter().any(|e| e.name == name.value) {
                self.problem(
                    "duplicate-name",
                    name.span,
                    format!("`{}` is set more than once in `env`", name.value),
                    "set again here",
                    Some("keep one of them".into()),
                );
                continue;
            }
            if let (true, Some(value)) = (name_ok, value) {
                out.push(EnvVar {
                    name: name.value,
                    value: value.value,
                });
            }
        }
        out
    }

    pub(super) fn secret(&mut self, node: &KdlNode) -> Option<SecretRef> {
        self.props(node, &["from-env", "from-file"]);
        self.leaf(node);
        let example = "secret \"DJANGO_SECRET_KEY\" from-env=\"BLOG_SECRET_KEY\"";
        let name = self
            .count_args(node, 1, 1, example)
            .and_then(|a| self.string(node, a[0]));
        let name = name.filter(|n| {
            self.rule("invalid-env-name", "environment name", n, rules::env_name)
                && self.not_reserved(n)
        });
        let from_env = node.entry("from-env");
        let from_file = node.entry("from-file");
        let from = match (from_env, from_file) {
            (Some(e), None) => {
                let v = self.string(node, e)?;
                if !self.rule(
                    "invalid-env-name",
                    "environment variable",
                    &v,
                    rules::env_name,
                ) {
                    return None;
                }
                SecretFrom::Env(v.value)
            }
            (None, Some(f)) => {
                let v = self.string(node, f)?;
                SecretFrom::File(self.local_path(&v, "secret file", false)?)
            }
            (Some(_), Some(f)) => {
                self.problem(
                    "conflicting-values",
                    f.span(),
                    "a secret takes `from-env` or `from-file`, not both",
                    "second source",
                    Some("keep one of them".into()),
                );
                return None;
            }
            (None, None) => {
                self.problem(
                    "missing-value",
                    name_span(node),
                    "`secret` says neither where its value comes from",
                    "no source",
                    Some(format!(
                        "write it as `{example}` or with `from-file=\"./secrets/blog.key\"`"
                    )),
                );
                return None;
            }
        };
        let name = name?;
        Some(SecretRef {
            name: name.value,
            from,
            span: name.span,
        })
    }
}
