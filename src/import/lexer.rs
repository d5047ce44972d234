//! A lossless-enough lexer for Apache configuration files, following Apache's own rules
//! (`ap_cfg_getline` and `ap_getword_conf`): a line continues only when `\` is its very last
//! byte; `#` starts a comment only as the first non-blank of a line; arguments are split on
//! blanks, with `"…"` and `'…'` quoting (backslash escapes inside); directive and section
//! names are case-insensitive; `<Section …>` and `</Section>` must balance.
//!
//! Stage: import (pure). Whatever the bytes — CRLF, tabs, a BOM, no final newline, bytes that
//! are not UTF-8, a file cut short — it returns what it could read plus located problems, and
//! never panics.

/// One argument, as Apache sees it after unquoting, with how it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    pub text: String,
    /// `'"'` or `'\''` when it was quoted.
    pub quote: Option<char>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// `Name args…`; `name` as written (compare with [`Item::is`]).
    Directive {
        name: String,
        args: Vec<Arg>,
        line: usize,
    },
    /// `<Name args…>`.
    Open {
        name: String,
        args: Vec<Arg>,
        line: usize,
    },
    /// `</Name>`.
    Close { name: String, line: usize },
}

impl Item {
    /// Whether this is the directive or section `name` (case-insensitive).
    pub fn is(&self, name: &str) -> bool {
        let n = match self {
            Item::Directive { name, .. } | Item::Open { name, .. } | Item::Close { name, .. } => {
                name
            }
        };
        n.eq_ignore_ascii_case(name)
    }

    /// The first physical line it came from (1-based).
    pub fn line(&self) -> usize {
        match self {
            Item::Directive { line, .. } | Item::Open { line, .. } | Item::Close { line, .. } => {
                *line
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Read anyway (a BOM, bytes that are not UTF-8, a continuation at the end of the file).
    Warning,
    /// Apache would refuse it (an unbalanced section, an unterminated quote).
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub severity: Severity,
    pub message: String,
}

#[derive(Debug, Default)]
pub struct Lexed {
    pub items: Vec<Item>,
    pub problems: Vec<Problem>,
}

/// Lex one file's bytes.
pub fn lex(bytes: &[u8]) -> Lexed {
    let mut out = Lexed::default();
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut stack: Vec<(String, usize)> = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    let mut lines = bytes.split(|b| *b == b'\n').enumerate().peekable();
    while let Some((k, raw)) = lines.next() {
        let n = k + 1;
        let last = lines.peek().is_none();
        if last && raw.is_empty() {
            break;
        }
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = match std::str::from_utf8(raw) {
            Ok(t) => t.to_string(),
            Err(_) => {
                out.problems.push(Problem {
                    line: n,
                    severity: Severity::Warning,
                    message: "bytes that are not UTF-8 (read as U+FFFD)".into(),
                });
                String::from_utf8_lossy(raw).into_owned()
            }
        };
        let (start, mut joined) = match pending.take() {
            Some((start, mut before)) => {
                before.push_str(&text);
                (start, before)
            }
            None => (n, text),
        };
        if joined.ends_with('\\') {
            joined.pop();
            if last {
                out.problems.push(Problem {
                    line: start,
                    severity: Severity::Warning,
                    message: "the file ends in the middle of a continued line".into(),
                });
            } else {
                pending = Some((start, joined));
                continue;
            }
        }
        logical(&joined, start, &mut stack, &mut out);
    }
    if let Some((start, text)) = pending {
        logical(&text, start, &mut stack, &mut out);
    }
    for (name, line) in stack.into_iter().rev() {
        out.problems.push(Problem {
            line,
            severity: Severity::Error,
            message: format!("<{name}> is never closed"),
        });
    }
    out
}

/// One logical line (continuations joined), starting at physical line `line`.
fn logical(text: &str, line: usize, stack: &mut Vec<(String, usize)>, out: &mut Lexed) {
    let t = text.trim_start_matches([' ', '\t']);
    if t.is_empty() || t.starts_with('#') {
        return;
    }
    let mut problem = |severity, message: String| {
        out.problems.push(Problem {
            line,
            severity,
            message,
        })
    };
    if let Some(rest) = t.strip_prefix("</") {
        let Some(inner) = rest.trim_end().strip_suffix('>') else {
            problem(
                Severity::Error,
                format!("`{}` has no closing `>`", t.trim_end()),
            );
            return;
        };
        let name = inner.trim().to_string();
        match stack.pop() {
            Some((open, _)) if open.eq_ignore_ascii_case(&name) => {}
            Some((open, at)) => {
                problem(
                    Severity::Error,
                    format!("</{name}> closes <{open}> (opened at line {at})"),
                );
                stack.push((open, at));
                return;
            }
            None => {
                problem(Severity::Error, format!("</{name}> closes no open section"));
                return;
            }
        }
        out.items.push(Item::Close { name, line });
        return;
    }
    if let Some(rest) = t.strip_prefix('<') {
        let Some(inner) = rest.trim_end().strip_suffix('>') else {
            problem(
                Severity::Error,
                format!("`{}` has no closing `>`", t.trim_end()),
            );
            return;
        };
        let (name, args) = split_name(inner);
        match words(args) {
            Ok(args) => {
                stack.push((name.to_string(), line));
                out.items.push(Item::Open {
                    name: name.to_string(),
                    args,
                    line,
                });
            }
            Err(e) => problem(Severity::Error, e),
        }
        return;
    }
    let (name, args) = split_name(t);
    match words(args) {
        Ok(args) => out.items.push(Item::Directive {
            name: name.to_string(),
            args,
            line,
        }),
        Err(e) => problem(Severity::Error, e),
    }
}

fn split_name(t: &str) -> (&str, &str) {
    let t = t.trim_start_matches([' ', '\t']);
    match t.find([' ', '\t']) {
        Some(k) => (&t[..k], &t[k..]),
        None => (t, ""),
    }
}

/// Apache's `ap_getword_conf` over a whole argument list.
fn words(s: &str) -> Result<Vec<Arg>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        let Some(&first) = chars.peek() else {
            return Ok(out);
        };
        if first == '"' || first == '\'' {
            chars.next();
            let mut text = String::new();
            let mut closed = false;
            while let Some(c) = chars.next() {
                if c == '\\' && chars.peek().is_some_and(|n| *n == first || *n == '\\') {
                    text.push(chars.next().unwrap_or(c));
                } else if c == first {
                    closed = true;
                    break;
                } else {
                    text.push(c);
                }
            }
            if !closed {
                return Err(format!("a {first} quote is never closed"));
            }
            out.push(Arg {
                text,
                quote: Some(first),
            });
        } else {
            let mut text = String::new();
            while let Some(&c) = chars.peek() {
                if c == ' ' || c == '\t' {
                    break;
                }
                text.push(c);
                chars.next();
            }
            out.push(Arg { text, quote: None });
        }
    }
}

/// mod_wsgi's `name=value` options (`python-home=/srv/venv`, `"python-path=/a:/b"`): lower-case
/// names and their values, in order; arguments without `=` are skipped.
pub fn options(args: &[Arg]) -> Vec<(String, String)> {
    args.iter()
        .filter_map(|a| a.text.split_once('='))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directive(l: &Lexed, k: usize) -> (String, Vec<String>, usize) {
        match &l.items[k] {
            Item::Directive { name, args, line } => (
                name.clone(),
                args.iter().map(|a| a.text.clone()).collect(),
                *line,
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_backslash_continues_only_as_the_last_byte() {
        let l = lex(b"WSGIDaemonProcess blog \\\n    processes=2 \\\n    threads=15\nServerName x \\ \nNext y\n");
        assert_eq!(
            directive(&l, 0),
            (
                "WSGIDaemonProcess".into(),
                vec!["blog".into(), "processes=2".into(), "threads=15".into()],
                1
            )
        );
        // `\ ` (a blank after it) is an argument, not a continuation.
        assert_eq!(directive(&l, 1).1, vec!["x".to_string(), "\\".to_string()]);
        assert_eq!(directive(&l, 2), ("Next".into(), vec!["y".into()], 5));
        assert!(l.problems.is_empty(), "{:?}", l.problems);
    }

    #[test]
    fn a_hash_is_a_comment_only_at_the_start_of_a_line() {
        let l = lex(b"# a comment\n\t  # indented comment\nHeader set X \"a#b\" #notacomment\n");
        assert_eq!(l.items.len(), 1);
        assert_eq!(
            directive(&l, 0).1,
            vec![
                "set".to_string(),
                "X".into(),
                "a#b".into(),
                "#notacomment".into()
            ]
        );
    }

    #[test]
    fn quotes_group_blanks_and_unescape() {
        let l = lex(br#"Alias "/my files/" '/srv/a b/' "say \"hi\" \\ ok""#);
        let (_, args, _) = directive(&l, 0);
        assert_eq!(args, vec!["/my files/", "/srv/a b/", "say \"hi\" \\ ok"]);
        match &l.items[0] {
            Item::Directive { args, .. } => {
                assert_eq!(args[0].quote, Some('"'));
                assert_eq!(args[1].quote, Some('\''));
            }
            _ => unreachable!(),
        }
        let bad = lex(b"DocumentRoot \"/srv/www\n");
        assert_eq!(bad.problems[0].severity, Severity::Error);
        assert_eq!(bad.problems[0].line, 1);
        assert!(bad.problems[0].message.contains("never closed"));
    }

    #[test]
    fn names_compare_without_case_and_sections_balance() {
        let l = lex(b"<VirtualHost *:80>\n  <IfModule mod_wsgi.c>\n    wsgiscriptalias / /srv/app.wsgi\n  </ifmodule>\n</VIRTUALHOST>\n");
        assert!(l.problems.is_empty(), "{:?}", l.problems);
        assert!(l.items[0].is("virtualhost") && l.items[2].is("WSGIScriptAlias"));
        assert!(l.items[4].is("VirtualHost"));
        let l = lex(b"<VirtualHost *:80>\n<Directory /srv>\n</VirtualHost>\n");
        assert!(l.problems.iter().any(|p| p.line == 3 && p.message.contains("closes <Directory> (opened at line 2)")), "{:?}", l.problems);
        assert!(
            l.problems
                .iter()
                .any(|p| p.message.contains("<VirtualHost> is never closed") && p.line == 1),
            "{:?}",
            l.problems
        );
        let l = lex(b"</Location>\n<Location /x\n");
        assert!(
            l.problems
                .iter()
                .any(|p| p.line == 1 && p.message.contains("closes no open section"))
        );
        assert!(
            l.problems
                .iter()
                .any(|p| p.line == 2 && p.message.contains("no closing `>`"))
        );
    }

    #[test]
    fn crlf_tabs_a_bom_and_no_final_newline_read_as_usual() {
        let l = lex(b"\xEF\xBB\xBFServerName\tblog.example.com\r\nServerAlias www.example.com\r\n\tListen 8080");
        assert_eq!(
            directive(&l, 0),
            ("ServerName".into(), vec!["blog.example.com".into()], 1)
        );
        assert_eq!(directive(&l, 2), ("Listen".into(), vec!["8080".into()], 3));
        assert!(l.problems.is_empty(), "{:?}", l.problems);
    }

    #[test]
    fn broken_bytes_and_a_file_cut_short_are_located_warnings() {
        let l = lex(b"ServerName ok\nSetEnv A caf\xe9\nWSGIDaemonProcess x \\");
        assert_eq!(
            directive(&l, 1).1,
            vec!["A".to_string(), "caf\u{fffd}".into()]
        );
        assert!(
            l.problems
                .iter()
                .any(|p| p.line == 2 && p.severity == Severity::Warning)
        );
        assert!(
            l.problems
                .iter()
                .any(|p| p.line == 3 && p.message.contains("middle of a continued line"))
        );
        assert_eq!(directive(&l, 2).1, vec!["x".to_string()]);
    }

    #[test]
    fn mod_wsgi_options_are_name_value_pairs() {
        let l = lex(b"WSGIDaemonProcess blog user=blog Python-Home=/srv/venv \"python-path=/srv/a b:/srv/c\"\n");
        let Item::Directive { args, .. } = &l.items[0] else {
            unreachable!()
        };
        assert_eq!(
            options(args),
            vec![
                ("user".to_string(), "blog".to_string()),
                ("python-home".into(), "/srv/venv".into()),
                ("python-path".into(), "/srv/a b:/srv/c".into()),
            ]
        );
    }

    /// Arbitrary bytes, biased towards the characters the rules turn on: never a panic, and
    /// every problem on a line that exists.
    #[test]
    fn arbitrary_bytes_never_panic() {
        let alphabet = b"<>/\\\"' \t#\r\n=aZ\xEF\xBB\xBF\xe9\x80";
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 64) as usize;
            let mut input = Vec::with_capacity(len);
            let mut y = x;
            for _ in 0..len {
                y = y.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let b = if y >> 63 == 1 {
                    alphabet[((y >> 32) as usize) % alphabet.len()]
                } else {
                    (y >> 40) as u8
                };
                input.push(b);
            }
            let l = lex(&input);
            let lines = input.split(|b| *b == b'\n').count();
            for p in &l.problems {
                assert!(p.line >= 1 && p.line <= lines, "{p:?} in {input:?}");
            }
        }
    }
}
