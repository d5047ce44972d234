//! known_hosts, read and matched by wsgictl itself.
//!
//! Stage: gather (pure, but for reading and appending the file). libssh2's own checker ignores
//! the port in `check`, reports a *mismatch* when the negotiated key type differs from the
//! known one, and ignores `@revoked`; this module avoids all three: it finds every entry for
//! `host:port` (plain, `[host]:port`, wildcard and hashed `|1|salt|hash` forms), tells the
//! transport which key types to negotiate, and judges the key the server presented.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Digest as _;
use std::path::Path;

/// One known_hosts line that applies to the host being checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key_type: String,
    pub key: Vec<u8>,
    pub revoked: bool,
    pub line: usize,
}

/// The verdict on a presented host key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Match,
    /// No entry for this host and port.
    Unknown,
    /// Entries exist but none holds this key.
    Mismatch {
        known_lines: Vec<usize>,
    },
    /// The key is listed as `@revoked`.
    Revoked {
        line: usize,
    },
}

/// The name OpenSSH records for a host: `host` on port 22, else `[host]:port`.
pub fn host_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// Every entry of `text` that applies to `host`:`port`.
pub fn entries_for(text: &str, host: &str, port: u16) -> Vec<Entry> {
    let name = host_name(host, port);
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let mut first = fields.next().unwrap_or("");
        let mut revoked = false;
        if first.starts_with('@') {
            match first {
                "@revoked" => revoked = true,
                _ => continue, // @cert-authority: certificates are not supported
            }
            first = fields.next().unwrap_or("");
        }
        let (Some(key_type), Some(key_b64)) = (fields.next(), fields.next()) else {
            continue;
        };
        if !patterns_match(first, &name) {
            continue;
        }
        let Ok(key) = STANDARD.decode(key_b64) else {
            continue;
        };
        out.push(Entry {
            key_type: key_type.to_string(),
            key,
            revoked,
            line: i + 1,
        });
    }
    out
}

/// Judge the key the server presented against the entries for its host.
pub fn verdict(entries: &[Entry], presented: &[u8]) -> Verdict {
    if let Some(e) = entries.iter().find(|e| e.revoked && e.key == presented) {
        return Verdict::Revoked { line: e.line };
    }
    let valid: Vec<&Entry> = entries.iter().filter(|e| !e.revoked).collect();
    if valid.iter().any(|e| e.key == presented) {
        Verdict::Match
    } else if valid.is_empty() {
        Verdict::Unknown
    } else {
        Verdict::Mismatch {
            known_lines: valid.iter().map(|e| e.line).collect(),
        }
    }
}

/// libssh2 host-key method names to prefer, so the server presents a key type we know.
pub fn method_preference(entries: &[Entry]) -> Option<String> {
    let mut prefs: Vec<&str> = Vec::new();
    for e in entries.iter().filter(|e| !e.revoked) {
        // A known ssh-rsa key is presented under the rsa-sha2 signature methods too.
        let methods = match e.key_type.as_str() {
            "ssh-rsa" => vec!["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
            other => vec![other],
        };
        for m in methods {
            if !prefs.contains(&m) {
                prefs.push(m);
            }
        }
    }
    (!prefs.is_empty()).then(|| prefs.join(","))
}

/// `SHA256:…` as OpenSSH prints fingerprints.
pub fn fingerprint(key: &[u8]) -> String {
    format!(
        "SHA256:{}",
        STANDARD_NO_PAD.encode(sha2::Sha256::digest(key))
    )
}

/// The line `accept-new` appends for a host.
pub fn line_for(host: &str, port: u16, key_type: &str, key: &[u8]) -> String {
    format!(
        "{} {key_type} {}\n",
        host_name(host, port),
        STANDARD.encode(key)
    )
}

/// Append `line` to the file, creating it (0600) and its directory (0700) if needed.
pub fn append(path: &Path, line: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    if let Some(dir) = path.parent().filter(|d| !d.exists()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(line.as_bytes())
}

/// A comma-separated known_hosts host field against `name`: any positive match and no
/// negated match.
fn patterns_match(field: &str, name: &str) -> bool {
    if let Some(hashed) = field.strip_prefix("|1|") {
        return hashed_match(hashed, name);
    }
    let mut matched = false;
    for pat in field.split(',') {
        match pat.strip_prefix('!') {
            Some(neg) if wildcard(neg, name) => return false,
            Some(_) => {}
            None => matched |= wildcard(pat, name),
        }
    }
    matched
}

fn hashed_match(hashed: &str, name: &str) -> bool {
    let Some((salt, hash)) = hashed.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (STANDARD.decode(salt), STANDARD.decode(hash)) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(name.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

/// `*` and `?` wildcards, case-insensitive as host names are.
fn wildcard(pat: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(pat.as_bytes(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    const KEY_B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIBBBqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    fn key(b64: &str) -> Vec<u8> {
        STANDARD.decode(b64).unwrap()
    }

    #[test]
    fn port_is_part_of_the_name() {
        let text = format!("[10.0.0.1]:2222 ssh-ed25519 {KEY_A}\n10.0.0.1 ssh-ed25519 {KEY_B}\n");
        assert_eq!(
            verdict(&entries_for(&text, "10.0.0.1", 2222), &key(KEY_A)),
            Verdict::Match
        );
        assert_eq!(
            verdict(&entries_for(&text, "10.0.0.1", 22), &key(KEY_B)),
            Verdict::Match
        );
        assert_eq!(
            verdict(&entries_for(&text, "10.0.0.1", 22), &key(KEY_A)),
            Verdict::Mismatch {
                known_lines: vec![2]
            }
        );
        assert_eq!(
            verdict(&entries_for(&text, "10.0.0.1", 2200), &key(KEY_A)),
            Verdict::Unknown
        );
    }

    #[test]
    fn hashed_entries_match() {
        // `ssh-keygen -H` form of "web1.example.com", salt and hash computed independently.
        let salt = STANDARD.encode(b"0123456789abcdefghij");
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(b"0123456789abcdefghij").unwrap();
        mac.update(b"web1.example.com");
        let hash = STANDARD.encode(mac.finalize().into_bytes());
        let text = format!("|1|{salt}|{hash} ssh-ed25519 {KEY_A}\n");
        assert_eq!(
            verdict(&entries_for(&text, "web1.example.com", 22), &key(KEY_A)),
            Verdict::Match
        );
        assert_eq!(
            verdict(&entries_for(&text, "web2.example.com", 22), &key(KEY_A)),
            Verdict::Unknown
        );
    }

    #[test]
    fn patterns_and_negation() {
        let text = format!("*.example.com,!bad.example.com ssh-ed25519 {KEY_A}\n");
        assert_eq!(entries_for(&text, "web1.EXAMPLE.com", 22).len(), 1);
        assert!(entries_for(&text, "bad.example.com", 22).is_empty());
        assert!(entries_for(&text, "example.org", 22).is_empty());
    }

    #[test]
    fn revoked_keys_are_refused_even_with_a_valid_entry() {
        let text = format!("web1 ssh-ed25519 {KEY_A}\n@revoked * ssh-ed25519 {KEY_A}\n");
        assert_eq!(
            verdict(&entries_for(&text, "web1", 22), &key(KEY_A)),
            Verdict::Revoked { line: 2 }
        );
    }

    #[test]
    fn preference_follows_the_known_types() {
        let text = format!("web1 ssh-rsa {KEY_A}\nweb1 ssh-ed25519 {KEY_B}\n");
        assert_eq!(
            method_preference(&entries_for(&text, "web1", 22)).unwrap(),
            "rsa-sha2-512,rsa-sha2-256,ssh-rsa,ssh-ed25519"
        );
        assert_eq!(method_preference(&[]), None);
    }

    #[test]
    fn fingerprints_look_like_openssh() {
        assert!(fingerprint(&key(KEY_A)).starts_with("SHA256:"));
        assert!(!fingerprint(&key(KEY_A)).ends_with('='));
        assert_eq!(
            line_for("h", 2222, "ssh-ed25519", &key(KEY_A)),
            format!("[h]:2222 ssh-ed25519 {KEY_A}\n")
        );
    }
}
