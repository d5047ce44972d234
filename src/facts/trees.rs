//! The gather's one pass over every [`Probe::Tree`] and [`Probe::Releases`]: the script
//! (`trees.sh`, what to look at as a here-document) and the parse of its output into each
//! tree's files and fingerprint and each app's releases (pure).
//!
//! Stage: gather. `script::build` emits one frame for all of them, at the place of the first.
//! The programs it starts do not grow with the number of apps or releases: one `find` over
//! every tree and release's code, one `sha256sum` (through `find -exec … +`) over the trees'
//! files, one `find` over the `current` and static links. Fingerprints are computed here and must
//! stay equal to apply's `tree_fp` (`script::FINGERPRINTS`); a test holds them together.

use super::releases::{self, Release, Releases, StaticLink};
use super::{Probe, TreeFile};
use std::collections::BTreeMap;

const SCRIPT: &str = include_str!("trees.sh");

/// One thing the pass looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Tree(String),
    Releases { root: String, static_link: String },
}

/// Every tree and app root the probes ask about, once each, in order.
pub fn wanted(probes: &[Probe]) -> Vec<Item> {
    let mut out: Vec<Item> = Vec::new();
    for p in probes {
        let item = match p {
            Probe::Tree { path } => Item::Tree(path.clone()),
            Probe::Releases { root, static_link } => Item::Releases {
                root: root.clone(),
                static_link: static_link.clone(),
            },
            _ => continue,
        };
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// Absolute, no control character (the manifest refuses others; one left out is an error).
fn usable(item: &Item) -> bool {
    let ok = |p: &str| p.starts_with('/') && !p.chars().any(char::is_control);
    match item {
        Item::Tree(p) => ok(p),
        Item::Releases { root, static_link } => ok(root) && ok(static_link),
    }
}

/// The frame's body: the function, then its call with the items as its one argument.
pub fn script(items: &[Item]) -> String {
    let mut s = String::with_capacity(SCRIPT.len() + items.len() * 100);
    s.push_str(SCRIPT);
    let mut data = String::new();
    for item in items.iter().filter(|i| usable(i)) {
        match item {
            Item::Tree(p) => data.push_str(&format!("T\t{p}\n")),
            Item::Releases { root, static_link } => {
                data.push_str(&format!("R\t{root}\t{static_link}\n"))
            }
        }
    }
    s.push_str("gather_trees ");
    s.push_str(&crate::shell::quote(&data).expect("no NUL: usable() refuses control characters"));
    s.push('\n');
    s
}

/// `tree_fp`: the sha256 of `%P %m %s %T@` of every file, sorted bytewise, one line each.
pub fn fingerprint<'a>(lines: impl IntoIterator<Item = &'a str>) -> String {
    sorted_lines_sha256(lines)
}

/// What `LC_ALL=C sort | sha256sum` prints for these lines (each ends in a newline).
pub(super) fn sorted_lines_sha256<'a>(lines: impl IntoIterator<Item = &'a str>) -> String {
    let mut lines: Vec<&str> = lines.into_iter().collect();
    lines.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let mut text = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    crate::source::sha256_hex(text.as_bytes())
}

/// A tree as found: its files (`None`: not a directory) and fingerprint.
pub type Tree = (Option<Vec<TreeFile>>, String);

/// What the pass found, by tree path and by app root.
#[derive(Debug, Default)]
pub struct Found {
    pub trees: BTreeMap<String, Result<Tree, String>>,
    pub releases: BTreeMap<String, Result<Releases, String>>,
}

impl Found {
    /// Every item unknown for one reason (the pass's frame failed).
    pub fn failed(items: &[Item], error: &str) -> Found {
        let mut found = Found::default();
        for item in items {
            match item {
                Item::Tree(p) => {
                    found.trees.insert(p.clone(), Err(error.to_string()));
                }
                Item::Releases { root, .. } => {
                    found.releases.insert(root.clone(), Err(error.to_string()));
                }
            }
        }
        found
    }
}

/// What the pass printed → each tree and each app's releases, or why one is not known.
pub fn parse(body: &str, items: &[Item]) -> Found {
    let mut by_index: BTreeMap<usize, Vec<(&str, Vec<&str>)>> = BTreeMap::new();
    let mut links: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
    let mut files: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut sums: BTreeMap<String, String> = BTreeMap::new();
    for line in body.lines() {
        if let Some((name, sha)) = super::paths::sum_line(line) {
            sums.insert(name, sha);
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        match fields[..] {
            ["K", path, kind, ref target @ ..] => {
                links.insert(path, (kind, target.first().copied().unwrap_or("")));
            }
            ["F", root, rest] => files.entry(root).or_default().push(rest),
            [tag @ ("T" | "X" | "G" | "W" | "P" | "S"), i, ref rest @ ..] => {
                if let Ok(i) = i.parse() {
                    by_index.entry(i).or_default().push((tag, rest.to_vec()));
                }
            }
            _ => {}
        }
    }
    let fp_of = |dir: &str, real: bool| {
        if real {
            fingerprint(files.get(dir).into_iter().flatten().copied())
        } else {
            "missing".to_string()
        }
    };
    let mut found = Found::default();
    for (i, item) in items.iter().filter(|i| usable(i)).enumerate() {
        let lines = by_index.get(&i).map(Vec::as_slice).unwrap_or(&[]);
        match item {
            Item::Tree(path) => {
                let tree = match lines.first() {
                    Some(("T", rest)) if rest.first() == Some(&"dir") => {
                        tree_files(path, files.get(path.as_str()), &sums)
                            .map(|f| (Some(f), fp_of(path, true)))
                    }
                    Some(("T", _)) => Ok((None, "missing".to_string())),
                    _ => Err("not in the pass's output".to_string()),
                };
                found.trees.insert(path.clone(), tree);
            }
            Item::Releases { root, static_link } => {
                let r = if lines.first().map(|l| l.0) == Some("X") {
                    Ok(app_releases(root, static_link, lines, &links, &fp_of))
                } else {
                    Err("not in the pass's output".to_string())
                };
                found.releases.insert(root.clone(), r);
            }
        }
    }
    let unusable: Vec<Item> = items.iter().filter(|i| !usable(i)).cloned().collect();
    let refused = Found::failed(&unusable, "not an absolute path without control characters");
    found.trees.extend(refused.trees);
    found.releases.extend(refused.releases);
    found
}

/// A tree's files from its `F` lines (`REL MODE SIZE MTIME`) and sha256sum's lines.
fn tree_files(
    root: &str,
    lines: Option<&Vec<&str>>,
    sums: &BTreeMap<String, String>,
) -> Result<Vec<TreeFile>, String> {
    let mut out = Vec::new();
    for line in lines.into_iter().flatten() {
        let mut f = line.rsplitn(4, ' ');
        let (_mtime, _size, mode, rel) = (f.next(), f.next(), f.next(), f.next());
        let (Some(mode), Some(rel)) = (mode, rel) else {
            return Err(format!("bad listing line {line:?}"));
        };
        let mode = u32::from_str_radix(mode, 8).map_err(|_| format!("bad mode in {line:?}"))?;
        let sha256 = sums.get(&format!("{root}/{rel}")).cloned().ok_or_else(|| {
            format!("{rel}: mode or checksum missing (file changed while listing?)")
        })?;
        out.push(TreeFile {
            path: rel.to_string(),
            mode,
            sha256,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// One app's releases from its lines and the links found.
fn app_releases(
    root: &str,
    static_link: &str,
    lines: &[(&str, Vec<&str>)],
    links: &BTreeMap<&str, (&str, &str)>,
    fp_of: &dyn Fn(&str, bool) -> String,
) -> Releases {
    let mut out = Releases::default();
    match links.get(format!("{root}/current").as_str()) {
        Some(("l", target)) => out.current = Some(target.to_string()),
        Some(_) => out.current_not_link = true,
        None => {}
    }
    out.static_link = match links.get(static_link) {
        Some(("l", target)) => StaticLink::Link(target.to_string()),
        Some(("d", _)) => StaticLink::Dir,
        Some(_) => StaticLink::Other,
        None => StaticLink::Missing,
    };
    let mut records: BTreeMap<&str, String> = BTreeMap::new();
    let mut code: BTreeMap<&str, String> = BTreeMap::new();
    for (tag, rest) in lines {
        match (*tag, rest.as_slice()) {
            ("G", _) => out.legacy_src = true,
            ("W", [id, line @ ..]) => {
                let text = records.entry(id).or_default();
                text.push_str(&line.join("\t"));
                text.push('\n');
            }
            ("P", [id, ..]) if releases::valid_id(id) => out.partial.push(id.to_string()),
            ("S", [id, kind, dir, ..]) => {
                code.insert(id, fp_of(dir, *kind == "dir"));
            }
            _ => {}
        }
    }
    for (id, text) in records {
        if !releases::valid_id(id) {
            continue;
        }
        let mut r: Release = releases::record(id, &text);
        r.tree_now = code.remove(id).unwrap_or_else(|| "missing".to_string());
        out.releases.push(r);
    }
    out.releases.sort_by(|a, b| a.id.cmp(&b.id));
    out.partial.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_is_of_the_sorted_lines() {
        let want = crate::source::sha256_hex(b"a 644 1 1.5\nb c 600 2 2.0\n");
        assert_eq!(fingerprint(["b c 600 2 2.0", "a 644 1 1.5"]), want);
        assert_eq!(fingerprint([]), crate::source::sha256_hex(b""));
    }

    #[test]
    fn trees_and_releases_get_their_own_lines() {
        let id = "20261201T090102-3f2a9c";
        let partial = "20261201T100000-aaaaaa";
        let items = vec![
            Item::Tree("/srv/a/current/src".into()),
            Item::Releases {
                root: "/srv/a".into(),
                static_link: "/srv/a/static".into(),
            },
            Item::Tree("/srv/b/src".into()),
            Item::Tree("relative".into()),
        ];
        let sha = "2".repeat(64);
        let code = format!("/srv/a/releases/{id}/src");
        let body = format!(
            "T\t0\tdir\nX\t1\t/srv/a\t/srv/a/static\n\
             W\t1\t{id}\tsource=abc\nW\t1\t{id}\tprepared\nS\t1\t{id}\tdir\t{code}\n\
             P\t1\t{partial}\nP\t1\tnot-an-id\nT\t2\tmissing\n\
             K\t/srv/a/current\tl\treleases/{id}\nK\t/srv/a/static\tl\t/srv/a/releases/{id}/static\n\
             F\t/srv/a/current/src\tmanage.py 644 12 1.5\nF\t/srv/a/current/src\tpkg/odd name.py 600 3 2.25\n\
             F\t{code}\tmanage.py 644 12 1.5\n\
             {sha}  /srv/a/current/src/manage.py\n{sha}  /srv/a/current/src/pkg/odd name.py\n"
        );
        let found = parse(&body, &items);
        let (files, fp) = found.trees["/srv/a/current/src"].as_ref().unwrap();
        let files = files.as_ref().unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(
            (files[1].path.as_str(), files[1].mode),
            ("pkg/odd name.py", 0o600)
        );
        assert_eq!(
            *fp,
            fingerprint(["manage.py 644 12 1.5", "pkg/odd name.py 600 3 2.25"])
        );
        let r = found.releases["/srv/a"].as_ref().unwrap();
        assert_eq!(r.current_id(), Some(id));
        assert_eq!(
            r.static_link,
            StaticLink::Link(format!("/srv/a/releases/{id}/static"))
        );
        assert_eq!(r.partial, [partial]);
        let rel = &r.releases[0];
        assert!(rel.prepared && rel.source == "abc");
        assert_eq!(rel.tree_now, fingerprint(["manage.py 644 12 1.5"]));
        assert!(!r.legacy_src);
        assert_eq!(
            found.trees["/srv/b/src"].as_ref().unwrap(),
            &(None, "missing".to_string())
        );
        assert!(found.trees["relative"].is_err());
        // A file listed but not hashed (changed meanwhile) is an error for its tree.
        let cut = body.replace(&format!("{sha}  /srv/a/current/src/manage.py\n"), "");
        assert!(parse(&cut, &items).trees["/srv/a/current/src"].is_err());
    }
}
