//! KDL document → manifest model, node by node, collecting every problem.
//!
//! Stage: load. Walks kdl's nodes by hand (the serde layer loses spans and unknown fields),
//! checks each value's type and rules where it is read, and keeps going after a problem so the
//! user sees all of them at once. Reads the local file system only to resolve and check the
//! local paths the manifest names (`source`, `requirements`, `from-file`, `templates`).
//! Rules that relate several nodes live in `checks`.
//!
//! This file decodes the document, hosts and their `apache` block; `values` holds the shape and
//! value checks every node uses; `app` decodes apps and their blocks.

pub(super) mod app;
mod tls;
mod values;

use super::diag::Problem;
use super::local::expand_local;
use super::model::*;
use super::rules;
use kdl::{KdlDocument, KdlNode};
use miette::SourceSpan;
use std::path::{Path, PathBuf};
use values::{args, name_span, nodes};

pub(super) struct Decoder<'a> {
    pub problems: Vec<Problem>,
    dir: &'a Path,
    /// Names of every `host` node, read before any app so references are checked even in an
    /// app that has other problems.
    declared_hosts: Vec<String>,
    /// `rootless #true` hosts with their `user`, read before any app: an app on one takes
    /// the account as its user and may not use what needs root.
    rootless_hosts: Vec<(String, Option<String>)>,
    /// Each host's `jump` (the host's name, the value), resolved once every host is read.
    jumps: Vec<(String, Spanned<String>)>,
}

const TOP: &[&str] = &["templates", "host", "app"];
const HOST: &[&str] = &[
    "address",
    "port",
    "user",
    "identity",
    "known-hosts",
    "sudo",
    "packages",
    "apache",
    "rootless",
    "home",
    "watchdog",
    "jump",
];
const APACHE: &[&str] = &["confdir", "layout", "user", "group"];

impl<'a> Decoder<'a> {
    pub fn new(dir: &'a Path) -> Self {
        Decoder {
            problems: Vec::new(),
            dir,
            declared_hosts: Vec::new(),
            rootless_hosts: Vec::new(),
            jumps: Vec::new(),
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
        self.rootless_hosts = doc
            .nodes()
            .iter()
            .filter(|n| n.name().value() == "host")
            .filter(|n| {
                nodes(n).iter().any(|c| {
                    c.name().value() == "rootless"
                        && args(c).next().and_then(|a| a.value().as_bool()) == Some(true)
                })
            })
            .filter_map(|n| {
                let name = args(n).next()?.value().as_string()?.to_string();
                let user = nodes(n)
                    .iter()
                    .find(|c| c.name().value() == "user")
                    .and_then(|c| args(c).next()?.value().as_string().map(str::to_string));
                Some((name, user))
            })
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
        self.resolve_jumps(&mut hosts);
        (templates, hosts, apps)
    }

    /// A `jump` names another host block (its address, port, user and identity), or is
    /// `[user@]host[:port]`. One hop: a jump host with a jump of its own is refused.
    fn resolve_jumps(&mut self, hosts: &mut [Host]) {
        let jumps = std::mem::take(&mut self.jumps);
        let with_jump: Vec<String> = jumps.iter().map(|(h, _)| h.clone()).collect();
        for (host, v) in jumps {
            let Some(i) = hosts.iter().position(|h| *h.name == host) else {
                continue;
            };
            let named = hosts.iter().find(|h| *h.name == v.value);
            let jump = match named {
                Some(j) if *j.name == host => {
                    self.problem(
                        "invalid-jump",
                        v.span,
                        format!("host `{}` cannot be its own jump host", v.value),
                        "itself",
                        Some("name the bastion's host block, or remove `jump`".into()),
                    );
                    continue;
                }
                Some(j) if with_jump.contains(&j.name.value) => {
                    self.problem(
                        "invalid-jump",
                        v.span,
                        format!("host `{}` has a jump host of its own; wsgictl goes through one jump host", v.value),
                        "a chain of jump hosts",
                        Some("jump straight to the last bastion, with `jump \"user@bastion:port\"`".into()),
                    );
                    continue;
                }
                Some(j) => Jump {
                    address: j.address.clone(),
                    port: j.port,
                    user: j.user.clone(),
                    identity: j.identity.clone(),
                },
                None => match Jump::parse(&v.value) {
                    Some(j) => j,
                    None => {
                        self.problem(
                            "invalid-jump",
                            v.span,
                            format!("{:?} is neither a host block nor `[user@]host[:port]`", v.value),
                            "not a jump host",
                            Some("write the name of the bastion's host block, or `jump \"deploy@bastion.example.net:22\"`".into()),
                        );
                        continue;
                    }
                },
            };
            hosts[i].jump = Some(jump);
        }
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
            port: None,
            user: None,
            identity: None,
            known_hosts: None,
            sudo: false,
            packages: true,
            apache: ApacheSettings::default(),
            rootless: false,
            home: None,
            jump: None,
            watchdog: 5,
        };
        let mut packages_node = None;
        let mut sudo_node = None;
        let mut watchdog_node = None;
        let mut home_node = None;
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
                "port" => h.port = self.port(child).map(|p| p.value),
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
                "sudo" => {
                    h.sudo = self.one_bool(child).unwrap_or(false);
                    sudo_node = Some(name_span(child));
                }
                "packages" => {
                    h.packages = self.one_bool(child).unwrap_or(true);
                    packages_node = Some(name_span(child));
                }
                "apache" => h.apache = self.apache(child),
                "rootless" => h.rootless = self.one_bool(child).unwrap_or(false),
                "jump" => {
                    if let Some(v) = self.one_string(child, "jump \"bastion\"")
                        && let Some(n) = &name
                    {
                        self.jumps.push((n.value.clone(), v));
                    }
                }
                "home" => {
                    if let Some(v) = self.one_string(child, "home \"/home/alice\"")
                        && self.remote(&v, "home directory", true)
                        && self.rule(
                            "invalid-remote-path",
                            "home directory",
                            &v,
                            rules::plain_path,
                        )
                    {
                        h.home = Some(v.value.trim_end_matches('/').to_string());
                    }
                    home_node = Some(name_span(child));
                }
                "watchdog" => {
                    if let Some(n) = self.one_int(child, 1, 60, "watchdog 5") {
                        h.watchdog = n.value as u32;
                    }
                    watchdog_node = Some(name_span(child));
                }
                _ => unreachable!("block() only returns known names"),
            }
        }
        if address.is_none() && !self.has_child(node, "address") {
            self.missing(node, "address", "address \"203.0.113.10\"");
        }
        self.rootless_host(
            node,
            &mut h,
            sudo_node,
            packages_node,
            watchdog_node.or(home_node),
        );
        h.name = name?;
        h.address = address?;
        Some(h)
    }

    /// A rootless host is an ordinary account: it names it, never asks for sudo, installs
    /// nothing (preflight says what to ask the admin for), and has no system Apache settings.
    fn rootless_host(
        &mut self,
        node: &KdlNode,
        h: &mut Host,
        sudo: Option<SourceSpan>,
        packages: Option<SourceSpan>,
        watchdog: Option<SourceSpan>,
    ) {
        if !h.rootless {
            if let Some(span) = watchdog {
                self.problem(
                    "rootless-only",
                    span,
                    "`watchdog` and `home` are for the account of a rootless host",
                    "this host is not rootless",
                    Some("add `rootless #true`, or remove them".into()),
                );
            }
            return;
        }
        if h.user.is_none() && !self.has_child(node, "user") {
            self.problem(
                "missing-field",
                name_span(node),
                "a rootless host deploys as one ordinary account, and names it",
                "no `user`",
                Some("add `user \"alice\"` (the account you log in as)".into()),
            );
        }
        if let (true, Some(span)) = (h.sudo, sudo) {
            self.problem(
                "rootless-sudo",
                span,
                "a rootless host never uses sudo",
                "sudo on a rootless host",
                Some("remove `sudo #true` (or `rootless #true` to deploy with root)".into()),
            );
        }
        if let (true, Some(span)) = (h.packages, packages) {
            self.problem(
                "rootless-packages",
                span,
                "a rootless host cannot install packages; preflight says what to ask the admin for",
                "needs root",
                Some("remove `packages #true`".into()),
            );
        }
        h.packages = false;
        if let Some(apache) = nodes(node).iter().find(|c| c.name().value() == "apache") {
            self.problem(
                "rootless-apache",
                name_span(apache),
                "a rootless host runs an Apache of the account's own; the system Apache's settings do not apply",
                "system Apache settings",
                Some("remove the `apache { ... }` block".into()),
            );
        }
    }

    /// The account of the rootless host `name`, when it is one (`None` inside: not said).
    pub(super) fn rootless(&self, name: &str) -> Option<Option<&str>> {
        self.rootless_hosts
            .iter()
            .find(|(h, _)| h == name)
            .map(|(_, u)| u.as_deref())
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
                    if self.remote(&v, "Apache configuration directory", false)
                        && self.rule(
                            "invalid-remote-path",
                            "Apache configuration directory",
                            &v,
                            rules::confdir,
                        )
                    {
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
}
