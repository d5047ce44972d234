//! Shell quoting: the only place where text meant for a POSIX shell is built.
//!
//! Stage: shared helper (pure). Everything that will be read by `sh` on a host — the env file
//! today, the gather and apply scripts later — quotes values through [`quote`]. Nothing here
//! performs I/O.

use std::borrow::Cow;

/// Why a value cannot be quoted for a shell.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuoteError {
    #[error("a NUL byte cannot be passed through a shell")]
    Nul,
}

/// Quote `s` so that a POSIX shell (and Python's `shlex.split`) reads it back as exactly one
/// word equal to `s`. Plain words are returned as they are.
pub fn quote(s: &str) -> Result<Cow<'_, str>, QuoteError> {
    shlex::try_quote(s).map_err(|_| QuoteError::Nul)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_stay_plain() {
        assert_eq!(quote("blog.settings").unwrap(), "blog.settings");
        assert_eq!(quote("0").unwrap(), "0");
    }

    #[test]
    fn empty_and_hostile_values_are_quoted() {
        assert_eq!(quote("").unwrap(), "''");
        assert_eq!(quote("a b").unwrap(), "'a b'");
        assert_eq!(quote("$(reboot)").unwrap(), "'$(reboot)'");
        assert_eq!(quote("it's").unwrap(), "\"it's\"");
        assert_eq!(quote("it's $HOME").unwrap(), "\"it's \"'$HOME'");
    }

    #[test]
    fn nul_is_refused() {
        assert_eq!(quote("a\0b"), Err(QuoteError::Nul));
    }
}
