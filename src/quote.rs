//! Quoting for the two languages templates write: Apache configuration and Python source.
//!
//! Stage: render helper (pure). Tera escapes nothing in `.conf` or `.wsgi` files, so every
//! manifest value that reaches one of them goes through [`apache`] or [`python`], registered as
//! the `apache` and `py` template filters (and [`crate::shell::quote`] as `sh`). The manifest
//! loader already refuses what cannot be made safe; these functions refuse it again rather than
//! emit a broken or injectable file.

/// Why a value cannot be written into a file safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsafeValue {
    #[error("value {0:?} contains a control character (newline, NUL, tab, ...)")]
    Control(String),
    #[error("value {0:?} contains `${{`, which Apache expands as a variable even inside quotes")]
    ApacheVariable(String),
}

/// An Apache configuration string: always double-quoted, `\` and `"` escaped.
///
/// Apache's tokenizer (`ap_getword_conf`) un-escapes `\"` and `\\` inside quotes, but expands
/// `${VAR}` even there, so `${` is refused, as is any control character (a newline would end
/// the directive and start a new one).
pub fn apache(value: &str) -> Result<String, UnsafeValue> {
    if value.chars().any(char::is_control) {
        return Err(UnsafeValue::Control(value.to_owned()));
    }
    if value.contains("${") {
        return Err(UnsafeValue::ApacheVariable(value.to_owned()));
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Ok(out)
}

/// A Python 3 string literal equal to `value`.
///
/// JSON string syntax is a subset of Python's (`\"`, `\\`, `\n`, `\uXXXX`, raw UTF-8), so a
/// JSON encoding is a correct Python literal for any input, control characters included.
pub fn python(value: &str) -> String {
    serde_json::to_string(value).expect("serialising a str cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apache_quotes_and_escapes() {
        assert_eq!(apache("/srv/blog").unwrap(), r#""/srv/blog""#);
        assert_eq!(apache(r#"a"b\c"#).unwrap(), r#""a\"b\\c""#);
        assert_eq!(apache("with space").unwrap(), r#""with space""#);
    }

    #[test]
    fn apache_refuses_what_it_cannot_make_safe() {
        assert!(matches!(
            apache("a\nInclude /etc/shadow"),
            Err(UnsafeValue::Control(_))
        ));
        assert!(matches!(apache("a\0"), Err(UnsafeValue::Control(_))));
        assert!(matches!(
            apache("${HOME}/x"),
            Err(UnsafeValue::ApacheVariable(_))
        ));
        // A lone `$` is harmless.
        assert_eq!(apache("cost$5").unwrap(), r#""cost$5""#);
    }

    #[test]
    fn python_literals() {
        assert_eq!(python("blog.settings"), r#""blog.settings""#);
        assert_eq!(python("a'b\"c\\d"), r#""a'b\"c\\d""#);
        assert_eq!(python("line\nbreak\0"), r#""line\nbreak\u0000""#);
        assert_eq!(python("é"), "\"é\"");
    }
}
