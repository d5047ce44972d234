//! KDL document → manifest model, node by node, collecting every problem.
//!
//! Stage: load. Walks kdl's nodes by hand (the serde layer loses spans and unknown fields),
//! checks each value's type and rules where it is read, and keeps going after a problem so the
//! user sees all of them at once. Reads the local file system only to resolve and check the
//! local paths the manifest names (`source`, `requirements`, `from-file`, `templates`).
//! Rules that relate several nodes live in `checks`.

use super::diag::Problem;
use super::model::*;
use super::rules;
use kdl::{KdlDocument, KdlEntry, KdlNode, KdlValue};
use miette::SourceSpan;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

pub(super) struct Decoder<'a> {
    pub problems: Vec<Problem>,
    dir: &'a Path,
    /// Names of every `host` node, read before any app so references are checked even in an
    /// app that has other problems.
    declared_hosts: Vec<String>,
}

const TOP: &[&str] = &["templates", "host", "app"];
const HOST: &[&str] = &[
    "address",
    "port",
    "user",
    "identity",
    "known-hosts",
    "sudo",
    "apache",
];
const APACHE: &[&str] = &["confdir", "layout", "user", "group"];
const APP: &[&str] = &[
    "host",
    "server-name",
    "alias",
    "port",
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
];
const DAEMON: &[&str] = &[
    "processes",
    "threads",
    "maximum-requests",
    "request-timeout",
    "graceful-timeout",
    "queue-timeout",
];

fn kind(v: &KdlValue) -> &'static str {
    match v {
        KdlValue::String(_) => "a string",
        KdlValue::Integer(_) => "an integer",
        KdlValue::Float(_) => "a number with a fraction",
        KdlValue::Bool(_) => "a boolean",
        KdlValue::Null => "#null",
    }
}

fn name_span(node: &KdlNode) -> SourceSpan {
    node.name().span()
}

fn args(node: &KdlNode) -> impl Iterator<Item = &KdlEntry> {
    node.entries().iter().filter(|e| e.name().is_none())
}

fn nodes(node: &KdlNode) -> &[KdlNode] {
    node.children().map(KdlDocument::nodes).unwrap_or(&[])
}

impl<'a> Decoder<'a> {
    pub fn new(dir: &'a Path) -> Self {
        Decoder {
            problems: Vec::new(),
            dir,
            declared_hosts: Vec::new(),
        }
    }

    pub fn problem(
        &mut self,
        code: &'static str,
        span: SourceSpan,
        message: impl Into<String>,
        label: impl Into<String>,
        help: Option<String>,
    ) {
        self.problems.push(Problem {
            code,
            message: message.into(),
            span,
            label: label.into(),
            help,
        });
    }

    // ---- shape checks ------------------------------------------------------------------------

    /// Report properties other than `allowed` on `node`.
    fn props(&mut self, node: &KdlNode, allowed: &[&str]) {
        for e in node.entries() {
            if let Some(key) = e.name()
                && !allowed.contains(&key.value())
            {
                let help = match rules::suggest(key.value(), allowed) {
                    Some(s) => Some(format!("did you mean `{s}=`?")),
                    None if allowed.is_empty() => Some(format!(
                        "`{}` takes no properties; remove it",
                        node.name().value()
                    )),
                    None => Some(format!(
                        "`{}` accepts: {}",
                        node.name().value(),
                        allowed.join(", ")
                    )),
                };
                self.problem(
                    "unknown-property",
                    e.span(),
                    format!(
                        "unknown property `{}` on `{}`",
                        key.value(),
                        node.name().value()
                    ),
                    "not a known property",
                    help,
                );
            }
        }
    }

    /// Report a children block on a node that takes none.
    fn leaf(&mut self, node: &KdlNode) {
        if node.children().is_some() {
            self.problem(
                "unexpected-block",
                name_span(node),
                format!(
                    "`{}` does not take a `{{ ... }}` block",
                    node.name().value()
                ),
                "has a block",
                Some("remove the braces and what is inside them".into()),
            );
        }
    }

    /// The children of a block node; unknown names and repeated singular names are reported.
    fn block<'n>(
        &mut self,
        node: &'n KdlNode,
        known: &[&str],
        repeatable: &[&str],
    ) -> Vec<&'n KdlNode> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for child in nodes(node) {
            let name = child.name().value();
            if !known.contains(&name) {
                let help = match rules::suggest(name, known) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("`{}` accepts: {}", node.name().value(), known.join(", ")),
                };
                self.problem(
                    "unknown-node",
                    name_span(child),
                    format!("unknown node `{name}` in `{}`", node.name().value()),
                    "not known here",
                    Some(help),
                );
                continue;
            }
            if !repeatable.contains(&name) && !seen.insert(name) {
                self.problem(
                    "duplicate-node",
                    name_span(child),
                    format!(
                        "`{name}` is given more than once in `{}`",
                        node.name().value()
                    ),
                    "given again here",
                    Some("keep one of them".into()),
                );
                continue;
            }
            out.push(child);
        }
        out
    }

    fn missing(&mut self, parent: &KdlNode, what: &str, example: &str) {
        self.problem(
            "missing-value",
            name_span(parent),
            format!("`{}` is missing `{what}`", parent.name().value()),
            format!("needs `{what}`"),
            Some(format!("add `{example}` inside this block")),
        );
    }

    // ---- values --------------------------------------------------------------------------

    /// A string value; control characters are refused here, for every string in the manifest.
    fn string(&mut self, node: &KdlNode, e: &KdlEntry) -> Option<Spanned<String>> {
        match e.value() {
            KdlValue::String(s) => {
                if let Some(c) = rules::control_char(s) {
                    self.problem(
                        "control-character",
                        e.span(),
                        format!(
                            "value of `{}` contains the control character {c:?}",
                            node.name().value()
                        ),
                        "contains a control character",
                        Some("write it on one line, without newlines, tabs or NUL bytes".into()),
                    );
                    return None;
                }
                Some(Spanned {
                    value: s.clone(),
                    span: e.span(),
                })
            }
            other => {
                let help = match other {
                    KdlValue::Integer(i) => format!("quote it: `\"{i}\"`"),
                    KdlValue::Bool(b) => format!("quote it: `\"{b}\"`"),
                    _ => "write a quoted string".to_string(),
                };
                self.problem(
                    "wrong-type",
                    e.span(),
                    format!(
                        "`{}` expects a string, found {}",
                        node.name().value(),
                        kind(other)
                    ),
                    "expected a string",
                    Some(help),
                );
                None
            }
        }
    }

    fn int(&mut self, node: &KdlNode, e: &KdlEntry, lo: i128, hi: i128) -> Option<Spanned<i128>> {
        match e.value() {
            KdlValue::Integer(i) if (lo..=hi).contains(i) => Some(Spanned {
                value: *i,
                span: e.span(),
            }),
            KdlValue::Integer(i) => {
                self.problem(
                    "out-of-range",
                    e.span(),
                    format!(
                        "`{}` must be between {lo} and {hi}, found {i}",
                        node.name().value()
                    ),
                    "out of range",
                    Some(format!("use a whole number from {lo} to {hi}")),
                );
                None
            }
            other => {
                let help = match other {
                    KdlValue::String(s) if s.parse::<i128>().is_ok() => {
                        format!("drop the quotes: `{s}`")
                    }
                    _ => format!("write a whole number from {lo} to {hi}"),
                };
                self.problem(
                    "wrong-type",
                    e.span(),
                    format!(
                        "`{}` expects an integer, found {}",
                        node.name().value(),
                        kind(other)
                    ),
                    "expected an integer",
                    Some(help),
                );
                None
            }
        }
    }

    fn boolean(&mut self, node: &KdlNode, e: &KdlEntry) -> Option<bool> {
        match e.value() {
            KdlValue::Bool(b) => Some(*b),
            other => {
                self.problem(
                    "wrong-type",
                    e.span(),
                    format!(
                        "`{}` expects #true or #false, found {}",
                        node.name().value(),
                        kind(other)
                    ),
                    "expected a boolean",
                    Some("KDL v2 booleans are written `#true` and `#false`".into()),
                );
                None
            }
        }
    }

    /// Exactly `n` positional arguments, no properties, no block.
    fn exact_args<'n>(
        &mut self,
        node: &'n KdlNode,
        n: usize,
        example: &str,
    ) -> Option<Vec<&'n KdlEntry>> {
        self.props(node, &[]);
        self.leaf(node);
        self.count_args(node, n, n, example)
    }

    fn count_args<'n>(
        &mut self,
        node: &'n KdlNode,
        min: usize,
        max: usize,
        example: &str,
    ) -> Option<Vec<&'n KdlEntry>> {
        let a: Vec<_> = args(node).collect();
        if a.len() < min || a.len() > max {
            let wanted = match (min, max) {
                (1, 1) => "one value".to_string(),
                (m, x) if m == x => format!("{m} values"),
                (m, usize::MAX) => format!("at least {m} value{}", if m == 1 { "" } else { "s" }),
                (m, x) => format!("{m} to {x} values"),
            };
            let span = a.get(max).map_or_else(|| name_span(node), |e| e.span());
            self.problem(
                if a.len() < min {
                    "missing-value"
                } else {
                    "extra-value"
                },
                span,
                format!(
                    "`{}` takes {wanted}, found {}",
                    node.name().value(),
                    a.len()
                ),
                if a.len() < min {
                    "value missing"
                } else {
                    "extra value"
                },
                Some(format!("write it as `{example}`")),
            );
            return None;
        }
        Some(a)
    }

    fn one_string(&mut self, node: &KdlNode, example: &str) -> Option<Spanned<String>> {
        let a = self.exact_args(node, 1, example)?;
        self.string(node, a[0])
    }

    fn one_int(
        &mut self,
        node: &KdlNode,
        lo: i128,
        hi: i128,
        example: &str,
    ) -> Option<Spanned<i128>> {
        let a = self.exact_args(node, 1, example)?;
        self.int(node, a[0], lo, hi)
    }

    fn one_bool(&mut self, node: &KdlNode) -> Option<bool> {
        let example = format!("{} #true", node.name().value());
        let a = self.exact_args(node, 1, &example)?;
        self.boolean(node, a[0])
    }

    /// One or more string values, no properties, no block.
    fn strings(&mut self, node: &KdlNode, example: &str) -> Vec<Spanned<String>> {
        self.props(node, &[]);
        self.leaf(node);
        let Some(a) = self.count_args(node, 1, usize::MAX, example) else {
            return Vec::new();
        };
        a.into_iter().filter_map(|e| self.string(node, e)).collect()
    }

    /// Apply a value rule; on failure report it at the value's span.
    fn rule(
        &mut self,
        code: &'static str,
        what: &str,
        v: &Spanned<String>,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> bool {
        match check(&v.value) {
            Ok(()) => true,
            Err(expected) => {
                self.problem(
                    code,
                    v.span,
                    format!("invalid {what} {:?}", v.value),
                    format!("not {}", article(what)),
                    Some(format!("expected {expected}")),
                );
                false
            }
        }
    }

    fn port(&mut self, node: &KdlNode) -> Option<Spanned<u16>> {
        let p = self.one_int(node, 1, 65535, "port 80")?;
        Some(Spanned {
            value: p.value as u16,
            span: p.span,
        })
    }

    /// A local path, relative to the manifest's directory (or `~/`), that must exist.
    fn local_path(&mut self, v: &Spanned<String>, what: &str, want_dir: bool) -> Option<PathBuf> {
        let path = expand_local(self.dir, &v.value);
        let ok = if want_dir {
            path.is_dir()
        } else {
            path.is_file()
        };
        if !ok {
            let found = if path.exists() {
                if want_dir {
                    "it is not a directory"
                } else {
                    "it is not a regular file"
                }
            } else {
                "it does not exist"
            };
            self.problem(
                "missing-local-path",
                v.span,
                format!("{what} {:?} not found: {found}", v.value),
                format!("{found}: {}", path.display()),
                Some(format!(
                    "local paths are relative to the manifest's directory; fix the path or create the {}",
                    if want_dir { "directory" } else { "file" }
                )),
            );
            return None;
        }
        // Exists, so it can be resolved: `ok/../project/x` is shown as `project/x`.
        Some(path.canonicalize().unwrap_or(path))
    }

    fn remote(&mut self, v: &Spanned<String>, what: &str, colon_free: bool) -> bool {
        self.rule("invalid-remote-path", what, v, |s| {
            rules::remote_path(s, colon_free)
        })
    }

    // ---- document -----------------------------------------------------------------------------

    pub fn document(&mut self, doc: &KdlDocument) -> (Option<PathBuf>, Vec<Host>, Vec<App>) {
        let (mut templates, mut hosts, mut apps) = (None, Vec::new(), Vec::new());
        let mut seen_templates = false;
        self.declared_hosts = doc
            .nodes()
            .iter()
            .filter(|n| n.name().value() == "host")
            .filter_map(|n| args(n).next()?.value().as_string().map(str::to_string))
            .collect();
        for node in doc.nodes() {
            match node.name().value() {
                "templates" => {
                    if std::mem::replace(&mut seen_templates, true) {
                        self.problem(
                            "duplicate-node",
                            name_span(node),
                            "`templates` is given more than once",
                            "given again here",
                            Some("keep one `templates` directory".into()),
                        );
                        continue;
                    }
                    if let Some(v) = self.one_string(node, "templates \"./templates\"") {
                        templates = self.local_path(&v, "template directory", true);
                    }
                }
                "host" => hosts.extend(self.host(node)),
                "app" => apps.extend(self.app(node)),
                other => {
                    let help = match rules::suggest(other, TOP) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => "the top level accepts: templates, host, app".into(),
                    };
                    self.problem(
                        "unknown-node",
                        name_span(node),
                        format!("unknown top-level node `{other}`"),
                        "not known here",
                        Some(help),
                    );
                }
            }
        }
        (templates, hosts, apps)
    }

    fn block_name(&mut self, node: &KdlNode, example: &str) -> Option<Spanned<String>> {
        self.props(node, &[]);
        let name = self
            .count_args(node, 1, 1, example)
            .and_then(|a| self.string(node, a[0]));
        if node.children().is_none() {
            self.problem(
                "missing-block",
                name_span(node),
                format!("`{}` needs a `{{ ... }}` block", node.name().value()),
                "no block",
                Some(format!("write it as `{example} {{ ... }}`")),
            );
        }
        name
    }

    fn host(&mut self, node: &KdlNode) -> Option<Host> {
        let name = self.block_name(node, "host \"web1\"");
        if let Some(n) = &name {
            self.rule("invalid-name", "host name", n, rules::host_label);
        }
        let mut address = None;
        let mut h = Host {
            name: Spanned {
                value: String::new(),
                span: name_span(node),
            },
            address: String::new(),
            port: 22,
            user: None,
            identity: None,
            known_hosts: None,
            sudo: false,
            apache: ApacheSettings::default(),
        };
        for child in self.block(node, HOST, &[]) {
            match child.name().value() {
                "address" => {
                    if let Some(v) = self.one_string(child, "address \"203.0.113.10\"") {
                        if v.value.is_empty()
                            || v.value.contains(char::is_whitespace)
                            || v.value.starts_with('-')
                        {
                            self.problem(
                                "invalid-address",
                                v.span,
                                format!("invalid address {:?}", v.value),
                                "not an address",
                                Some("expected a DNS name, an IP address or a Host alias from ~/.ssh/config".into()),
                            );
                        } else {
                            address = Some(v.value);
                        }
                    }
                }
                "port" => h.port = self.port(child).map_or(22, |p| p.value),
                "user" => {
                    if let Some(v) = self.one_string(child, "user \"deploy\"")
                        && self.rule("invalid-name", "user name", &v, rules::account_name)
                    {
                        h.user = Some(v.value);
                    }
                }
                "identity" => {
                    h.identity = self
                        .one_string(child, "identity \"~/.ssh/id_ed25519\"")
                        .map(|v| expand_local(self.dir, &v.value))
                }
                "known-hosts" => {
                    h.known_hosts = self
                        .one_string(child, "known-hosts \"~/.ssh/known_hosts\"")
                        .map(|v| expand_local(self.dir, &v.value))
                }
                "sudo" => h.sudo = self.one_bool(child).unwrap_or(false),
                "apache" => h.apache = self.apache(child),
                _ => unreachable!("block() only returns known names"),
            }
        }
        if address.is_none() && !self.has_child(node, "address") {
            self.missing(node, "address", "address \"203.0.113.10\"");
        }
        h.name = name?;
        h.address = address?;
        Some(h)
    }

    fn has_child(&self, node: &KdlNode, name: &str) -> bool {
        nodes(node).iter().any(|c| c.name().value() == name)
    }

    fn apache(&mut self, node: &KdlNode) -> ApacheSettings {
        self.props(node, &[]);
        let _ = self.count_args(node, 0, 0, "apache { ... }");
        let mut a = ApacheSettings::default();
        for child in self.block(node, APACHE, &[]) {
            let name = child.name().value();
            let Some(v) = self.one_string(child, &format!("{name} \"...\"")) else {
                continue;
            };
            match name {
                "confdir" => {
                    if self.remote(&v, "Apache configuration directory", false) {
                        a.confdir = Some(v.value.trim_end_matches('/').to_string());
                    }
                }
                "layout" => match v.value.as_str() {
                    "debian" => a.layout = Some(Layout::Debian),
                    "rhel" => a.layout = Some(Layout::Rhel),
                    other => self.problem(
                        "invalid-choice",
                        v.span,
                        format!("unknown Apache layout {other:?}"),
                        "not a known layout",
                        Some("expected \"debian\" (apache2ctl, sites-available) or \"rhel\" (httpd, conf.d)".into()),
                    ),
                },
                "user" | "group" => {
                    if self.rule("invalid-name", "account name", &v, rules::account_name) {
                        if name == "user" {
                            a.user = Some(v.value);
                        } else {
                            a.group = Some(v.value);
                        }
                    }
                }
                _ => unreachable!(),
            }
        }
        a
    }

    fn app(&mut self, node: &KdlNode) -> Option<App> {
        let name = self.block_name(node, "app \"blog\"");
        let name_ok = name
            .as_ref()
            .is_some_and(|n| self.rule("invalid-name", "app name", n, rules::app_name));
        let mut hosts = Vec::new();
        let mut server_name = None;
        let mut aliases = Vec::new();
        let mut port = None;
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
        let mut ok = true;

        for child in self.block(node, APP, &["host", "alias", "secret"]) {
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
                _ => unreachable!(),
            }
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
            ("user", self.has_child(node, "user"), "user \"blog\""),
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
        if !(ok && name_ok) {
            return None;
        }
        let user = user?;
        Some(App {
            name: name?,
            hosts,
            server_name: server_name?,
            aliases,
            port: port.unwrap_or(Spanned {
                value: 80,
                span: name_span(node),
            }),
            root: root?,
            group: group.map_or_else(|| user.value.clone(), |g| g.value),
            user: user.value,
            source: source?,
            python: python.map_or_else(|| "/usr/bin/python3".to_string(), |p| p.value),
            venv: venv?,
            django: django?,
            daemon,
            env,
            secrets,
            health: health.map(|h| h.value),
        })
    }

    /// `DJANGO_SETTINGS_MODULE` is assigned by the `.wsgi` from `django { settings }`.
    fn not_reserved(&mut self, name: &Spanned<String>) -> bool {
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

    fn known_host(&mut self, h: &Spanned<String>) {
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

    fn not_slash(&mut self, v: &Spanned<String>) -> bool {
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

    fn source(&mut self, node: &KdlNode) -> Option<Source> {
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

    fn venv(&mut self, node: &KdlNode, root: Option<&Spanned<String>>) -> Option<Venv> {
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
        let path = match path {
            Some(p) => p.value.trim_end_matches('/').to_string(),
            None => format!("{}/venv", root?.value.trim_end_matches('/')),
        };
        Some(Venv {
            path,
            requirements,
            packages,
        })
    }

    fn django(&mut self, node: &KdlNode) -> Option<Django> {
        self.props(node, &[]);
        let _ = self.count_args(node, 0, 0, "django { ... }");
        let mut settings = None;
        let mut wsgi = None;
        let mut static_files = None;
        let mut media = None;
        let (mut collectstatic, mut migrate) = (false, false);
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
        let settings = settings?.value;
        let wsgi = wsgi.map_or_else(|| default_wsgi_module(&settings), |w| w.value);
        Some(Django {
            settings,
            wsgi,
            static_files: static_files?,
            media,
            collectstatic,
            migrate,
        })
    }

    fn url_dir(&mut self, node: &KdlNode, example: &str) -> Option<UrlDir> {
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
        })
    }

    fn daemon(&mut self, node: &KdlNode) -> Daemon {
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

    fn env(&mut self, node: &KdlNode) -> Vec<EnvVar> {
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

    fn secret(&mut self, node: &KdlNode) -> Option<SecretRef> {
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

fn article(what: &str) -> String {
    let vowel = what.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {what}", if vowel { "an" } else { "a" })
}

/// `blog.settings` → `blog.wsgi`; a top-level `settings` → `wsgi`.
pub fn default_wsgi_module(settings: &str) -> String {
    match settings.rsplit_once('.') {
        Some((package, _)) => format!("{package}.wsgi"),
        None => "wsgi".to_string(),
    }
}

/// Resolve a local path from the manifest: `~/` is the user's home, relative paths are relative
/// to the manifest's directory.
pub fn expand_local(dir: &Path, s: &str) -> PathBuf {
    let path = match s.strip_prefix("~/").zip(std::env::var_os("HOME")) {
        Some((rest, home)) => PathBuf::from(home).join(rest),
        None => dir.join(s),
    };
    normalize(&path)
}

/// Drop `.` components and fold `..` into its parent, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wsgi_module_default_follows_settings_package() {
        assert_eq!(default_wsgi_module("blog.settings"), "blog.wsgi");
        assert_eq!(
            default_wsgi_module("conf.settings.prod"),
            "conf.settings.wsgi"
        );
        assert_eq!(default_wsgi_module("settings"), "wsgi");
    }

    #[test]
    fn local_paths_resolve_against_the_manifest() {
        let dir = Path::new("/work/site");
        assert_eq!(expand_local(dir, "./blog"), Path::new("/work/site/blog"));
        assert_eq!(
            expand_local(dir, "../shared/./x"),
            Path::new("/work/shared/x")
        );
        assert_eq!(expand_local(dir, "/abs/x"), Path::new("/abs/x"));
    }
}
