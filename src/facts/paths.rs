//! The gather's one pass over every [`Probe::Path`]: the script (`paths.sh`, the paths as
//! one argument, quoted by `crate::shell`) and the parse of its output into one
//! [`PathState`] per path (pure).
//!
//! Stage: gather. `script::build` emits one frame for all the Path probes of a script, at the
//! place of the first one; `parse::facts` hands each path its state from that frame. The
//! number of processes does not grow with the number of paths: one `find`, one `awk`, one
//! `sha256sum` (only over files whose inode, size, mtime or ctime differ from the cache the
//! last pass kept), one `getfacl`, and a `base64` per file whose content the plan needs.

use super::{PathState, Probe};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::collections::BTreeMap;

const SCRIPT: &str = include_str!("paths.sh");

/// The cache's file name in wsgictl's state directory.
pub const CACHE: &str = "sums";

/// Every path the Path probes of `probes` ask about, once each, in order, with the sha256
/// wanted there (`None` when two probes want different ones: the content is then sent).
pub fn wanted(probes: &[Probe]) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    let mut at: BTreeMap<String, usize> = BTreeMap::new();
    for p in probes {
        if let Probe::Path { path, want_sha256 } = p {
            match at.get(path) {
                Some(&i) if out[i].1 != *want_sha256 => out[i].1 = None,
                Some(_) => {}
                None => {
                    at.insert(path.clone(), out.len());
                    out.push((path.clone(), want_sha256.clone()));
                }
            }
        }
    }
    out
}

/// The frame's body for `paths`: the function, then its call with the paths as data. A path
/// that is not absolute or holds a control character (the manifest refuses both) is left out
/// of the data, and so reads as missing.
pub fn script(paths: &[(String, Option<String>)], cache: Option<&str>) -> String {
    let mut s = String::with_capacity(SCRIPT.len() + paths.len() * 100);
    s.push_str(SCRIPT);
    let mut data = String::with_capacity(paths.len() * 100);
    for (path, want) in paths {
        if !path.starts_with('/') || path.chars().any(char::is_control) {
            continue;
        }
        let want = want.as_deref().filter(|w| is_sha(w)).unwrap_or("-");
        data.push_str(&format!("{want}\t{path}\n"));
    }
    let q = |s: &str| {
        crate::shell::quote(s)
            .expect("paths and the state directory hold no NUL")
            .into_owned()
    };
    s.push_str(&format!(
        "gather_paths {} {}\n",
        q(cache.unwrap_or("")),
        q(&data)
    ));
    s
}

fn is_sha(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What the pass printed → the state of each path it was asked about (absent: missing), or
/// why that one path cannot be known.
pub fn parse(
    body: &str,
    paths: &[(String, Option<String>)],
) -> BTreeMap<String, Result<PathState, String>> {
    let mut meta: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut sums: BTreeMap<String, String> = BTreeMap::new();
    let mut content: BTreeMap<&str, Result<Vec<u8>, String>> = BTreeMap::new();
    let mut acls: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut lines = body.lines();
    while let Some(line) = lines.next() {
        if line == "ACL-BEGIN" {
            let mut file: Option<String> = None;
            for l in lines.by_ref() {
                if l == "ACL-END" {
                    break;
                }
                if let Some(f) = l.strip_prefix("# file: ") {
                    file = Some(unescape_octal(f));
                } else if let Some(f) = &file
                    && ["user:", "group:", "mask:"]
                        .iter()
                        .any(|p| l.starts_with(p))
                {
                    acls.entry(f.clone()).or_default().push(l.to_string());
                }
            }
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.first() {
            Some(&"P") if fields.len() >= 8 => {
                meta.insert(fields[6], fields);
            }
            Some(&"S") if fields.len() == 3 && is_sha(fields[1]) => {
                sums.insert(fields[2].to_string(), fields[1].to_string());
            }
            Some(&"C") if fields.len() == 3 => {
                let bytes = STANDARD
                    .decode(fields[2])
                    .map_err(|e| format!("bad base64 content: {e}"));
                content.insert(fields[1], bytes);
            }
            _ => {
                // sha256sum's escaped form for a name with a backslash: `\SHA  NAME`.
                if line.starts_with('\\')
                    && let Some((name, sha)) = sum_line(line)
                {
                    sums.insert(name, sha);
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    for (path, _) in paths {
        let mut state = || -> Result<PathState, String> {
            let Some(f) = meta.get(path.as_str()) else {
                return Ok(PathState::Missing);
            };
            let mode = || u32::from_str_radix(f[2], 8).map_err(|_| format!("bad mode {:?}", f[2]));
            Ok(match f[1] {
                "l" => PathState::Link {
                    target: f[7..].join("\t"),
                },
                "d" => PathState::Dir {
                    mode: mode()?,
                    owner: f[3].to_string(),
                    group: f[4].to_string(),
                    acl: acls.remove(path).unwrap_or_default(),
                },
                "f" => PathState::File {
                    mode: mode()?,
                    owner: f[3].to_string(),
                    group: f[4].to_string(),
                    sha256: sums
                        .get(path)
                        .cloned()
                        .ok_or_else(|| format!("{path}: no sha256 (unreadable?)"))?,
                    content: content.remove(path.as_str()).transpose()?,
                },
                _ => PathState::Other,
            })
        };
        out.insert(path.clone(), state());
    }
    out
}

/// getfacl writes `\ooo` for a byte it will not print as is (a space, a backslash).
fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push(((b[i + 1] - b'0') << 6) | ((b[i + 2] - b'0') << 3) | (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One line of `sha256sum`'s output → (name, sha256): `SHA  NAME`, or `\\SHA  NAME` with the
/// name escaped (a backslash or newline in it).
pub(super) fn sum_line(line: &str) -> Option<(String, String)> {
    let (escaped, rest) = match line.strip_prefix('\\') {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let (sha, name) = rest.split_once("  ")?;
    if !is_sha(sha) {
        return None;
    }
    let name = if escaped {
        unescape_sum_name(name)
    } else {
        name.to_string()
    };
    Some((name, sha.to_string()))
}

/// sha256sum's escaping of a name: `\\` for a backslash, `\n` for a newline.
fn unescape_sum_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        match (c, c == '\\') {
            (_, true) => match it.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            },
            (c, false) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(path: &str, want: Option<&str>) -> Probe {
        Probe::Path {
            path: path.into(),
            want_sha256: want.map(str::to_string),
        }
    }

    const SHA: &str = "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881";

    #[test]
    fn a_path_asked_twice_is_listed_once_and_conflicting_wants_fetch_the_content() {
        let w = wanted(&[
            p("/a", Some(SHA)),
            Probe::System,
            p("/b", None),
            p("/a", Some(SHA)),
            p("/b", None),
            p("/c", Some(SHA)),
            p("/c", None),
        ]);
        assert_eq!(
            w,
            vec![
                ("/a".to_string(), Some(SHA.to_string())),
                ("/b".to_string(), None),
                ("/c".to_string(), None),
            ]
        );
    }

    #[test]
    fn the_data_is_one_line_per_path_and_refuses_what_could_break_a_line() {
        let s = script(
            &[
                ("/srv/it's here".into(), Some(SHA.into())),
                ("relative".into(), None),
                ("/bad\nline".into(), None),
                ("/x".into(), Some("not-a-sha".into())),
            ],
            Some("/var/lib/wsgictl/sums"),
        );
        // The call, run by `sh` against a stand-in that prints what it was given.
        let call = &s[s.rfind("gather_paths ").unwrap()..];
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "gather_paths() {{ printf '%s|%s' \"$1\" \"$2\"; }}\n{call}"
            ))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            format!("/var/lib/wsgictl/sums|{SHA}\t/srv/it's here\n-\t/x\n")
        );
    }

    #[test]
    fn every_kind_of_path_is_read_back_from_the_output() {
        let body = format!(
            "P\tf\t640\troot\twww-data\t1:1:2.0:3.0\t/etc/a\t\n\
             P\td\t2775\troot\tstaff\t1:1:2.0:3.0\t/srv/my dir\t\n\
             P\tl\t777\troot\troot\t1:1:2.0:3.0\t/srv/cur\treleases/1\n\
             P\tp\t644\troot\troot\t1:1:2.0:3.0\t/srv/fifo\t\n\
             P\tf\t600\troot\troot\t1:1:2.0:3.0\t/srv/back\\slash\t\n\
             S\t{SHA}\t/etc/a\n\
             \\{SHA}  /srv/back\\\\slash\n\
             ACL-BEGIN\n# file: /srv/my\\040dir\n# owner: root\n# group: staff\nuser::rwx\nuser:www-data:--x\ngroup::r-x\nmask::r-x\nother::r-x\ndefault:user::rwx\n\nACL-END\n\
             C\t/etc/a\teA==\n"
        );
        let paths: Vec<(String, Option<String>)> = [
            "/etc/a",
            "/srv/my dir",
            "/srv/cur",
            "/srv/fifo",
            "/srv/back\\slash",
            "/srv/gone",
        ]
        .iter()
        .map(|p| (p.to_string(), None))
        .collect();
        let got: BTreeMap<String, PathState> = parse(&body, &paths)
            .into_iter()
            .map(|(k, v)| (k, v.unwrap()))
            .collect();
        assert_eq!(
            got["/etc/a"],
            PathState::File {
                mode: 0o640,
                owner: "root".into(),
                group: "www-data".into(),
                sha256: SHA.into(),
                content: Some(b"x".to_vec()),
            }
        );
        assert_eq!(
            got["/srv/my dir"],
            PathState::Dir {
                mode: 0o2775,
                owner: "root".into(),
                group: "staff".into(),
                acl: vec![
                    "user::rwx".into(),
                    "user:www-data:--x".into(),
                    "group::r-x".into(),
                    "mask::r-x".into()
                ],
            }
        );
        assert_eq!(
            got["/srv/cur"],
            PathState::Link {
                target: "releases/1".into()
            }
        );
        assert_eq!(got["/srv/fifo"], PathState::Other);
        assert!(
            matches!(&got["/srv/back\\slash"], PathState::File { sha256, content: None, .. } if sha256 == SHA)
        );
        assert_eq!(got["/srv/gone"], PathState::Missing);
    }

    #[test]
    fn a_file_without_its_sha_is_an_error_not_a_guess() {
        let body = "P\tf\t644\troot\troot\t1:1:2.0:3.0\t/etc/a\t\n";
        let e = parse(body, &[("/etc/a".into(), None)])["/etc/a"]
            .clone()
            .unwrap_err();
        assert!(e.contains("/etc/a: no sha256"), "{e}");
    }
}
