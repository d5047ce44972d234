//! Value rules of the manifest: pure predicates on single values, and "did you mean".
//!
//! Stage: load (pure). Each function answers `Ok(())` or the reason a value is refused, phrased
//! to follow "expected …" in a diagnostic. No I/O and no knowledge of KDL here.

/// App names become file names and `WSGIDaemonProcess` names: `[a-z][a-z0-9_-]{0,31}`.
pub fn app_name(s: &str) -> Result<(), String> {
    let mut chars = s.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if first_ok && rest_ok && s.len() <= 32 {
        Ok(())
    } else {
        Err("a lower-case letter, then up to 31 of a-z, 0-9, `_` or `-`".into())
    }
}

/// Host labels in the manifest (not addresses): letters, digits, `.`, `_`, `-`, at most 64.
pub fn host_label(s: &str) -> Result<(), String> {
    let mut chars = s.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if first_ok && rest_ok && s.len() <= 64 {
        Ok(())
    } else {
        Err("a letter or digit, then letters, digits, `.`, `_` or `-` (at most 64)".into())
    }
}

/// POSIX account names as `useradd` accepts them by default: `[a-z_][a-z0-9_-]{0,31}`.
pub fn account_name(s: &str) -> Result<(), String> {
    let mut chars = s.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if first_ok && rest_ok && s.len() <= 32 {
        Ok(())
    } else {
        Err(
            "an account name: a lower-case letter or `_`, then up to 31 of a-z, 0-9, `_`, `-`"
                .into(),
        )
    }
}

/// A DNS host name (RFC 1123): dot-separated labels of letters, digits and inner hyphens.
/// `wildcard` allows a leading `*.` label, as `ServerAlias` does.
pub fn server_name(s: &str, wildcard: bool) -> Result<(), String> {
    let body = match s.strip_prefix("*.") {
        Some(rest) if wildcard => rest,
        _ => s,
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !body.is_empty() && s.len() <= 253 && body.split('.').all(label_ok) {
        Ok(())
    } else if wildcard {
        Err("a host name like `www.example.com` or `*.example.com`".into())
    } else {
        Err(
            "a host name like `blog.example.com` (letters, digits, inner `-`, dot-separated)"
                .into(),
        )
    }
}

/// An e-mail address for the ACME account: one `@`, no spaces, quotes or control characters.
pub fn email(s: &str) -> Result<(), String> {
    let ok = s.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !domain.contains('@')
    }) && s.len() <= 254
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '\\'));
    if ok {
        Ok(())
    } else {
        Err("an e-mail address like `ops@example.com`".into())
    }
}

/// An ACME directory URL: `https://`, then a host and path without spaces or quotes.
pub fn acme_directory(s: &str) -> Result<(), String> {
    let ok = s.strip_prefix("https://").is_some_and(|rest| {
        !rest.is_empty()
            && !rest.starts_with('/')
            && !rest.chars().any(|c| {
                c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '\\' | '`')
            })
    });
    if ok {
        Ok(())
    } else {
        Err("an https:// URL like `https://acme-v02.api.letsencrypt.org/directory`".into())
    }
}

/// Environment variable names: `[A-Z_][A-Z0-9_]*`.
pub fn env_name(s: &str) -> Result<(), String> {
    let mut chars = s.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_');
    if first_ok && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') {
        Ok(())
    } else {
        Err("an upper-case name: `[A-Z_][A-Z0-9_]*`".into())
    }
}

/// A dotted Python module path such as `blog.settings`.
pub fn python_module(s: &str) -> Result<(), String> {
    let ident = |p: &str| {
        let mut cs = p.chars();
        cs.next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if s.split('.').all(ident) {
        Ok(())
    } else {
        Err("a dotted Python module path like `blog.settings`".into())
    }
}

/// An absolute path on the host: starts with `/`, no `..` component, no `${` (Apache would
/// expand it), and no `:` when `colon_free` (mod_wsgi's `python-path` is `:`-separated).
pub fn remote_path(s: &str, colon_free: bool) -> Result<(), String> {
    if !s.starts_with('/') {
        return Err("an absolute path on the host, starting with `/`".into());
    }
    if s.split('/').any(|c| c == "..") {
        return Err("an absolute path without `..` components".into());
    }
    if s.contains("${") {
        return Err("a path without `${` (Apache expands it even inside quotes)".into());
    }
    if colon_free && s.contains(':') {
        return Err(
            "a path without `:` (mod_wsgi's python-path and python-home are `:`-separated)".into(),
        );
    }
    if s.contains("//") {
        return Err("a path without empty components (`//`)".into());
    }
    Ok(())
}

/// An Apache configuration directory: it also names the systemd unit and the lock and marker
/// files, so only `[A-Za-z0-9/._-]` (`/etc/apache2-blog`, `/etc/httpd`).
pub fn confdir(s: &str) -> Result<(), String> {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'))
    {
        Ok(())
    } else {
        Err(
            "a directory of letters, digits, `/`, `.`, `_` and `-` only, like `/etc/apache2-blog`"
                .into(),
        )
    }
}

/// A rootless account's home: it is in the server root's path, which Apache's piped logs
/// and mod_wsgi's sockets name unquoted.
pub fn plain_path(s: &str) -> Result<(), String> {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'))
    {
        Ok(())
    } else {
        Err("a directory of letters, digits, `/`, `.`, `_` and `-` only, like `/home/alice`".into())
    }
}

/// A URL path prefix such as `/static/`: starts with `/`, is not `/` itself (that would shadow
/// the app), and holds no spaces, quotes, `..` or `${`.
pub fn url_prefix(s: &str) -> Result<(), String> {
    if !s.starts_with('/') || s == "/" {
        return Err("a URL path prefix below `/`, like `/static/`".into());
    }
    if s.split('/').any(|c| c == "..") || s.contains("${") || s.contains(char::is_whitespace) {
        return Err("a URL path prefix without spaces, `..` or `${`".into());
    }
    Ok(())
}

/// A URL path to request, such as `/` or `/health/`.
pub fn url_path(s: &str) -> Result<(), String> {
    if s.starts_with('/') && !s.contains(char::is_whitespace) {
        Ok(())
    } else {
        Err("a URL path starting with `/`, without spaces".into())
    }
}

/// Where an app is mounted: `/`, or a sub-URL without a trailing `/` (`/blog`), as
/// `WSGIScriptAlias` wants it.
/// An IP address literal for the account's Apache to listen on (`127.0.0.1`, `::1`,
/// `0.0.0.0`): a name would be resolved by Apache at start, and could change.
pub fn listen_address(s: &str) -> Result<(), String> {
    s.parse::<std::net::IpAddr>().map(|_| ()).map_err(|_| {
        format!("{s:?} is not an IP address; expected \"127.0.0.1\" (the default), \"::1\", or \"0.0.0.0\" to listen on every address")
    })
}

pub fn mount(s: &str) -> Result<(), String> {
    let ok = s == "/"
        || (s.starts_with('/')
            && !s.ends_with('/')
            && !s.contains("//")
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/-._~".contains(&b)));
    if ok {
        Ok(())
    } else {
        Err("`/`, or a URL path such as `/blog` (letters, digits, `-._~`; no trailing `/`)".into())
    }
}

/// Directives placed verbatim in the vhost: they may not open or close the vhost itself, and
/// hold no control character but newlines and tabs.
pub fn apache_raw(s: &str) -> Result<(), String> {
    let lower = s.to_ascii_lowercase();
    if lower.contains("<virtualhost") || lower.contains("</virtualhost") {
        return Err("directives inside the vhost, without `<VirtualHost>` itself".into());
    }
    if text_control_char(s).is_some() {
        return Err("Apache directives, without control characters".into());
    }
    Ok(())
}

/// Text looked for in a health answer: one line, not empty.
pub fn expected_text(s: &str) -> Result<(), String> {
    if s.is_empty() || control_char(s).is_some() {
        Err("one line of text the page contains, such as `Welcome`".into())
    } else {
        Ok(())
    }
}

/// A pip requirement string; refuses options, which would change how pip runs.
pub fn pip_requirement(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err("a requirement like `django>=4.2`".into());
    }
    if s.trim_start().starts_with('-') {
        return Err(
            "a requirement, not a pip option (put options in the requirements file)".into(),
        );
    }
    Ok(())
}

/// The first control character in `s`, if any (newline, NUL, tab, escape, ...).
pub fn control_char(s: &str) -> Option<char> {
    s.chars().find(|c| c.is_control())
}

/// The first control character of a text of several lines that is not a newline or a tab.
pub fn text_control_char(s: &str) -> Option<char> {
    s.chars()
        .find(|c| c.is_control() && *c != '\n' && *c != '\t')
}

/// The closest candidate to `word` when it is close enough to be a likely typo.
pub fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (levenshtein(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_and_raw_directives() {
        for good in ["/", "/blog", "/a/b-c.d"] {
            assert!(mount(good).is_ok(), "{good}");
        }
        for bad in ["", "blog", "/blog/", "//x", "/a b", "/x?y", "/${X}"] {
            assert!(mount(bad).is_err(), "{bad}");
        }
        assert!(apache_raw("Header set X 1\n\tRewriteEngine on").is_ok());
        assert!(apache_raw("</virtualhost>").is_err());
        assert!(apache_raw("Header set X \u{1b}").is_err());
    }

    #[test]
    fn emails_and_acme_directories() {
        assert!(email("ops@example.com").is_ok());
        for bad in [
            "ops",
            "@example.com",
            "ops@localhost",
            "a b@example.com",
            "o'p@x.com",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
        assert!(acme_directory("https://127.0.0.1:14000/dir").is_ok());
        assert!(acme_directory(LE).is_ok());
        for bad in ["http://x/dir", "https://", "https:///dir", "https://x/a b"] {
            assert!(acme_directory(bad).is_err(), "{bad}");
        }
    }
    const LE: &str = "https://acme-v02.api.letsencrypt.org/directory";

    #[test]
    fn app_names() {
        for ok in ["blog", "b", "my-app_2", "a234567890123456789012345678901"] {
            assert!(app_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Blog",
            "2blog",
            "-x",
            "my app",
            "a/b",
            "a2345678901234567890123456789012x",
        ] {
            assert!(app_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn server_names() {
        assert!(server_name("blog.example.com", false).is_ok());
        assert!(server_name("localhost", false).is_ok());
        assert!(server_name("*.example.com", false).is_err());
        assert!(server_name("*.example.com", true).is_ok());
        for bad in [
            "",
            "-a.com",
            "a-.com",
            "a..com",
            "a_b.com",
            "a b",
            "blog.example.com.",
        ] {
            assert!(server_name(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn env_names() {
        assert!(env_name("DJANGO_DEBUG").is_ok());
        assert!(env_name("_X1").is_ok());
        for bad in ["", "debug", "1X", "A-B", "A B"] {
            assert!(env_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn remote_paths() {
        assert!(remote_path("/srv/blog", true).is_ok());
        assert!(remote_path("/srv/my blog", false).is_ok());
        assert!(remote_path("srv/blog", false).is_err());
        assert!(remote_path("/srv/../etc", false).is_err());
        assert!(remote_path("/srv/${HOME}", false).is_err());
        assert!(remote_path("/srv/a:b", true).is_err());
        assert!(remote_path("/srv/a:b", false).is_ok());
        assert!(remote_path("/srv//b", false).is_err());
    }

    #[test]
    fn confdirs() {
        assert!(confdir("/etc/apache2-blog_2.x").is_ok());
        for bad in [
            "/etc/apache2-x;id>/tmp/p",
            "/etc/apache2 x",
            "/etc/$(id)",
            "/etc/a'b",
        ] {
            assert!(confdir(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn modules_prefixes_and_requirements() {
        assert!(python_module("blog.settings").is_ok());
        assert!(python_module("blog..settings").is_err());
        assert!(python_module("blog;import os").is_err());
        assert!(url_prefix("/static/").is_ok());
        assert!(url_prefix("/").is_err());
        assert!(url_prefix("static/").is_err());
        assert!(pip_requirement("psycopg[binary]").is_ok());
        assert!(pip_requirement("--index-url=http://evil").is_err());
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            suggest("adress", &["address", "port", "user"]),
            Some("address")
        );
        assert_eq!(
            suggest("server_name", &["server-name", "alias"]),
            Some("server-name")
        );
        assert_eq!(suggest("zzz", &["address", "port"]), None);
    }
}
