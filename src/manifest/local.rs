//! Local paths named by the manifest: `~/` expansion, resolution against the manifest's
//! directory, and lexical normalisation. Pure.

use std::path::{Path, PathBuf};

/// Resolve a local path from the manifest: `~/` is the user's home, relative paths are relative
/// to the manifest's directory.
pub fn expand_local(dir: &Path, s: &str) -> PathBuf {
    let path = match s.strip_prefix("~/").zip(std::env::var_os("HOME")) {
        Some((rest, home)) => PathBuf::from(home).join(rest),
        None => dir.join(s),
    };
    normalize(&path)
}

/// Drop `.` components and fold `..` into its parent, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_resolve_against_the_manifest() {
        let dir = Path::new("/work/site");
        assert_eq!(expand_local(dir, "./blog"), Path::new("/work/site/blog"));
        assert_eq!(
            expand_local(dir, "../shared/./x"),
            Path::new("/work/shared/x")
        );
        assert_eq!(expand_local(dir, "/abs/x"), Path::new("/abs/x"));
    }
}
