//! The host's whole Apache configuration as one tree, in the order Apache reads it: each file
//! of `DUMP_INCLUDES` lexed, its conditions evaluated with the host's modules and Defines, and
//! spliced in at the `Include` line Apache names for it. Every node keeps its `file:line`.
//!
//! Stage: import (pure). A file whose sections do not balance is still read (its problems
//! are kept, located); a file named by `DUMP_INCLUDES` whose content did not come is skipped
//! with a problem.

use super::conditions::{self, Env};
use super::dump::Include;
use super::lexer::{self, Arg, Item, Severity};
use std::collections::BTreeMap;

/// Where something was written.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct At {
    pub file: String,
    pub line: usize,
}

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub name: String,
    pub args: Vec<Arg>,
    pub at: At,
}

impl Directive {
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    pub fn arg(&self, k: usize) -> Option<&str> {
        self.args.get(k).map(|a| a.text.as_str())
    }

    /// The directive as Apache text again (arguments re-quoted where they need it).
    pub fn text(&self) -> String {
        let mut s = self.name.clone();
        for a in &self.args {
            s.push(' ');
            s.push_str(&requote(a));
        }
        s
    }
}

/// `value` as one Apache argument (quoted when it must be).
pub fn quoted(value: &str) -> String {
    requote(&Arg {
        text: value.to_string(),
        quote: None,
    })
}

fn requote(a: &Arg) -> String {
    let plain = !a.text.is_empty()
        && !a
            .text
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '\'' || c == '\\');
    if plain && a.quote.is_none() {
        return a.text.clone();
    }
    let q = a.quote.unwrap_or('"');
    let mut s = String::from(q);
    for c in a.text.chars() {
        if c == q || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push(q);
    s
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Directive(Directive),
    /// `<Name args>` … `</Name>`.
    Section {
        head: Directive,
        children: Vec<Node>,
    },
    /// `Include`/`IncludeOptional`, with what it brought in.
    Include {
        head: Directive,
        children: Vec<Node>,
    },
}

impl Node {
    pub fn head(&self) -> &Directive {
        match self {
            Node::Directive(d) => d,
            Node::Section { head, .. } | Node::Include { head, .. } => head,
        }
    }

    /// The node as Apache text, indented by `depth` levels of four spaces (an `Include` as
    /// its own line, not what it brought in).
    pub fn text(&self, depth: usize) -> String {
        let pad = "    ".repeat(depth);
        match self {
            Node::Directive(d) | Node::Include { head: d, .. } => format!("{pad}{}\n", d.text()),
            Node::Section { head, children } => {
                let mut s = format!("{pad}<{}>\n", head.text());
                for c in children {
                    s.push_str(&c.text(depth + 1));
                }
                s.push_str(&format!("{pad}</{}>\n", head.name));
                s
            }
        }
    }
}

/// A problem in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub at: At,
    pub severity: Severity,
    pub message: String,
}

#[derive(Debug, Default)]
pub struct Config {
    pub nodes: Vec<Node>,
    pub problems: Vec<Located>,
}

/// Build the tree from `DUMP_INCLUDES` and each file's bytes.
pub fn build(includes: &[Include], files: &BTreeMap<String, Vec<u8>>, env: &Env) -> Config {
    let mut env = env.clone();
    let mut problems = Vec::new();
    // Each file's evaluated items, in DUMP_INCLUDES order (Defines flow from one to the next).
    let mut items: Vec<Vec<Item>> = Vec::new();
    for inc in includes {
        let Some(bytes) = files.get(&inc.file) else {
            problems.push(Located {
                at: At {
                    file: inc.file.clone(),
                    line: 0,
                },
                severity: Severity::Warning,
                message: "Apache reads this file, but it could not be read for import".into(),
            });
            items.push(Vec::new());
            continue;
        };
        let lexed = lexer::lex(bytes);
        let (evaluated, cond_problems) = conditions::evaluate(&lexed.items, &mut env);
        for p in lexed.problems.into_iter().chain(cond_problems) {
            problems.push(Located {
                at: At {
                    file: inc.file.clone(),
                    line: p.line,
                },
                severity: p.severity,
                message: p.message,
            });
        }
        items.push(evaluated);
    }
    let nodes = if includes.is_empty() {
        Vec::new()
    } else {
        file_nodes(0, includes, &items)
    };
    Config { nodes, problems }
}

/// The children of include `k` (the files it brought in, each at the line that included it).
fn children_of(k: usize, includes: &[Include]) -> Vec<usize> {
    let depth = includes[k].depth;
    let mut out = Vec::new();
    for (j, inc) in includes.iter().enumerate().skip(k + 1) {
        if inc.depth <= depth {
            break;
        }
        if inc.depth == depth + 1 {
            out.push(j);
        }
    }
    out
}

/// The line of `k`'s file that included each of its children. `DUMP_INCLUDES` names it, but
/// after a child that includes a file itself, Apache 2.4 prints the *grandchild's* include
/// line for the siblings that follow (measured on Debian 12's 2.4.71: three sites from one
/// `IncludeOptional`, the third with an `Include` at its line 22, list the fourth as `(22)`).
/// A line that is no `Include` of the parent is taken as the previous sibling's.
fn include_lines(k: usize, includes: &[Include], items: &[Vec<Item>]) -> Vec<(usize, usize)> {
    let lines: Vec<usize> = items[k]
        .iter()
        .filter(|i| i.is("Include") || i.is("IncludeOptional"))
        .map(|i| i.line())
        .collect();
    let mut out: Vec<(usize, usize)> = Vec::new();
    for j in children_of(k, includes) {
        let line = match includes[j].at_line {
            Some(l) if lines.contains(&l) => l,
            _ => out
                .last()
                .map(|(_, l)| *l)
                .or(lines.first().copied())
                .unwrap_or(0),
        };
        out.push((j, line));
    }
    out
}

fn file_nodes(k: usize, includes: &[Include], items: &[Vec<Item>]) -> Vec<Node> {
    let file = &includes[k].file;
    let mut children = include_lines(k, includes, items);
    // Sections as a stack of (head, children).
    let mut stack: Vec<(Directive, Vec<Node>)> = Vec::new();
    let mut top: Vec<Node> = Vec::new();
    let at = |line: usize| At {
        file: file.clone(),
        line,
    };
    let push = |stack: &mut Vec<(Directive, Vec<Node>)>, top: &mut Vec<Node>, n: Node| match stack
        .last_mut()
    {
        Some((_, c)) => c.push(n),
        None => top.push(n),
    };
    for item in &items[k] {
        match item {
            Item::Directive { name, args, line } => {
                let head = Directive {
                    name: name.clone(),
                    args: args.clone(),
                    at: at(*line),
                };
                let node = if head.is("Include") || head.is("IncludeOptional") {
                    let mut brought = Vec::new();
                    let mine: Vec<usize> = children
                        .iter()
                        .filter(|(_, l)| l == line)
                        .map(|(j, _)| *j)
                        .collect();
                    children.retain(|(j, _)| !mine.contains(j));
                    for j in mine {
                        brought.extend(file_nodes(j, includes, items));
                    }
                    Node::Include {
                        head,
                        children: brought,
                    }
                } else {
                    Node::Directive(head)
                };
                push(&mut stack, &mut top, node);
            }
            Item::Open { name, args, line } => stack.push((
                Directive {
                    name: name.clone(),
                    args: args.clone(),
                    at: at(*line),
                },
                Vec::new(),
            )),
            Item::Close { .. } => {
                if let Some((head, c)) = stack.pop() {
                    push(&mut stack, &mut top, Node::Section { head, children: c });
                }
            }
        }
    }
    // Unclosed sections (already reported by the lexer) close at the end of the file.
    while let Some((head, c)) = stack.pop() {
        push(&mut stack, &mut top, Node::Section { head, children: c });
    }
    top
}

/// Every node below `nodes`, depth first, looking through sections and includes.
pub fn walk(nodes: &[Node]) -> Vec<&Node> {
    let mut out = Vec::new();
    for n in nodes {
        out.push(n);
        match n {
            Node::Section { children, .. } | Node::Include { children, .. } => {
                out.extend(walk(children))
            }
            Node::Directive(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inc(file: &str, depth: usize, at_line: Option<usize>) -> Include {
        Include {
            file: file.into(),
            depth,
            at_line,
        }
    }

    #[test]
    fn included_files_are_spliced_at_their_include_line() {
        let includes = vec![
            inc("/etc/apache2/apache2.conf", 0, None),
            inc("/etc/apache2/sites-enabled/a.conf", 1, Some(2)),
            inc("/etc/letsencrypt/options-ssl-apache.conf", 2, Some(3)),
            inc("/etc/apache2/sites-enabled/b.conf", 1, Some(2)),
        ];
        let mut files = BTreeMap::new();
        files.insert(
            includes[0].file.clone(),
            b"ServerRoot /etc/apache2\nIncludeOptional sites-enabled/*.conf\nListen 80\n".to_vec(),
        );
        files.insert(
            includes[1].file.clone(),
            b"<VirtualHost *:443>\n  ServerName a\n  Include /etc/letsencrypt/options-ssl-apache.conf\n</VirtualHost>\n".to_vec(),
        );
        files.insert(includes[2].file.clone(), b"SSLProtocol all\n".to_vec());
        files.insert(includes[3].file.clone(), b"ServerName \"b c\"\n".to_vec());
        let c = build(&includes, &files, &Env::default());
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        let text: String = c.nodes.iter().map(|n| n.text(0)).collect();
        assert_eq!(
            text,
            "ServerRoot /etc/apache2\nIncludeOptional sites-enabled/*.conf\nListen 80\n"
        );
        let Node::Include { children, .. } = &c.nodes[1] else {
            panic!()
        };
        assert_eq!(children.len(), 2);
        assert_eq!(
            children[0].text(0),
            "<VirtualHost *:443>\n    ServerName a\n    Include /etc/letsencrypt/options-ssl-apache.conf\n</VirtualHost>\n"
        );
        assert_eq!(children[1].text(0), "ServerName \"b c\"\n");
        let all = walk(&c.nodes);
        let ssl = all.iter().find(|n| n.head().is("SSLProtocol")).unwrap();
        assert_eq!(
            ssl.head().at.to_string(),
            "/etc/letsencrypt/options-ssl-apache.conf:1"
        );
    }

    #[test]
    fn a_sibling_after_a_nested_include_is_spliced_where_its_glob_is() {
        // DUMP_INCLUDES as Debian 12's Apache prints it: d.conf's "(22)" is c.conf's line.
        let dump = "Included configuration files:\n  (*) /etc/apache2/apache2.conf\n    (2) /etc/apache2/sites-enabled/a.conf\n    (2) /etc/apache2/sites-enabled/c.conf\n      (3) /etc/letsencrypt/options-ssl-apache.conf\n    (3) /etc/apache2/sites-enabled/d.conf\n";
        let includes = crate::import::dump::includes(dump);
        assert_eq!(includes[4].at_line, Some(3));
        let mut files = BTreeMap::new();
        files.insert(
            includes[0].file.clone(),
            b"Listen 80\nIncludeOptional sites-enabled/*.conf\n".to_vec(),
        );
        files.insert(includes[1].file.clone(), b"ServerName a\n".to_vec());
        files.insert(
            includes[2].file.clone(),
            b"ServerName c\nServerAlias c2\nInclude /etc/letsencrypt/options-ssl-apache.conf\n"
                .to_vec(),
        );
        files.insert(includes[3].file.clone(), b"SSLProtocol all\n".to_vec());
        files.insert(includes[4].file.clone(), b"ServerName d\n".to_vec());
        let c = build(&includes, &files, &Env::default());
        let Node::Include { children, .. } = &c.nodes[1] else {
            panic!("{:?}", c.nodes)
        };
        let names: Vec<&str> = children.iter().map(|n| n.head().at.file.as_str()).collect();
        assert_eq!(
            names,
            [
                "/etc/apache2/sites-enabled/a.conf",
                "/etc/apache2/sites-enabled/c.conf",
                "/etc/apache2/sites-enabled/c.conf",
                "/etc/apache2/sites-enabled/c.conf",
                "/etc/apache2/sites-enabled/d.conf"
            ]
        );
    }

    #[test]
    fn a_file_that_did_not_come_and_an_unclosed_section_are_reported_not_fatal() {
        let includes = vec![
            inc("/etc/apache2/apache2.conf", 0, None),
            inc("/etc/apache2/sites-enabled/gone.conf", 1, Some(1)),
        ];
        let mut files = BTreeMap::new();
        files.insert(
            includes[0].file.clone(),
            b"Include sites-enabled/*.conf\n<VirtualHost *:80>\nServerName x\n".to_vec(),
        );
        let c = build(&includes, &files, &Env::default());
        assert_eq!(c.problems.len(), 2, "{:?}", c.problems);
        assert!(matches!(&c.nodes[1], Node::Section { children, .. } if children.len() == 1));
    }
}
