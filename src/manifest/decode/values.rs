//! Shape and value checks shared by every node: argument counts, properties, blocks, types,
//! and the rule and local-path checks, each reporting a problem at the value's span.
//!
//! Stage: load. Reads the file system only to check that a local path exists.

use super::super::local::expand_local;
use super::super::model::Spanned;
use super::super::rules;
use super::Decoder;
use kdl::{KdlDocument, KdlEntry, KdlNode, KdlValue};
use miette::SourceSpan;
use std::collections::HashSet;
use std::path::PathBuf;

pub(super) fn kind(v: &KdlValue) -> &'static str {
    match v {
        KdlValue::String(_) => "a string",
        KdlValue::Integer(_) => "an integer",
        KdlValue::Float(_) => "a number with a fraction",
        KdlValue::Bool(_) => "a boolean",
        KdlValue::Null => "#null",
    }
}

pub(super) fn name_span(node: &KdlNode) -> SourceSpan {
    node.name().span()
}

pub(super) fn args(node: &KdlNode) -> impl Iterator<Item = &KdlEntry> {
    node.entries().iter().filter(|e| e.name().is_none())
}

pub(super) fn nodes(node: &KdlNode) -> &[KdlNode] {
    node.children().map(KdlDocument::nodes).unwrap_or(&[])
}

impl Decoder<'_> {
    // ---- shape checks ------------------------------------------------------------------------

    /// Report properties other than `allowed` on `node`.
    pub(super) fn props(&mut self, node: &KdlNode, allowed: &[&str]) {
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
    pub(super) fn leaf(&mut self, node: &KdlNode) {
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
    pub(super) fn block<'n>(
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

    pub(super) fn missing(&mut self, parent: &KdlNode, what: &str, example: &str) {
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
    pub(super) fn string(&mut self, node: &KdlNode, e: &KdlEntry) -> Option<Spanned<String>> {
        self.string_lines(node, e, false)
    }

    /// One string of several lines (newlines and tabs allowed; other control characters not).
    pub(super) fn text(&mut self, node: &KdlNode, example: &str) -> Option<Spanned<String>> {
        let a = self.exact_args(node, 1, example)?;
        self.string_lines(node, a[0], true)
    }

    fn string_lines(
        &mut self,
        node: &KdlNode,
        e: &KdlEntry,
        lines: bool,
    ) -> Option<Spanned<String>> {
        match e.value() {
            KdlValue::String(s) => {
                let bad = if lines {
                    rules::text_control_char(s)
                } else {
                    rules::control_char(s)
                };
                if let Some(c) = bad {
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

    pub(super) fn int(
        &mut self,
        node: &KdlNode,
        e: &KdlEntry,
        lo: i128,
        hi: i128,
    ) -> Option<Spanned<i128>> {
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

    pub(super) fn boolean(&mut self, node: &KdlNode, e: &KdlEntry) -> Option<bool> {
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
    pub(super) fn exact_args<'n>(
        &mut self,
        node: &'n KdlNode,
        n: usize,
        example: &str,
    ) -> Option<Vec<&'n KdlEntry>> {
        self.props(node, &[]);
        self.leaf(node);
        self.count_args(node, n, n, example)
    }

    pub(super) fn count_args<'n>(
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

    pub(super) fn one_string(&mut self, node: &KdlNode, example: &str) -> Option<Spanned<String>> {
        let a = self.exact_args(node, 1, example)?;
        self.string(node, a[0])
    }

    pub(super) fn one_int(
        &mut self,
        node: &KdlNode,
        lo: i128,
        hi: i128,
        example: &str,
    ) -> Option<Spanned<i128>> {
        let a = self.exact_args(node, 1, example)?;
        self.int(node, a[0], lo, hi)
    }

    pub(super) fn one_bool(&mut self, node: &KdlNode) -> Option<bool> {
        let example = format!("{} #true", node.name().value());
        let a = self.exact_args(node, 1, &example)?;
        self.boolean(node, a[0])
    }

    /// One or more string values, no properties, no block.
    pub(super) fn strings(&mut self, node: &KdlNode, example: &str) -> Vec<Spanned<String>> {
        self.props(node, &[]);
        self.leaf(node);
        let Some(a) = self.count_args(node, 1, usize::MAX, example) else {
            return Vec::new();
        };
        a.into_iter().filter_map(|e| self.string(node, e)).collect()
    }

    /// Apply a value rule; on failure report it at the value's span.
    pub(super) fn rule(
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

    pub(super) fn port(&mut self, node: &KdlNode) -> Option<Spanned<u16>> {
        let p = self.one_int(node, 1, 65535, "port 80")?;
        Some(Spanned {
            value: p.value as u16,
            span: p.span,
        })
    }

    /// A local path, relative to the manifest's directory (or `~/`), that must exist.
    pub(super) fn local_path(
        &mut self,
        v: &Spanned<String>,
        what: &str,
        want_dir: bool,
    ) -> Option<PathBuf> {
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

    pub(super) fn remote(&mut self, v: &Spanned<String>, what: &str, colon_free: bool) -> bool {
        self.rule("invalid-remote-path", what, v, |s| {
            rules::remote_path(s, colon_free)
        })
    }
}

pub(super) fn article(what: &str) -> String {
    let vowel = what.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {what}", if vowel { "an" } else { "a" })
}
