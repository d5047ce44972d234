//! The local side of source sync: which files of an app's project would be synced, with their
//! sha256 and mode.
//!
//! Stage: render's companion (reads the local project directory only). `.git`, `__pycache__`
//! and `*.pyc` are always excluded, plus the app's `exclude` patterns: `name/` excludes a
//! directory of that name anywhere, a pattern with `/` matches the relative path, any other
//! pattern matches file and directory names (`*` and `?` wildcards).

use anyhow::Context as _;
use sha2::Digest as _;
use std::path::Path;

/// Always excluded.
pub const ALWAYS: &[&str] = &[".git/", "__pycache__/", "*.pyc"];

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SourceFile {
    /// Relative, `/`-separated.
    pub path: String,
    /// 0750 for files executable locally, else 0640 (the app's group reads, others nothing).
    #[serde(serialize_with = "crate::desired::octal")]
    pub mode: u32,
    pub sha256: String,
}

/// The always-excluded patterns plus an app's own, compiled once.
pub struct Excludes(Vec<Pattern>);

impl Excludes {
    pub fn new(exclude: &[String]) -> Self {
        Excludes(
            ALWAYS
                .iter()
                .copied()
                .chain(exclude.iter().map(String::as_str))
                .map(Pattern::new)
                .collect(),
        )
    }

    fn matches(&self, rel: &str, is_dir: bool) -> bool {
        self.0.iter().any(|p| p.excludes(rel, is_dir))
    }

    /// Whether a relative file path is excluded, checking each of its directories too. Remote
    /// files that are excluded are never deleted by a sync.
    pub fn covers(&self, rel: &str) -> bool {
        let parts: Vec<&str> = rel.split('/').collect();
        (1..=parts.len()).any(|n| self.matches(&parts[..n].join("/"), n < parts.len()))
    }
}

/// Every file below `root` that is synced, sorted by path.
pub fn scan(root: &Path, exclude: &[String]) -> anyhow::Result<Vec<SourceFile>> {
    let excludes = Excludes::new(exclude);
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let ty = entry.file_type()?;
            if excludes.matches(&rel, ty.is_dir()) {
                continue;
            }
            if ty.is_dir() {
                stack.push(path);
            } else if ty.is_file() {
                use std::os::unix::fs::PermissionsExt as _;
                let bytes =
                    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                let exec = entry.metadata()?.permissions().mode() & 0o111 != 0;
                out.push(SourceFile {
                    path: rel,
                    mode: if exec { 0o750 } else { 0o640 },
                    sha256: sha256_hex(&bytes),
                });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

struct Pattern {
    glob: glob::Pattern,
    dir_only: bool,
    full_path: bool,
}

impl Pattern {
    fn new(p: &str) -> Self {
        let dir_only = p.ends_with('/');
        let p = p.trim_end_matches('/');
        Pattern {
            glob: glob::Pattern::new(p)
                .unwrap_or_else(|_| glob::Pattern::new(&glob::Pattern::escape(p)).unwrap()),
            dir_only,
            full_path: p.contains('/'),
        }
    }

    fn excludes(&self, rel: &str, is_dir: bool) -> bool {
        if self.dir_only && !is_dir {
            return false;
        }
        let subject = if self.full_path {
            rel
        } else {
            rel.rsplit('/').next().unwrap_or(rel)
        };
        self.glob.matches(subject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(Pattern::new("*.pyc").excludes("a/b/c.pyc", false));
        assert!(Pattern::new("media/").excludes("media", true));
        assert!(!Pattern::new("media/").excludes("media", false));
        assert!(Pattern::new("blog/local_*.py").excludes("blog/local_settings.py", false));
        assert!(!Pattern::new("blog/local_*.py").excludes("x/blog/local_settings.py", false));
        assert!(Pattern::new(".git/").excludes("sub/.git", true));
    }

    #[test]
    fn excluded_paths_include_their_directories() {
        let ex = Excludes::new(&["media/".to_string(), "*.sqlite3".to_string()]);
        assert!(ex.covers("media/a/b.png"));
        assert!(ex.covers("db.sqlite3"));
        assert!(Excludes::new(&[]).covers("blog/__pycache__/x.cpython-311.pyc"));
        assert!(!ex.covers("blog/views.py"));
    }

    #[test]
    fn sha256_is_hex() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
