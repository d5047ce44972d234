//! Decoding of an app's `tls` block: certificate files on the host, or `acme`, and `hsts`.
//!
//! Stage: load. The names are a contract (issue 10): `certificate`, `key`, `acme { email
//! directory trust }`, `hsts`.

use super::super::model::*;
use super::super::rules;
use super::Decoder;
use super::values::name_span;
use kdl::KdlNode;

const TLS: &[&str] = &["certificate", "key", "acme", "hsts"];
const ACME: &[&str] = &["email", "directory", "trust"];

impl Decoder<'_> {
    pub(super) fn tls(&mut self, node: &KdlNode) -> Option<Tls> {
        self.props(node, &[]);
        let _ = self.count_args(node, 0, 0, "tls { ... }");
        let mut certificate = None;
        let mut key = None;
        let mut acme = None;
        let mut hsts = None;
        let mut ok = true;
        for child in self.block(node, TLS, &[]) {
            match child.name().value() {
                "certificate" | "key" => {
                    let field = child.name().value();
                    let example = if field == "key" {
                        "key \"/etc/ssl/private/blog.key\""
                    } else {
                        "certificate \"/etc/ssl/certs/blog.pem\""
                    };
                    let v = self.one_string(child, example);
                    let v = v.filter(|v| self.remote(v, "path on the host", false));
                    ok &= v.is_some();
                    if field == "key" {
                        key = v
                    } else {
                        certificate = v
                    }
                }
                "acme" => {
                    acme = self.acme(child);
                    ok &= acme.is_some();
                }
                "hsts" => match self.one_int(child, 0, 2 * 365 * 86_400, "hsts 31536000") {
                    Some(v) => hsts = Some(v.value as u32),
                    None => ok = false,
                },
                _ => unreachable!(),
            }
        }
        let source = match (certificate, key, acme) {
            (Some(c), Some(k), None) => Some(TlsSource::Files {
                certificate: c.value,
                key: k.value,
            }),
            (None, None, Some(a)) => Some(TlsSource::Acme(a)),
            (Some(_), Some(_), Some(_)) => {
                self.problem(
                    "conflicting-values",
                    name_span(node),
                    "`tls` has both certificate files and `acme`",
                    "two certificate sources",
                    Some("keep `certificate` and `key` (files already on the host) or `acme { ... }` (requested by certbot), not both".into()),
                );
                None
            }
            (Some(_), None, _) | (None, Some(_), _) => {
                self.problem(
                    "missing-value",
                    name_span(node),
                    "`tls` needs both `certificate` and `key`",
                    "one of the pair",
                    Some("add `certificate \"/etc/ssl/certs/blog.pem\"` (full chain) and `key \"/etc/ssl/private/blog.key\"`".into()),
                );
                None
            }
            (None, None, None) => {
                if ok {
                    self.problem(
                        "missing-value",
                        name_span(node),
                        "`tls` says neither where the certificate is nor where to get one",
                        "no certificate",
                        Some("add `certificate` and `key` (files on the host), or `acme { email \"ops@example.com\" }`".into()),
                    );
                }
                None
            }
        };
        if !ok {
            return None;
        }
        Some(Tls {
            source: source?,
            hsts,
            span: name_span(node),
        })
    }

    fn acme(&mut self, node: &KdlNode) -> Option<Acme> {
        self.props(node, &[]);
        let _ = self.count_args(node, 0, 0, "acme { email \"ops@example.com\" }");
        let mut email = None;
        let mut directory = None;
        let mut trust = None;
        let mut ok = true;
        for child in self.block(node, ACME, &[]) {
            match child.name().value() {
                "email" => {
                    let v = self.one_string(child, "email \"ops@example.com\"");
                    email =
                        v.filter(|v| self.rule("invalid-email", "e-mail address", v, rules::email));
                    ok &= email.is_some();
                }
                "directory" => {
                    let v = self.one_string(child, &format!("directory {LETS_ENCRYPT:?}"));
                    directory = v.filter(|v| {
                        self.rule(
                            "invalid-url",
                            "ACME directory URL",
                            v,
                            rules::acme_directory,
                        )
                    });
                    ok &= directory.is_some();
                }
                "trust" => {
                    let v = self.one_string(child, "trust \"/etc/ssl/acme-ca.pem\"");
                    trust = v.filter(|v| self.remote(v, "path on the host", false));
                    ok &= trust.is_some();
                }
                _ => unreachable!(),
            }
        }
        if !self.has_child(node, "email") {
            self.missing(node, "email", "email \"ops@example.com\"");
            ok = false;
        }
        if !ok {
            return None;
        }
        Some(Acme {
            email: email?.value,
            directory: directory.map_or_else(|| LETS_ENCRYPT.to_string(), |d| d.value),
            trust: trust.map(|t| t.value),
        })
    }
}
