//! Unified diffs of file content, and redaction of secret values in env files.
//!
//! Stage: show (pure). Every diff a user sees is built here, from text that is already
//! redacted: the desired side from `Content::shown`, the host's side through [`redact_env`].

use crate::render::REDACTED;

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

/// `NAME=value` lines of an env file with the value of every name in `secrets` replaced by the
/// same redacted form the desired side shows.
pub fn redact_env(text: &str, secrets: &[String]) -> String {
    let redacted = crate::shell::quote(REDACTED).expect("no NUL").into_owned();
    text.split_inclusive('\n')
        .map(|line| match line.split_once('=') {
            Some((name, _)) if secrets.iter().any(|s| s == name.trim()) => {
                let nl = if line.ends_with('\n') { "\n" } else { "" };
                format!("{}={redacted}{nl}", name)
            }
            _ => line.to_string(),
        })
        .collect()
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
    fn env_secrets_are_redacted_and_others_kept() {
        let text = "# header\nDJANGO_DEBUG=0\nDJANGO_SECRET_KEY='hunter2'\n";
        let out = redact_env(text, &["DJANGO_SECRET_KEY".into()]);
        assert_eq!(
            out,
            "# header\nDJANGO_DEBUG=0\nDJANGO_SECRET_KEY='<redacted>'\n"
        );
        assert_eq!(env_line(text, "DJANGO_SECRET_KEY"), Some("'hunter2'"));
        assert_eq!(env_line(text, "DJANGO"), None);
    }

    #[test]
    fn diffs_show_the_changed_line() {
        let d = unified("a\nb\nc\n", "a\nB\nc\n", "old", "new");
        assert!(d.contains("--- old\n+++ new\n"));
        assert!(d.contains("-b\n+B\n"));
    }
}
