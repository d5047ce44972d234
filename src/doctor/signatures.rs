//! Log line → catalogue scenarios (pure).
//!
//! Stage: doctor. Each line is split into Apache's prefix (module, level, pid, errno) and its
//! message; every signature of the catalogue is tried on the message, with its errno
//! condition. Two refinements from the catalogue's notes: "premature end of script headers" is
//! CGI (20) when logged by `cgi`/`cgid` and a crashed daemon (46) when logged by `wsgi`; and an
//! `AH01630` denial of a path below a DocumentRoot (the PATH_TRANSLATED sub-request of a
//! request that Django answered) is the harmless scenario 13, not a missing `Require`.

use super::catalogue::SIGNATURES;
use regex::Regex;
use std::sync::LazyLock;

/// Apache's prefix; the timestamp is optional (some tools strip it).
static PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:\[[^\]]+\] )?\[(?P<module>[a-z_0-9]+):(?P<level>[a-z0-9]+)\] \[pid (?P<pid>\d+)(?::tid \d+)?\] (?:\((?P<errno>\d+)\)[^:]+: )?(?:\[(?:client|remote) [^\]]+\] )?",
    )
    .expect("prefix regex")
});

static COMPILED: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    SIGNATURES
        .iter()
        .map(|s| {
            Regex::new(s.pattern)
                .unwrap_or_else(|e| panic!("catalogue pattern {:?}: {e}", s.pattern))
        })
        .collect()
});

/// A log line split into Apache's prefix and its message.
#[derive(Debug, PartialEq, Eq)]
pub struct Line<'a> {
    pub module: Option<&'a str>,
    /// `error`, `info`, `crit`, … (`None` without Apache's prefix).
    pub level: Option<&'a str>,
    pub errno: Option<u32>,
    pub message: &'a str,
}

/// Apache 2.2's prefix: no module, no pid (`[date] [error] [client 10.0.0.5] …`).
static PREFIX_22: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\[[^\]]+\] \[(?:emerg|alert|crit|error|warn|notice|info|debug)\] (?:\[client [^\]]+\] )?")
        .expect("2.2 prefix regex")
});

pub fn split(line: &str) -> Line<'_> {
    if PREFIX.find(line).is_none()
        && let Some(m) = PREFIX_22.find(line)
    {
        return Line {
            module: None,
            level: None,
            errno: None,
            message: &line[m.end()..],
        };
    }
    match PREFIX.captures(line) {
        Some(c) => Line {
            module: c.name("module").map(|m| m.as_str()),
            level: c.name("level").map(|m| m.as_str()),
            errno: c.name("errno").and_then(|m| m.as_str().parse().ok()),
            message: &line[c.get(0).expect("whole match").end()..],
        },
        None => Line {
            module: None,
            level: None,
            errno: None,
            message: line,
        },
    }
}

/// The catalogue number of `selinux-denial`.
const SELINUX_DENIAL: u8 = 27;

/// What the doctor knows about the site when it reads a log.
#[derive(Debug, Default)]
pub struct Context {
    /// DocumentRoots of the vhosts (`{root}/htdocs` for wsgictl's).
    pub document_roots: Vec<String>,
    /// The host has no SELinux: `selinux-denial` is never a candidate there.
    pub no_selinux: bool,
}

/// What a line says.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Candidate scenarios, most specific first.
    Scenarios(Vec<u8>),
    /// A known-harmless line (e.g. AH00558).
    Noise,
    /// Nothing in the catalogue.
    Unknown,
}

pub fn classify(line: &str, ctx: &Context) -> Verdict {
    let l = split(line);
    let mut out: Vec<u8> = Vec::new();
    let mut noise = false;
    for (sig, rx) in SIGNATURES.iter().zip(COMPILED.iter()) {
        if sig.errno.is_some_and(|e| l.errno != Some(e)) {
            continue;
        }
        let Some(caps) = rx.captures(l.message) else {
            continue;
        };
        if sig.scenarios.is_empty() {
            noise = true;
            continue;
        }
        let mut found: Vec<u8> = sig.scenarios.to_vec();
        if found == [20, 46] {
            found = match l.module {
                Some("cgi" | "cgid") => vec![20],
                Some("wsgi") => vec![46],
                _ => found,
            };
        }
        if let Some(path) = caps.name("path").map(|p| p.as_str())
            && found.contains(&11)
            && ctx
                .document_roots
                .iter()
                .any(|d| path.starts_with(&format!("{}/", d.trim_end_matches('/'))))
        {
            found = vec![13];
        }
        for n in found {
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    if ctx.no_selinux {
        out.retain(|n| *n != SELINUX_DENIAL);
    }
    match (out.is_empty(), noise) {
        (false, _) => Verdict::Scenarios(out),
        (true, true) => Verdict::Noise,
        (true, false) => Verdict::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_is_split_off() {
        let l = split(
            "[Tue Nov 24 09:51:14.068974 2026] [wsgi:error] [pid 17737:tid 17741] (13)Permission denied: [client 127.0.0.1:43050] mod_wsgi (pid=17737): Unable",
        );
        assert_eq!(
            l,
            Line {
                module: Some("wsgi"),
                level: Some("error"),
                errno: Some(13),
                message: "mod_wsgi (pid=17737): Unable"
            }
        );
        assert_eq!(
            split("Fatal Python error: x").message,
            "Fatal Python error: x"
        );
    }

    #[test]
    fn every_pattern_compiles() {
        assert_eq!(COMPILED.len(), SIGNATURES.len());
    }
}
