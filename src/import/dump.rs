//! What Apache says of its own configuration, parsed: `-t -D DUMP_INCLUDES` (every file read,
//! in order, with the line of the parent that included it), `-S` (each vhost with its address,
//! names, aliases and `file:line`, then the run settings: ServerRoot, Defines, user, group) and
//! `-M` (the loaded modules). Asking Apache first means globs, relative `Include`s and
//! conditions are resolved exactly as the server resolves them.
//!
//! Stage: import (pure; fixtures recorded from a real Debian 12 Apache in
//! `tests/fixtures/import/`). Lines that are not part of a listing (AH00558 and other notices)
//! are skipped.

use std::collections::{BTreeMap, BTreeSet};

/// One file of `DUMP_INCLUDES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Include {
    pub file: String,
    /// Nesting below the main file (0 for it).
    pub depth: usize,
    /// The line of the including file; `None` for the main file.
    pub at_line: Option<usize>,
}

pub fn includes(text: &str) -> Vec<Include> {
    let mut out = Vec::new();
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let t = line.trim_start();
        let Some(rest) = t.strip_prefix('(') else {
            continue;
        };
        let Some((mark, file)) = rest.split_once(") ") else {
            continue;
        };
        let at_line = match mark {
            "*" => None,
            n => match n.parse() {
                Ok(n) => Some(n),
                Err(_) => continue,
            },
        };
        out.push(Include {
            file: file.trim().to_string(),
            depth: indent.saturating_sub(2) / 2,
            at_line,
        });
    }
    out
}

/// One vhost of `-S`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vhost {
    /// `*:80`, `127.0.0.1:8443`.
    pub address: String,
    pub name: String,
    pub aliases: Vec<String>,
    pub file: String,
    pub line: usize,
    /// The default server of its address (`default server …`, or the only one).
    pub default: bool,
}

/// The run settings `-S` (and `DUMP_RUN_CFG`) print after the vhosts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunCfg {
    pub server_root: Option<String>,
    pub defines: BTreeMap<String, String>,
    pub user: Option<String>,
    pub group: Option<String>,
}

/// `name (file:line)`: the vhost it locates, at `address`.
fn located(s: &str, address: &str, default: bool) -> Option<Vhost> {
    let (name, rest) = s.trim().split_once(" (")?;
    let inner = rest.strip_suffix(')')?;
    let (file, line) = inner.rsplit_once(':')?;
    Some(Vhost {
        address: address.to_string(),
        name: name.trim().to_string(),
        aliases: Vec::new(),
        file: file.to_string(),
        line: line.parse().ok()?,
        default,
    })
}

pub fn vhosts(text: &str) -> (Vec<Vhost>, RunCfg) {
    let mut out: Vec<Vhost> = Vec::new();
    let mut cfg = RunCfg::default();
    let mut address = String::new();
    let quoted = |v: &str| v.trim().trim_matches('"').to_string();
    for line in text.lines() {
        let t = line.trim();
        if let Some(v) = t.strip_prefix("ServerRoot:") {
            cfg.server_root = Some(quoted(v));
        } else if let Some(v) = t.strip_prefix("Define:") {
            let (k, val) = v.trim().split_once('=').unwrap_or((v.trim(), ""));
            cfg.defines.insert(k.to_string(), val.to_string());
        } else if let Some(v) = t.strip_prefix("User:") {
            cfg.user = field(v, "name");
        } else if let Some(v) = t.strip_prefix("Group:") {
            cfg.group = field(v, "name");
        } else if let Some(rest) = t.strip_prefix("default server ") {
            out.extend(located(rest, &address, true));
        } else if let Some(rest) = t.strip_prefix("port ") {
            // The default server is listed again as a namevhost: keep it once.
            if let Some((_, rest)) = rest.split_once(" namevhost ")
                && let Some(v) = located(rest, &address, false)
                && !out.iter().any(|o| {
                    o.default
                        && o.address == v.address
                        && o.file == v.file
                        && o.line == v.line
                        && o.name == v.name
                })
            {
                out.push(v);
            }
        } else if let Some(a) = t
            .strip_prefix("alias ")
            .or_else(|| t.strip_prefix("wild alias "))
        {
            if let Some(v) = out.last_mut() {
                v.aliases.push(a.trim().to_string());
            }
        } else if !line.starts_with(' ') && t.contains(':') {
            // `*:80   is a NameVirtualHost`, or `127.0.0.1:8443   name (file:line)`.
            let (addr, rest) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
            if !addr.contains(':') || addr.ends_with(':') {
                continue;
            }
            address = addr.to_string();
            out.extend(located(rest, &address, true));
        }
    }
    (out, cfg)
}

/// `name="www-data" id=33` → the name.
fn field(v: &str, key: &str) -> Option<String> {
    let rest = v.split(&format!("{key}=\"")).nth(1)?;
    Some(rest.split('"').next()?.to_string())
}

/// `-M`: the loaded modules' identifiers.
pub fn modules(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| {
            let t = l.trim();
            let (name, kind) = t.split_once(' ')?;
            (name.ends_with("_module") && (kind == "(static)" || kind == "(shared)"))
                .then(|| name.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &str = include_str!("../../tests/fixtures/import/debian12-S.txt");
    const INCLUDES: &str = include_str!("../../tests/fixtures/import/debian12-dump-includes.txt");
    const M: &str = include_str!("../../tests/fixtures/import/debian12-M.txt");

    #[test]
    fn includes_list_every_file_with_the_line_that_included_it() {
        let inc = includes(INCLUDES);
        assert_eq!(
            inc[0],
            Include {
                file: "/etc/apache2/apache2.conf".into(),
                depth: 0,
                at_line: None
            }
        );
        let c = inc
            .iter()
            .find(|i| i.file == "/etc/apache2/sites-enabled/c.conf")
            .unwrap();
        assert_eq!((c.depth, c.at_line), (1, Some(225)));
        assert!(inc.len() > 30, "{inc:?}");
    }

    #[test]
    fn vhosts_carry_address_names_aliases_and_file_line() {
        let (v, cfg) = vhosts(S);
        let a = v.iter().find(|v| v.name == "a.example.com").unwrap();
        assert_eq!(a.address, "*:80");
        assert_eq!(a.aliases, vec!["www.a.example.com", "*.a.example.org"]);
        assert_eq!(
            (a.file.as_str(), a.line, a.default),
            ("/etc/apache2/sites-enabled/ab.conf", 1, false)
        );
        let b = v.iter().find(|v| v.name == "b.example.com").unwrap();
        assert_eq!(b.line, 5);
        let c = v.iter().find(|v| v.name == "c.example.com").unwrap();
        assert_eq!((c.address.as_str(), c.default), ("127.0.0.1:8443", true));
        // The default server is listed once, not twice.
        assert_eq!(
            v.iter()
                .filter(|v| v.file.ends_with("000-default.conf"))
                .count(),
            1
        );
        assert_eq!(cfg.server_root.as_deref(), Some("/etc/apache2"));
        assert_eq!(cfg.user.as_deref(), Some("www-data"));
        assert!(cfg.defines.contains_key("DUMP_VHOSTS"));
    }

    #[test]
    fn modules_are_their_identifiers() {
        let m = modules(M);
        assert!(
            m.contains("core_module") && m.contains("mpm_event_module"),
            "{m:?}"
        );
        assert!(!m.iter().any(|x| x.contains("Loaded")));
    }
}
