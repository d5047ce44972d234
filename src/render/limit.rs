//! `--limit PATTERN`: which hosts and apps a run touches, from a comma list of shell globs
//! over host and app names, `!` in front of one to leave it out (pure).
//!
//! An app is selected when its name or its host's name matches one of the positive terms (or
//! there are none), and neither matches a `!` term: `web*,!web3` is every app on the hosts
//! named `web…` but web3; `blog` is the app `blog` wherever it runs; `!blog` everything but it.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    terms: Vec<Term>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Term {
    leave_out: bool,
    glob: glob::Pattern,
}

impl Limit {
    pub fn parse(s: &str) -> Result<Limit, String> {
        let mut terms = Vec::new();
        for raw in s.split(',') {
            let t = raw.trim();
            let (leave_out, glob) = match t.strip_prefix('!') {
                Some(g) => (true, g.trim()),
                None => (false, t),
            };
            if glob.is_empty() {
                return Err(format!(
                    "`{s}` has an empty term: write names or globs separated by commas, like `web*,!web3`"
                ));
            }
            let pattern = glob::Pattern::new(glob)
                .map_err(|e| format!("`{glob}` in `{s}` is not a glob: {}", e.msg))?;
            terms.push(Term {
                leave_out,
                glob: pattern,
            });
        }
        Ok(Limit { terms })
    }

    /// Whether the app `app` on `host` is in.
    pub fn selects(&self, host: &str, app: &str) -> bool {
        let hit = |t: &Term| t.glob.matches(host) || t.glob.matches(app);
        let mut positive = self.terms.iter().filter(|t| !t.leave_out).peekable();
        let included = positive.peek().is_none() || positive.any(hit);
        included && !self.terms.iter().filter(|t| t.leave_out).any(hit)
    }

    /// The terms that match none of `names` (a typo, or a host that was renamed).
    pub fn unmatched<'a>(&'a self, names: &[&str]) -> Vec<&'a str> {
        self.terms
            .iter()
            .filter(|t| !names.iter().any(|n| t.glob.matches(n)))
            .map(|t| t.glob.as_str())
            .collect()
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t: Vec<String> = self
            .terms
            .iter()
            .map(|t| format!("{}{}", if t.leave_out { "!" } else { "" }, t.glob))
            .collect();
        f.write_str(&t.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A term's glob (`*`, `?`, `[abc]`, `[a-z]`, `[!x]`) against a name, as `selects` uses it.
    fn matches(glob: &str, name: &str) -> bool {
        glob::Pattern::new(glob).unwrap().matches(name)
    }

    #[test]
    fn globs_match_like_the_shell() {
        for (g, n, want) in [
            ("web*", "web1", true),
            ("web*", "web", true),
            ("web*", "db1", false),
            ("*1", "web1", true),
            ("w?b1", "web1", true),
            ("w?b1", "wb1", false),
            ("web[12]", "web2", true),
            ("web[12]", "web3", false),
            ("web[1-3]", "web3", true),
            ("web[!1]", "web1", false),
            ("web[!1]", "web2", true),
            ("*-staging-*", "eu-staging-web", true),
            ("blog", "blog", true),
            ("blog", "blog2", false),
            ("*", "", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
        ] {
            assert_eq!(matches(g, n), want, "{g} vs {n}");
        }
    }

    #[test]
    fn terms_select_hosts_and_apps_and_bang_leaves_out() {
        let l = Limit::parse("web*,!web3").unwrap();
        assert!(l.selects("web1", "blog"));
        assert!(!l.selects("web3", "blog"));
        assert!(!l.selects("db1", "blog"));
        let l = Limit::parse("blog").unwrap();
        assert!(l.selects("web1", "blog") && l.selects("web2", "blog"));
        assert!(!l.selects("web1", "shop"));
        let l = Limit::parse("!blog").unwrap();
        assert!(l.selects("web1", "shop") && !l.selects("web1", "blog"));
        let l = Limit::parse("web1, shop").unwrap();
        assert!(l.selects("web1", "blog") && l.selects("web2", "shop"));
        assert!(!l.selects("web2", "blog"));
        assert_eq!(l.to_string(), "web1,shop");
    }

    #[test]
    fn bad_patterns_say_what_is_wrong() {
        let e = Limit::parse("web1,,web2").unwrap_err();
        assert!(e.contains("empty term"), "{e}");
        let e = Limit::parse("!").unwrap_err();
        assert!(e.contains("empty term"), "{e}");
        let e = Limit::parse("web[12").unwrap_err();
        assert!(e.contains("`web[12` in `web[12` is not a glob"), "{e}");
    }

    #[test]
    fn a_term_that_matches_nothing_is_named() {
        let l = Limit::parse("web*,!wbe3,blog").unwrap();
        assert_eq!(l.unmatched(&["web1", "web3", "blog"]), ["wbe3"]);
    }
}
