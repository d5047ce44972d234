//! `<IfModule>`, `<IfDefine>`, `Define`/`UnDefine` and `${NAME}` evaluated over lexed items,
//! with the host's real modules and Defines (from `apache2ctl -M` and `-t -D DUMP_RUN_CFG`),
//! as Apache does while it reads the configuration.
//!
//! Stage: import (pure).

use super::lexer::{Arg, Item, Problem, Severity};
use std::collections::{BTreeMap, BTreeSet};

/// What the host's Apache says of itself.
#[derive(Debug, Default, Clone)]
pub struct Env {
    /// Loaded modules by identifier (`wsgi_module`, `ssl_module`).
    pub modules: BTreeSet<String>,
    /// Defines (`-D NAME`, `Define NAME VALUE`); the value is empty for a bare name.
    pub defines: BTreeMap<String, String>,
}

impl Env {
    /// `wsgi_module`, `mod_wsgi.c` or `mod_wsgi.so`: whether that module is loaded.
    pub fn has_module(&self, name: &str) -> bool {
        let id = match name
            .strip_prefix("mod_")
            .and_then(|n| n.strip_suffix(".c").or_else(|| n.strip_suffix(".so")))
        {
            Some(stem) => format!("{stem}_module"),
            None => name.to_string(),
        };
        self.modules.contains(&id)
    }
}

/// The items Apache would act on, in order: the sections whose condition holds are opened
/// (and their markers dropped), the others skipped whole; Defines are applied and `${NAME}`
/// replaced in every argument. An undefined `${NAME}` stays as written, with a warning.
pub fn evaluate(items: &[Item], env: &mut Env) -> (Vec<Item>, Vec<Problem>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    // Per open section: whether its markers are kept (not a condition).
    let mut kept: Vec<bool> = Vec::new();
    let mut k = 0;
    while k < items.len() {
        let item = &items[k];
        k += 1;
        match item {
            Item::Open { name, args, line }
                if name.eq_ignore_ascii_case("IfModule")
                    || name.eq_ignore_ascii_case("IfDefine") =>
            {
                let word = args
                    .first()
                    .map(|a| expand(&a.text, env, *line, &mut problems))
                    .unwrap_or_default();
                let (negate, what) = match word.strip_prefix('!') {
                    Some(w) => (true, w.to_string()),
                    None => (false, word),
                };
                let holds = if name.eq_ignore_ascii_case("IfModule") {
                    env.has_module(&what)
                } else {
                    env.defines.contains_key(&what)
                } != negate;
                if holds {
                    kept.push(false);
                } else {
                    // Skip to the matching close.
                    let mut depth = 1;
                    while k < items.len() && depth > 0 {
                        match &items[k] {
                            Item::Open { .. } => depth += 1,
                            Item::Close { .. } => depth -= 1,
                            Item::Directive { .. } => {}
                        }
                        k += 1;
                    }
                }
            }
            Item::Open { name, args, line } => {
                kept.push(true);
                out.push(Item::Open {
                    name: name.clone(),
                    args: expand_args(args, env, *line, &mut problems),
                    line: *line,
                });
            }
            Item::Close { .. } => {
                if kept.pop().unwrap_or(true) {
                    out.push(item.clone());
                }
            }
            Item::Directive { name, args, line } => {
                let args = expand_args(args, env, *line, &mut problems);
                if name.eq_ignore_ascii_case("Define") {
                    if let Some(n) = args.first() {
                        let v = args.get(1).map(|a| a.text.clone()).unwrap_or_default();
                        env.defines.insert(n.text.clone(), v);
                    }
                } else if name.eq_ignore_ascii_case("UnDefine")
                    && let Some(n) = args.first()
                {
                    env.defines.remove(&n.text);
                }
                out.push(Item::Directive {
                    name: name.clone(),
                    args,
                    line: *line,
                });
            }
        }
    }
    (out, problems)
}

fn expand_args(args: &[Arg], env: &Env, line: usize, problems: &mut Vec<Problem>) -> Vec<Arg> {
    args.iter()
        .map(|a| Arg {
            text: expand(&a.text, env, line, problems),
            quote: a.quote,
        })
        .collect()
}

/// `${NAME}` replaced by its Define (Apache expands it inside quotes too).
fn expand(s: &str, env: &Env, line: usize, problems: &mut Vec<Problem>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(k) = rest.find("${") {
        out.push_str(&rest[..k]);
        let after = &rest[k + 2..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                match env.defines.get(name) {
                    Some(v) => out.push_str(v),
                    None => {
                        problems.push(Problem {
                            line,
                            severity: Severity::Warning,
                            message: format!("${{{name}}} is not defined (left as written)"),
                        });
                        out.push_str(&rest[k..k + 3 + end]);
                    }
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[k..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::lexer::lex;

    fn env() -> Env {
        Env {
            modules: ["wsgi_module", "ssl_module"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            defines: [("APACHE_LOG_DIR".to_string(), "/var/log/apache2".to_string())].into(),
        }
    }

    fn names(items: &[Item]) -> Vec<String> {
        items
            .iter()
            .map(|i| match i {
                Item::Directive { name, args, .. } => {
                    format!(
                        "{name} {}",
                        args.iter()
                            .map(|a| a.text.as_str())
                            .collect::<Vec<_>>()
                            .join(" ")
                    )
                }
                Item::Open { name, .. } => format!("<{name}>"),
                Item::Close { name, .. } => format!("</{name}>"),
            })
            .collect()
    }

    #[test]
    fn sections_whose_condition_holds_are_read_and_the_others_skipped() {
        let text = b"<IfModule mod_wsgi.c>\n  WSGIDaemonProcess a\n  <IfModule !ssl_module>\n    Skipped 1\n    <Directory /x>\n    </Directory>\n  </IfModule>\n</IfModule>\n<IfModule mod_python.c>\n  Skipped 2\n</IfModule>\n<IfDefine !NOPE>\n  <VirtualHost *:80>\n    ServerName a\n  </VirtualHost>\n</IfDefine>\n";
        let (items, problems) = evaluate(&lex(text).items, &mut env());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            names(&items),
            vec![
                "WSGIDaemonProcess a",
                "<VirtualHost>",
                "ServerName a",
                "</VirtualHost>"
            ]
        );
    }

    #[test]
    fn defines_apply_in_order_and_expand_inside_quotes() {
        let text = b"Define VENV /srv/venv\nWSGIDaemonProcess a python-home=${VENV}\nErrorLog \"${APACHE_LOG_DIR}/a.log\"\n<IfDefine VENV>\n  Seen yes\n</IfDefine>\nUnDefine VENV\n<IfDefine VENV>\n  Seen no\n</IfDefine>\nCustomLog ${NOWHERE}/x\n";
        let (items, problems) = evaluate(&lex(text).items, &mut env());
        let n = names(&items);
        assert!(
            n.contains(&"WSGIDaemonProcess a python-home=/srv/venv".to_string()),
            "{n:?}"
        );
        assert!(
            n.contains(&"ErrorLog /var/log/apache2/a.log".to_string()),
            "{n:?}"
        );
        assert!(
            n.contains(&"Seen yes".to_string()) && !n.contains(&"Seen no".to_string()),
            "{n:?}"
        );
        assert!(n.contains(&"CustomLog ${NOWHERE}/x".to_string()), "{n:?}");
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, 11);
    }

    #[test]
    fn module_names_read_in_either_form() {
        let e = env();
        assert!(
            e.has_module("mod_wsgi.c") && e.has_module("wsgi_module") && e.has_module("mod_ssl.so")
        );
        assert!(!e.has_module("mod_python.c"));
    }
}
