//! What the configuration tree says of each WSGI site, before anything on the host is read
//! beyond Apache's own files: per `<VirtualHost>`, its names, port, certificate, the
//! `WSGIScriptAlias` it mounts, the daemon group that runs it (from `process-group=`, a
//! `WSGIProcessGroup` in the vhost or in a `<Location>`/`<Directory>`, or none: embedded
//! mode), that group's `WSGIDaemonProcess` (in the vhost or server-wide), `Alias`es,
//! `SetEnv`s, and every other directive, sorted into modelled, dropped (with why) and kept.
//!
//! Stage: import (pure). The next step ([`super::site`]) reads the `.wsgi`, the venv and the
//! project these point at, in one more round trip.

use super::lexer::options;
use super::tree::{At, Directive, Node, walk};

/// One `<VirtualHost>` that mounts a WSGI application.
#[derive(Debug, Clone, Default)]
pub struct WsgiVhost {
    pub at: Option<At>,
    pub port: u16,
    /// The address part of `<VirtualHost ADDR:PORT>` (`*`, `_default_`, an IP).
    pub address: String,
    pub server_name: Option<String>,
    pub aliases: Vec<String>,
    /// `SSLEngine on` with these files.
    pub certificate: Option<String>,
    pub key: Option<String>,
    pub chain: Option<String>,
    pub mount: String,
    /// The `WSGIScriptAlias` target: a file, or a directory (ends with `/`).
    pub script: String,
    pub script_at: Option<At>,
    /// The daemon group that runs it; `None`: embedded mode.
    pub group: Option<String>,
    pub application_group: Option<String>,
    /// The group's `WSGIDaemonProcess` options (lower-case names).
    pub daemon: Option<(Vec<(String, String)>, At)>,
    pub aliases_dirs: Vec<(String, String, At)>,
    pub env: Vec<(String, String, At)>,
    pub document_root: Option<(String, At)>,
    /// Directives kept verbatim (`apache-raw`), with where they were.
    pub kept: Vec<(String, At)>,
    /// Directives read into the manifest: what became of them.
    pub recognised: Vec<(String, At)>,
    /// Directives dropped: why.
    pub dropped: Vec<(String, At)>,
    /// Apache 2.2 access control (`Order`, `Allow`, `Deny`) was found on the app's paths.
    pub old_access: Vec<At>,
    /// Restrictions on the script's directory, rewritten for the app's URL (`<Location>`).
    pub translated: Vec<(String, At)>,
    /// Other `WSGIScriptAlias`es of the vhost, kept as written: (URL, process group).
    pub secondary: Vec<(String, Option<String>, At)>,
}

/// A vhost that mounts no WSGI application.
#[derive(Debug, Clone)]
pub struct OtherVhost {
    pub port: u16,
    pub name: String,
    pub at: At,
    /// All it does is redirect to https.
    pub https_redirect: bool,
    pub document_root: Option<String>,
}

/// A server-wide `WSGIDaemonProcess`: its name, options, where.
pub type Daemon = (String, Vec<(String, String)>, At);

/// Server-wide WSGI settings, wherever they were written.
#[derive(Debug, Clone, Default)]
pub struct Globals {
    pub python_home: Option<(String, At)>,
    pub python_path: Option<(String, At)>,
    pub socket_prefix: Option<(String, At)>,
    pub daemons: Vec<Daemon>,
    /// Other directives per file, for the files import may take over.
    pub other: Vec<(String, At)>,
}

/// Every vhost: the WSGI ones read in full, the others named.
#[derive(Debug, Default)]
pub struct Found {
    pub wsgi: Vec<WsgiVhost>,
    pub other: Vec<OtherVhost>,
    pub globals: Globals,
    /// Files that hold a vhost, each with every vhost in it (`true`: a WSGI one).
    pub files: Vec<(String, Vec<At>)>,
    /// The main configuration file (never taken over).
    pub main: Option<String>,
    /// The name Apache gives each vhost (`-S`), by where it starts: for a vhost without
    /// `ServerName`, the server's.
    pub names: Vec<(At, String)>,
}

/// mod_wsgi directives removed in 4.x: Apache refuses them where mod_wsgi 4 is loaded.
const REMOVED: &[&str] = &[
    "WSGIReloadMechanism",
    "WSGIPythonEggs",
    "WSGICaseSensitivity",
    "WSGIPythonWarnings",
];

/// Access directives wsgictl writes itself for the paths it serves.
pub(crate) const ACCESS: &[&str] = &[
    "Require",
    "Order",
    "Allow",
    "Deny",
    "Satisfy",
    "Options",
    "AllowOverride",
    "AddHandler",
];

pub fn find(nodes: &[Node]) -> Found {
    let mut found = Found::default();
    // Server-wide groups may be defined after the vhost that uses them: globals first.
    scan(nodes, &mut found, false);
    scan(nodes, &mut found, true);
    found
}

fn scan(nodes: &[Node], found: &mut Found, vhosts: bool) {
    for n in nodes {
        match n {
            Node::Section { head, children } if head.is("VirtualHost") => {
                if vhosts {
                    vhost(head, children, found);
                }
            }
            Node::Include { children, .. } | Node::Section { children, .. } => {
                scan(children, found, vhosts)
            }
            Node::Directive(d) => {
                if !vhosts {
                    global(d, found)
                }
            }
        }
    }
}

fn global(d: &Directive, found: &mut Found) {
    let g = &mut found.globals;
    let arg = || d.arg(0).unwrap_or("").to_string();
    if d.is("WSGIPythonHome") {
        g.python_home = Some((arg(), d.at.clone()));
    } else if d.is("WSGIPythonPath") {
        g.python_path = Some((arg(), d.at.clone()));
    } else if d.is("WSGISocketPrefix") {
        g.socket_prefix = Some((arg(), d.at.clone()));
    } else if d.is("WSGIDaemonProcess") {
        g.daemons
            .push((arg(), options(&d.args[1.min(d.args.len())..]), d.at.clone()));
    } else {
        g.other.push((d.text(), d.at.clone()));
    }
}

fn port_of(addrs: &[super::lexer::Arg]) -> u16 {
    addrs
        .first()
        .and_then(|a| a.text.rsplit_once(':'))
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(80)
}

/// `http://name:80` or `name:80` → `name`.
fn bare_name(s: &str) -> String {
    let s = s.split("://").last().unwrap_or(s);
    s.split(':').next().unwrap_or(s).to_string()
}

fn vhost(head: &Directive, children: &[Node], found: &mut Found) {
    let port = port_of(&head.args);
    let all: Vec<&Node> = walk(children);
    let directives: Vec<&Directive> = all
        .iter()
        .filter_map(|n| match n {
            Node::Directive(d) => Some(d),
            _ => None,
        })
        .collect();
    let first = |name: &str| directives.iter().find(|d| d.is(name)).copied();
    let server_name = first("ServerName").and_then(|d| d.arg(0)).map(bare_name);
    let aliases: Vec<String> = directives
        .iter()
        .filter(|d| d.is("ServerAlias"))
        .flat_map(|d| d.args.iter().map(|a| a.text.clone()))
        .collect();
    let file_entry = |found: &mut Found| {
        let file = head.at.file.clone();
        match found.files.iter_mut().find(|(f, _)| *f == file) {
            Some((_, v)) => v.push(head.at.clone()),
            None => found.files.push((file, vec![head.at.clone()])),
        }
    };
    file_entry(found);
    let scripts: Vec<&Directive> = directives
        .iter()
        .filter(|d| d.is("WSGIScriptAlias"))
        .copied()
        .collect();
    let Some(primary) = scripts
        .iter()
        .find(|d| d.arg(0) == Some("/"))
        .or(scripts.first())
        .copied()
    else {
        let https_redirect = directives.iter().any(|d| {
            (d.is("Redirect") || d.is("RedirectPermanent") || d.is("RewriteRule"))
                && d.args.iter().any(|a| a.text.starts_with("https://"))
        });
        found.other.push(OtherVhost {
            port,
            name: server_name.unwrap_or_default(),
            at: head.at.clone(),
            https_redirect,
            document_root: first("DocumentRoot")
                .and_then(|d| d.arg(0))
                .map(|d| d.trim_end_matches('/').to_string()),
        });
        return;
    };
    let url = primary.arg(0).unwrap_or("/");
    let mount = if url == "/" {
        "/".to_string()
    } else {
        url.trim_end_matches('/').to_string()
    };
    let trailing_slash =
        url != "/" && url.ends_with('/') && !primary.arg(1).unwrap_or("").ends_with('/');
    let script = primary.arg(1).unwrap_or("").to_string();
    let opts = options(primary.args.get(2..).unwrap_or(&[]));
    let opt = |k: &str| opts.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut v = WsgiVhost {
        at: Some(head.at.clone()),
        port,
        server_name,
        aliases,
        mount: mount.clone(),
        script: script.clone(),
        script_at: Some(primary.at.clone()),
        address: head
            .arg(0)
            .and_then(|a| {
                a.rsplit_once(':')
                    .map(|(h, _)| h.to_string())
                    .or(Some(a.to_string()))
            })
            .unwrap_or_else(|| "*".into()),
        ..Default::default()
    };
    if trailing_slash {
        v.dropped.push((
            format!("the trailing `/` of `WSGIScriptAlias {url}`: {mount} (without it) answers {mount} too, not only {url}"),
            primary.at.clone(),
        ));
    }
    for d in scripts.iter().filter(|d| !std::ptr::eq(**d, primary)) {
        let group = options(d.args.get(2..).unwrap_or(&[]))
            .into_iter()
            .find(|(k, _)| k == "process-group")
            .map(|(_, g)| g);
        v.secondary
            .push((d.arg(0).unwrap_or("").to_string(), group, d.at.clone()));
    }
    // The daemon group: the option, a Location or Directory that covers it, the vhost's.
    v.group = opt("process-group").or_else(|| {
        let mut best: Option<String> = None;
        for n in children {
            if let Node::Section {
                head: s,
                children: c,
            } = n
            {
                let p = s.arg(0).unwrap_or("");
                let covers = (s.is("Location") && mount.starts_with(p.trim_end_matches('/')))
                    || (s.is("Directory") && script.starts_with(p.trim_end_matches('/')));
                if covers
                    && let Some(Node::Directive(g)) =
                        c.iter().find(|x| x.head().is("WSGIProcessGroup"))
                {
                    best = g.arg(0).map(str::to_string);
                }
            }
        }
        best.or_else(|| {
            children.iter().find_map(|n| match n {
                Node::Directive(d) if d.is("WSGIProcessGroup") => d.arg(0).map(str::to_string),
                _ => None,
            })
        })
    });
    if v.group.as_deref() == Some("%{GLOBAL}") {
        v.group = None;
    }
    v.application_group = opt("application-group").or_else(|| {
        first("WSGIApplicationGroup")
            .and_then(|d| d.arg(0))
            .map(str::to_string)
    });
    if let Some(g) = &v.group {
        v.daemon = directives
            .iter()
            .find(|d| d.is("WSGIDaemonProcess") && d.arg(0) == Some(g))
            .map(|d| (options(&d.args[1..]), d.at.clone()))
            .or_else(|| {
                found
                    .globals
                    .daemons
                    .iter()
                    .find(|(n, _, _)| n == g)
                    .map(|(_, o, at)| (o.clone(), at.clone()))
            });
    }
    let static_like = |url: &str| {
        let u = url.to_ascii_lowercase();
        u.contains("static") || u.contains("media") || u.contains("upload")
    };
    // What wsgictl serves itself: the script's directory and the static and media aliases.
    let mut served: Vec<String> = directives
        .iter()
        .filter(|d| d.is("Alias") && d.args.len() >= 2 && static_like(d.arg(0).unwrap_or("")))
        .map(|d| d.arg(1).unwrap_or("").trim_end_matches('/').to_string())
        .collect();
    served.extend(
        std::path::Path::new(&script)
            .parent()
            .map(|p| p.display().to_string()),
    );
    let others: Vec<String> = scripts
        .iter()
        .filter(|d| !std::ptr::eq(**d, primary))
        .filter_map(|d| d.arg(1).map(str::to_string))
        .collect();
    let kept_root = (mount != "/")
        .then(|| {
            first("DocumentRoot")
                .and_then(|d| d.arg(0))
                .map(str::to_string)
        })
        .flatten();
    let paths = Paths {
        served: &served,
        others: &others,
        kept_root: kept_root.as_deref(),
    };
    for n in children {
        sort(n, &mut v, primary, &paths, &static_like);
    }
    // Certbot's redirect is dropped: its RewriteConds and a RewriteEngine nothing else uses go too.
    if v.dropped
        .iter()
        .any(|(t, _)| t.starts_with("redirect to https"))
    {
        let redirect_lines: Vec<usize> = v
            .dropped
            .iter()
            .filter(|(t, _)| t.starts_with("redirect to https"))
            .map(|(_, at)| at.line)
            .collect();
        let rules_left = v.kept.iter().any(|(t, _)| t.starts_with("RewriteRule"));
        let (gone, kept): (Vec<_>, Vec<_>) = v.kept.drain(..).partition(|(t, at)| {
            let cond = t.starts_with("RewriteCond")
                && redirect_lines
                    .iter()
                    .any(|l| *l > at.line && *l - at.line <= 4);
            let engine = t.to_ascii_lowercase().starts_with("rewriteengine") && !rules_left;
            cond || engine
        });
        v.kept = kept;
        for (t, at) in gone {
            v.dropped
                .push((format!("`{t}`: part of the redirect to https"), at));
        }
    }
    found.wsgi.push(v);
}

/// Where one top-level node of the vhost goes.
/// The paths a vhost's sections are judged against.
struct Paths<'a> {
    /// What wsgictl serves itself (the script's directory, static and media).
    served: &'a [String],
    /// The scripts of the other `WSGIScriptAlias`es (kept as written, so their grants are).
    others: &'a [String],
    /// The DocumentRoot, when it is kept (the app is mounted below `/`).
    kept_root: Option<&'a str>,
}

fn sort(
    n: &Node,
    v: &mut WsgiVhost,
    primary: &Directive,
    paths: &Paths<'_>,
    static_like: &dyn Fn(&str) -> bool,
) {
    let keep = |v: &mut WsgiVhost, n: &Node| {
        v.kept
            .push((n.text(0).trim_end().to_string(), n.head().at.clone()))
    };
    match n {
        Node::Directive(d) => {
            let a0 = d.arg(0).unwrap_or("").to_string();
            if d.is("ServerName") || d.is("ServerAlias") {
                v.recognised
                    .push((format!("{} → server-name/alias", d.name), d.at.clone()));
            } else if d.is("SSLEngine") {
                v.recognised.push(("SSLEngine → tls".into(), d.at.clone()));
            } else if d.is("SSLCertificateFile") {
                v.certificate = Some(a0);
                v.recognised
                    .push(("→ tls { certificate }".into(), d.at.clone()));
            } else if d.is("SSLCertificateKeyFile") {
                v.key = Some(a0);
                v.recognised.push(("→ tls { key }".into(), d.at.clone()));
            } else if d.is("SSLCertificateChainFile") {
                v.chain = Some(a0);
                keep(v, n);
            } else if d.is("WSGIScriptAlias") {
                if std::ptr::eq(d, primary) {
                    v.recognised
                        .push(("WSGIScriptAlias → mount, the .wsgi".into(), d.at.clone()));
                } else {
                    keep(v, n);
                }
            } else if d.is("WSGIDaemonProcess") {
                if v.group.as_deref() == d.arg(0) {
                    v.recognised.push((
                        "WSGIDaemonProcess → user, group, daemon, venv".into(),
                        d.at.clone(),
                    ));
                } else {
                    keep(v, n);
                }
            } else if d.is("WSGIProcessGroup") || d.is("WSGIApplicationGroup") {
                v.recognised
                    .push((format!("{} (wsgictl writes its own)", d.name), d.at.clone()));
            } else if d.is("Alias") && d.args.len() >= 2 && static_like(&a0) {
                let dir = d.arg(1).unwrap_or("").trim_end_matches('/').to_string();
                v.aliases_dirs.push((a0, dir, d.at.clone()));
                v.recognised
                    .push(("Alias → django { static / media }".into(), d.at.clone()));
            } else if d.is("SetEnv") && !d.args.is_empty() {
                v.env
                    .push((a0, d.arg(1).unwrap_or("").to_string(), d.at.clone()));
            } else if d.is("DocumentRoot") {
                v.document_root = Some((a0, d.at.clone()));
            } else if d.is("ErrorLog")
                || d.is("CustomLog")
                || d.is("TransferLog")
                || d.is("LogLevel")
            {
                v.dropped.push((
                    format!("{}: wsgictl writes the app's own logs (${{APACHE_LOG_DIR}}/wsgictl-APP-*.log)", d.name),
                    d.at.clone(),
                ));
            } else if REMOVED.iter().any(|r| d.is(r)) {
                v.dropped.push((
                    format!(
                        "{}: removed in mod_wsgi 4 (Apache refuses it there)",
                        d.name
                    ),
                    d.at.clone(),
                ));
            } else if (d.is("RewriteRule") || d.is("Redirect") || d.is("RedirectPermanent"))
                && d.args.iter().any(|a| {
                    a.text.starts_with("https://%{SERVER_NAME}")
                        || a.text.starts_with("https://%{HTTP_HOST}")
                })
            {
                v.dropped.push((
                    "redirect to https: wsgictl's plain-HTTP vhost redirects with `tls`".into(),
                    d.at.clone(),
                ));
            } else {
                keep(v, n);
            }
        }
        Node::Include { head, .. } => {
            if head
                .arg(0)
                .is_some_and(|p| p.ends_with("options-ssl-apache.conf"))
            {
                v.dropped.push((
                    "certbot's options-ssl-apache.conf: wsgictl writes Mozilla's intermediate TLS configuration".into(),
                    head.at.clone(),
                ));
            } else {
                keep(v, n);
            }
        }
        Node::Section { head, children } => {
            let path = head.arg(0).unwrap_or("").trim_end_matches('/').to_string();
            let wsgi_only = children.iter().all(|c| {
                matches!(c, Node::Directive(x) if x.is("WSGIProcessGroup") || x.is("WSGIApplicationGroup"))
            });
            let covers = |p: &str| !path.is_empty() && p.starts_with(&path);
            let needed_by_others = head.is("Directory")
                && (paths.others.iter().any(|o| covers(o)) || paths.kept_root.is_some_and(covers));
            let served = head.is("Directory")
                && !needed_by_others
                && (covers(primary.arg(1).unwrap_or(""))
                    || paths.served.iter().any(|dir| covers(dir)));
            let restrictive_on_script = head.is("Directory")
                && !needed_by_others
                && covers(primary.arg(1).unwrap_or(""))
                && walk(children).iter().all(|x| match x {
                    Node::Directive(x) => {
                        ACCESS.iter().any(|a| x.is(a))
                            || x.name.starts_with("Auth")
                            || x.is("Require")
                    }
                    Node::Section { head, .. } => {
                        head.is("Files") || head.is("RequireAll") || head.is("RequireAny")
                    }
                    Node::Include { .. } => false,
                });
            let access_only = |c: &[Node]| {
                c.iter().all(|x| match x {
                    Node::Directive(x) => (ACCESS.iter().any(|a| x.is(a)) && permissive(x)) || x.is("WSGIProcessGroup") || x.is("WSGIApplicationGroup"),
                    Node::Section { head, children } => head.is("Files") && children.iter().all(|y| matches!(y, Node::Directive(y) if ACCESS.iter().any(|a| y.is(a)) && permissive(y))),
                    Node::Include { .. } => false,
                })
            };
            if (head.is("Location") && wsgi_only) || (served && access_only(children)) {
                // One entry per section that uses Apache 2.2's access control.
                if let Some(x) = walk(children).into_iter().find(|x| {
                    let h = x.head();
                    h.is("Order") || h.is("Allow") || h.is("Deny")
                }) {
                    v.old_access.push(x.head().at.clone());
                }
                v.recognised.push((
                    format!(
                        "<{} {}>: access to what wsgictl serves (it writes its own)",
                        head.name, path
                    ),
                    head.at.clone(),
                ));
            } else if restrictive_on_script {
                // The restriction guarded the app: it follows it to its URL.
                // `<Files>` cannot be in a `<Location>`: its lines guard the app itself.
                let mut t = format!("<Location {}>\n", super::tree::quoted(&v.mount));
                for c in children {
                    match c {
                        Node::Section { head, children } if head.is("Files") => {
                            for f in children {
                                t.push_str(&f.text(1));
                            }
                        }
                        c => t.push_str(&c.text(1)),
                    }
                }
                t.push_str("</Location>");
                v.translated.push((t.clone(), head.at.clone()));
                v.kept.push((t, head.at.clone()));
            } else {
                keep(v, n);
            }
        }
    }
}

/// An access directive that grants everyone (what wsgictl writes itself); anything that
/// restricts (`Require ip …`, `Deny from …`, auth) is kept as written instead.
fn permissive(d: &Directive) -> bool {
    let args: Vec<String> = d.args.iter().map(|a| a.text.to_ascii_lowercase()).collect();
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    if d.is("Require") {
        a == ["all", "granted"]
    } else if d.is("Allow") {
        a == ["from", "all"]
    } else if d.is("Deny") {
        a == ["from", "none"]
    } else if d.is("Satisfy") {
        a == ["any"]
    } else {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::conditions::Env;
    use crate::import::dump::Include;
    use std::collections::BTreeMap;

    fn found(text: &str) -> Found {
        let includes = vec![Include {
            file: "/etc/apache2/sites-enabled/old.conf".into(),
            depth: 0,
            at_line: None,
        }];
        let mut files = BTreeMap::new();
        files.insert(includes[0].file.clone(), text.as_bytes().to_vec());
        let c = crate::import::tree::build(&includes, &files, &Env::default());
        find(&c.nodes)
    }

    #[test]
    fn a_daemon_site_with_continuations_old_access_and_a_rewrite() {
        let f = found(
            "WSGIPythonHome /srv/old/venv\n<VirtualHost *:80>\n  ServerName old.example.com\n  ServerAlias www.old.example.com\n  \
             WSGIDaemonProcess old user=old group=old \\\n     processes=3 threads=5 \\\n     python-path=/srv/old/proj:/srv/old/venv/lib/python3.11/site-packages\n  \
             WSGIProcessGroup old\n  WSGIScriptAlias / /srv/old/proj/proj/wsgi.py\n  Alias /static/ /srv/old/static/\n  \
             <Directory /srv/old/proj/proj>\n    <Files wsgi.py>\n      Order allow,deny\n      Allow from all\n    </Files>\n  </Directory>\n  \
             SetEnv DJANGO_SECRET_KEY \"s3cr3t value\"\n  RewriteEngine On\n  RewriteRule ^/old$ /new [R=301,L]\n  WSGIReloadMechanism Process\n  ErrorLog /var/log/old.log\n</VirtualHost>\n",
        );
        assert_eq!(f.wsgi.len(), 1);
        let v = &f.wsgi[0];
        assert_eq!(v.server_name.as_deref(), Some("old.example.com"));
        assert_eq!(v.aliases, ["www.old.example.com"]);
        assert_eq!(v.group.as_deref(), Some("old"));
        let (opts, at) = v.daemon.as_ref().unwrap();
        assert_eq!(at.line, 5);
        assert!(opts.contains(&("processes".into(), "3".into())));
        assert!(
            opts.iter()
                .any(|(k, v)| k == "python-path" && v.ends_with("site-packages"))
        );
        assert_eq!(v.script, "/srv/old/proj/proj/wsgi.py");
        assert_eq!(v.aliases_dirs[0].1, "/srv/old/static");
        assert_eq!(v.old_access.len(), 1);
        assert_eq!(v.env[0].1, "s3cr3t value");
        let kept: Vec<&str> = v.kept.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            kept,
            ["RewriteEngine On", "RewriteRule ^/old$ /new [R=301,L]"]
        );
        assert!(
            v.dropped
                .iter()
                .any(|(t, _)| t.starts_with("WSGIReloadMechanism"))
        );
        assert!(v.dropped.iter().any(|(t, _)| t.starts_with("ErrorLog")));
        assert_eq!(f.globals.python_home.as_ref().unwrap().0, "/srv/old/venv");
    }

    #[test]
    fn embedded_sub_url_and_a_group_from_a_location() {
        let f = found(
            "<VirtualHost *:80>\nServerName e.example.com\nDocumentRoot /var/www/html\nWSGIScriptAlias /app /srv/e/app.wsgi\n</VirtualHost>\n\
             <VirtualHost *:8080>\nServerName l.example.com\nWSGIScriptAlias / /srv/l/app.wsgi\n<Location />\nWSGIProcessGroup lgroup\n</Location>\n</VirtualHost>\n\
             <VirtualHost *:80>\nServerName static.example.com\nRedirect / https://static.example.com/\n</VirtualHost>\n",
        );
        assert_eq!(f.wsgi.len(), 2);
        assert_eq!(f.wsgi[0].mount, "/app");
        assert_eq!(f.wsgi[0].group, None);
        assert_eq!(f.wsgi[0].document_root.as_ref().unwrap().0, "/var/www/html");
        assert_eq!(f.wsgi[1].port, 8080);
        assert_eq!(f.wsgi[1].group.as_deref(), Some("lgroup"));
        assert_eq!(f.other.len(), 1);
        assert!(f.other[0].https_redirect);
        assert_eq!(f.files[0].1.len(), 3);
    }
}
