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
];
const APACHE: &[&str] = &["confdir", "layout", "user", "group"];

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
            port: None,
            user: None,
            identity: None,
            known_hosts: None,
            sudo: false,
            packages: true,
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
                "sudo" => h.sudo = self.one_bool(child).unwrap_or(false),
                "packages" => h.packages = self.one_bool(child).unwrap_or(true),
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
