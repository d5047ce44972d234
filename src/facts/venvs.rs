//! The gather's one pass over every [`Probe::Venv`] and [`Probe::Interpreter`]: the script
//! (`venvs.sh`, the interpreters as its arguments, the venv directories as a here-document)
//! and the parse of its output into each venv's fact and fingerprint and each interpreter's
//! answer (pure).
//!
//! Stage: gather. `script::build` emits one frame for all the Venv and Interpreter probes,
//! at the place of the first one. The programs it starts do not grow with the number of
//! venvs: one `find` over every site-packages, one `sha256sum`, one trust walk (`realpath`,
//! `stat`, `awk`), and one run of each distinct Python binary, shared by the venvs made
//! with an interpreter and the interpreter itself. The site-packages digest and the fingerprint
//! are computed here, and must stay equal to what apply's shell functions compute
//! (`script::SITE_DIGEST`, `script::FINGERPRINTS`); a test holds them together.

use super::{Probe, Venv};
use std::collections::BTreeMap;

const SCRIPT: &str = include_str!("venvs.sh");

/// The file in the state directory where the pass keeps each Python binary's answer.
pub const CACHE: &str = "pythons";

/// Every venv the Venv probes of `probes` ask about, once each, in order.
pub fn wanted(probes: &[Probe]) -> Vec<String> {
    distinct(probes, |p| match p {
        Probe::Venv { path } => Some(path),
        _ => None,
    })
}

/// Every interpreter the Interpreter probes of `probes` ask about, once each, in order.
pub fn interpreters(probes: &[Probe]) -> Vec<String> {
    distinct(probes, |p| match p {
        Probe::Interpreter { path } => Some(path),
        _ => None,
    })
}

/// What `pick` takes of `probes`, once each, in order.
fn distinct(probes: &[Probe], pick: impl Fn(&Probe) -> Option<&String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for path in probes.iter().filter_map(pick) {
        if !out.contains(path) {
            out.push(path.clone());
        }
    }
    out
}

/// What the pass printed of each interpreter (its `I` lines), as the body its own probe
/// once printed (`version=…` and `venv=…`, `missing`, or `untrusted=…`), by path; an
/// interpreter the pass was not given reads as an error.
pub fn interpreter_bodies(
    body: &str,
    interpreters: &[String],
) -> BTreeMap<String, Result<String, String>> {
    let mut lines: BTreeMap<usize, String> = BTreeMap::new();
    for l in body.lines() {
        if let Some((k, text)) = l.strip_prefix("I\t").and_then(|r| r.split_once('\t'))
            && let Ok(k) = k.parse()
        {
            let b = lines.entry(k).or_default();
            b.push_str(text);
            b.push('\n');
        }
    }
    interpreters
        .iter()
        .filter(|p| usable(p))
        .enumerate()
        .map(|(k, p)| {
            (
                p.clone(),
                lines
                    .remove(&k)
                    .ok_or_else(|| "not in the pass's output".to_string()),
            )
        })
        .chain(interpreters.iter().filter(|p| !usable(p)).map(|p| {
            (
                p.clone(),
                Err("not an absolute path without control characters".to_string()),
            )
        }))
        .collect()
}

/// A directory the pass can be given: absolute, no control character (the manifest refuses
/// others; one left out reads as an error).
fn usable(path: &str) -> bool {
    path.starts_with('/') && !path.chars().any(char::is_control)
}

/// The frame's body for `venvs`: the function, then its call with the answers' cache file
/// (`None`: none kept), the directories (one argument, a line each) and the interpreters as
/// its arguments.
pub fn script(venvs: &[String], interpreters: &[String], cache: Option<&str>) -> String {
    let mut s = String::with_capacity(SCRIPT.len() + venvs.len() * 80);
    s.push_str(SCRIPT);
    s.push_str("gather_venvs ");
    let cache = cache
        .filter(|c| usable(c))
        .and_then(|c| crate::shell::quote(c).ok());
    s.push_str(cache.as_deref().unwrap_or("''"));
    let mut list = String::new();
    for v in venvs.iter().filter(|v| usable(v)) {
        list.push_str(v);
        list.push('\n');
    }
    s.push(' ');
    s.push_str(&crate::shell::quote(&list).expect("no control character"));
    for p in interpreters.iter().filter(|p| usable(p)) {
        s.push(' ');
        s.push_str(&crate::shell::quote(p).expect("no control character"));
    }
    s.push('\n');
    s
}

/// What the pass found of one venv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// `None`: no python there that could run.
    pub venv: Option<Venv>,
    /// What apply's `venv_fp` prints for it (`missing` when it is not a real directory).
    pub fingerprint: String,
}

/// The sha256 of site-packages' listing as `site_digest` makes it: `find .` two levels
/// deep, bytecode left out, sorted bytewise, one line each.
pub fn site_digest<'a>(relative: impl IntoIterator<Item = &'a str>) -> String {
    let lines: Vec<String> = relative
        .into_iter()
        .map(|r| {
            if r.is_empty() {
                ".".to_string()
            } else {
                format!("./{r}")
            }
        })
        .collect();
    super::trees::sorted_lines_sha256(lines.iter().map(String::as_str))
}

/// A venv's fingerprint from the sha256 of its `.wsgictl-requirements` and `pyvenv.cfg`
/// (`None`: not a readable file) and its site-packages digest, as apply's `venv_fp`.
pub fn fingerprint(requirements: Option<&str>, pyvenv_cfg: Option<&str>, digest: &str) -> String {
    crate::source::sha256_hex(
        format!(
            "requirements {}\npyvenv.cfg {}\nsite-packages {digest}\n",
            requirements.unwrap_or("-"),
            pyvenv_cfg.unwrap_or("-")
        )
        .as_bytes(),
    )
}

/// The venvs a recorded pass was about (its `V` lines), in order.
pub fn named(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|l| l.strip_prefix("V\t")?.split_once('\t'))
        .map(|(_, v)| v.to_string())
        .collect()
}

/// What the pass printed → each venv's fact and fingerprint, or why it is not known.
pub fn parse(body: &str, venvs: &[String]) -> BTreeMap<String, Result<Found, String>> {
    let mut tags: BTreeMap<(char, usize), Vec<&str>> = BTreeMap::new();
    let mut listings: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut sums: BTreeMap<String, String> = BTreeMap::new();
    for line in body.lines() {
        if let Some((name, sha)) = super::paths::sum_line(line) {
            sums.insert(name, sha);
            continue;
        }
        let mut f = line.splitn(3, '\t');
        let (Some(tag), Some(a), Some(b)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        match tag {
            "L" => listings.entry(a).or_default().push(b),
            "V" | "F" | "D" | "H" | "M" | "R" | "U" | "Y" => {
                if let Ok(i) = a.parse() {
                    let c = tag.chars().next().unwrap_or('?');
                    tags.entry((c, i)).or_default().push(b);
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    for (i, v) in venvs.iter().filter(|v| usable(v)).enumerate() {
        let one = |c: char| tags.get(&(c, i)).and_then(|l| l.first().copied());
        let found = (|| -> Result<Found, String> {
            let kind = one('F').ok_or("not in the pass's output")?;
            let digest = match one('D').ok_or("no site-packages line")? {
                "none" => "none".to_string(),
                sp => site_digest(listings.get(sp).into_iter().flatten().copied()),
            };
            let fingerprint = if kind == "dir" {
                let sha = |f: &str| sums.get(&format!("{v}/{f}")).map(String::as_str);
                fingerprint(sha(".wsgictl-requirements"), sha("pyvenv.cfg"), &digest)
            } else {
                "missing".to_string()
            };
            let text = |c| one(c).map(str::to_string);
            let venv = match (one('U'), one('Y')) {
                (Some(u), _) => Some(Venv {
                    python: "not run as root".into(),
                    home: None,
                    marker: None,
                    installed: None,
                    recorded: None,
                    untrusted: Some(u.to_string()),
                }),
                (None, Some(python)) => Some(Venv {
                    python: python.to_string(),
                    home: text('H'),
                    marker: text('M'),
                    installed: Some(digest),
                    recorded: text('R'),
                    untrusted: None,
                }),
                (None, None) => None,
            };
            Ok(Found { venv, fingerprint })
        })();
        out.insert(v.clone(), found);
    }
    for v in venvs.iter().filter(|v| !usable(v)) {
        out.insert(
            v.clone(),
            Err(format!(
                "{v:?} is not an absolute path without control characters"
            )),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_of_the_sorted_listing_with_find_dots() {
        // `printf '.\n./a\n./b/c\n' | sha256sum`
        let want = crate::source::sha256_hex(b".\n./a\n./b/c\n");
        assert_eq!(site_digest(["b/c", "", "a"]), want);
        // Bytewise, as LC_ALL=C sort: `Z` before `a`, `_` after `Z`.
        let want = crate::source::sha256_hex(b"./Z\n./_\n./a\n");
        assert_eq!(site_digest(["a", "_", "Z"]), want);
    }

    #[test]
    fn each_venv_gets_its_own_lines_and_the_shared_listing() {
        let venvs = vec![
            "/srv/a/venv".to_string(),
            "/srv/b/venv".to_string(),
            "/srv/c/venv".to_string(),
            "relative/venv".to_string(),
        ];
        let sp = "/srv/a/venv/lib/python3.11/site-packages";
        let req = "1".repeat(64);
        let body = format!(
            "F\t0\tdir\nD\t0\t{sp}\nH\t0\t/usr/bin\nM\t0\tsha=abc\nR\t0\tdeadbeef\n\
             F\t1\tdir\nD\t1\tnone\nU\t1\t/srv/b/venv/bin/python blog 755\nY\t1\tnot run as root\n\
             F\t2\tmissing\nD\t2\tnone\n\
             L\t{sp}\t\nL\t{sp}\tdjango\nL\t{sp}\tdjango/core\n\
             {req}  /srv/a/venv/.wsgictl-requirements\n\
             Y\t0\t3.11.2\n"
        );
        let got = parse(&body, &venvs);
        let a = got["/srv/a/venv"].as_ref().unwrap();
        let digest = site_digest(["", "django", "django/core"]);
        assert_eq!(a.fingerprint, fingerprint(Some(&req), None, &digest));
        let venv = a.venv.as_ref().unwrap();
        assert_eq!(venv.python, "3.11.2");
        assert_eq!(venv.home.as_deref(), Some("/usr/bin"));
        assert_eq!(venv.marker.as_deref(), Some("sha=abc"));
        assert_eq!(venv.recorded.as_deref(), Some("deadbeef"));
        assert_eq!(venv.installed.as_deref(), Some(digest.as_str()));
        let b = got["/srv/b/venv"].as_ref().unwrap();
        assert_eq!(b.fingerprint, fingerprint(None, None, "none"));
        let vb = b.venv.as_ref().unwrap();
        assert!(vb.untrusted.is_some() && vb.marker.is_none() && vb.installed.is_none());
        let c = got["/srv/c/venv"].as_ref().unwrap();
        assert_eq!((c.venv.as_ref(), c.fingerprint.as_str()), (None, "missing"));
        assert!(got["relative/venv"].is_err());
        // Cut short: a venv the output does not mention is an error, not "missing".
        let short = parse("F\t0\tdir\nD\t0\tnone\n", &venvs);
        assert!(short["/srv/b/venv"].is_err(), "{short:?}");
    }
}
