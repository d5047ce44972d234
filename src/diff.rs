//! Unified diffs of file content, and the names-only view of files that hold secrets.
//!
//! Stage: show (pure). Every diff a user sees is built here. A file that holds secrets (the
//! env file always; any other file the manifest puts a secret into) is never diffed line by
//! line: [`names`] compares its `NAME=value` assignments and shows names only, so neither
//! side's values can reach the screen, `--json` or a plan file, whatever a template wrote
//! and whatever the host's old file held (a renamed secret's old value included).

/// A unified diff with three lines of context, `old_label`/`new_label` headers, and a note
/// where a side lacks a final newline.
pub fn unified(old: &str, new: &str, old_label: &str, new_label: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(old_label, new_label)
        .missing_newline_hint(true)
        .to_string()
}

/// The names-only comparison of two files of `NAME=value` lines (an optional `export ` and
/// spaces around `=` allowed): `+ NAME`, `- NAME`, `~ NAME (changed)`, one per line in the
/// desired file's order (removed names last), then a count of other lines that changed.
/// No value, and no line that is not an assignment, is ever part of the result.
pub fn names(old: &str, new: &str, old_label: &str, new_label: &str) -> String {
    let (old_vars, old_rest) = assignments(old);
    let (new_vars, new_rest) = assignments(new);
    let mut out = format!("--- {old_label}\n+++ {new_label}\n");
    for (name, value) in &new_vars {
        match old_vars.iter().find(|(n, _)| n == name) {
            None => out.push_str(&format!("+ {name}\n")),
            Some((_, v)) if v != value => out.push_str(&format!("~ {name} (changed)\n")),
            Some(_) => {}
        }
    }
    for (name, _) in &old_vars {
        if !new_vars.iter().any(|(n, _)| n == name) {
            out.push_str(&format!("- {name}\n"));
        }
    }
    let other = similar::TextDiff::from_slices(&old_rest, &new_rest)
        .ops()
        .iter()
        .map(|op| match *op {
            similar::DiffOp::Equal { .. } => 0,
            similar::DiffOp::Delete { old_len, .. } => old_len,
            similar::DiffOp::Insert { new_len, .. } => new_len,
            similar::DiffOp::Replace {
                old_len, new_len, ..
            } => old_len.max(new_len),
        })
        .sum::<usize>();
    if other > 0 {
        let s = if other == 1 { "" } else { "s" };
        out.push_str(&format!(
            "({other} other line{s} changed; not shown: this file holds secrets)\n"
        ));
    }
    out
}

/// `(name, value)` of each assignment line, and every other line.
fn assignments(text: &str) -> (Vec<(&str, &str)>, Vec<&str>) {
    let mut vars = Vec::new();
    let mut rest = Vec::new();
    for line in text.lines() {
        let l = line.trim_start();
        let l = l.strip_prefix("export ").map_or(l, str::trim_start);
        let name_len = l
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(l.len());
        let (name, after) = l.split_at(name_len);
        let valid = name.chars().next().is_some_and(|c| !c.is_ascii_digit());
        match after.trim_start().strip_prefix('=') {
            Some(value) if valid => vars.push((name, value.trim())),
            _ => rest.push(line),
        }
    }
    (vars, rest)
}

/// The value part of `NAME=` in an env file, for comparing secrets without showing them.
pub fn env_line<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_are_found_by_name() {
        let text = "# header\nDJANGO_DEBUG=0\nDJANGO_SECRET_KEY='hunter2'\n";
        assert_eq!(env_line(text, "DJANGO_SECRET_KEY"), Some("'hunter2'"));
        assert_eq!(env_line(text, "DJANGO"), None);
    }

    #[test]
    fn files_with_secrets_show_names_only() {
        let old =
            "# env\nDJANGO_SECRET_KEY='old-s3cret'\nexport API_TOKEN=tok-old\nDEBUG=0\nKEEP=1\n";
        let new = "# env, v2\nNEW_KEY='new-s3cret'\nexport API_TOKEN = tok-new\nDEBUG=0\nKEEP=1\n";
        let d = names(old, new, "a (on web1)", "a (desired)");
        assert_eq!(
            d,
            "--- a (on web1)\n+++ a (desired)\n+ NEW_KEY\n~ API_TOKEN (changed)\n- DJANGO_SECRET_KEY\n\
             (1 other line changed; not shown: this file holds secrets)\n"
        );
        for value in ["old-s3cret", "new-s3cret", "tok-old", "tok-new", "v2"] {
            assert!(!d.contains(value), "{value} shown in {d}");
        }
        assert_eq!(names("A=1\n", "A=1\n", "o", "n"), "--- o\n+++ n\n");
    }

    #[test]
    fn diffs_show_the_changed_line() {
        let d = unified("a\nb\nc\n", "a\nB\nc\n", "old", "new");
        assert!(d.contains("--- old\n+++ new\n"));
        assert!(d.contains("-b\n+B\n"));
    }
}
