//! The certificate probe: what `openssl` on the host says of a certificate and its key.
//!
//! Stage: gather (the shell) and parse (pure). Expiry is decided on the host (`-checkend`),
//! so no clock of the machine running wsgictl is trusted; the dates are only shown.

use serde::Serialize;

/// What is at a certificate path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum CertState {
    Missing,
    /// There, but `openssl` cannot read it (or is not installed): the reason.
    Unreadable {
        reason: String,
    },
    Present(Certificate),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Certificate {
    pub subject: String,
    pub issuer: String,
    /// `2027-03-01 12:00:00 UTC`.
    pub not_after: String,
    /// DNS names of the subjectAltName extension.
    pub sans: Vec<String>,
    pub expired: bool,
    /// Expires within 14 days.
    pub expires_soon: bool,
    pub key: KeyState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyState {
    Match,
    Mismatch,
    Missing,
    Unreadable,
}

impl Certificate {
    /// The names of `names` this certificate does not cover (its SANs; its CN without any).
    pub fn uncovered<'a>(&self, names: &'a [String]) -> Vec<&'a str> {
        let cn = self
            .subject
            .split(',')
            .find_map(|p| p.trim().strip_prefix("CN="))
            .map(str::to_string);
        let sans: Vec<String> = if self.sans.is_empty() {
            cn.into_iter().collect()
        } else {
            self.sans.clone()
        };
        names
            .iter()
            .map(String::as_str)
            .filter(|n| !sans.iter().any(|s| covers(s, n)))
            .collect()
    }

    /// `CN=shop.test, SAN shop.test www.shop.test, issued by CN=…, valid until …`.
    pub fn describe(&self) -> String {
        format!(
            "{}; SAN {}; issued by {}; valid until {}",
            self.subject,
            if self.sans.is_empty() {
                "none".to_string()
            } else {
                self.sans.join(" ")
            },
            self.issuer,
            self.not_after
        )
    }
}

/// Whether certificate name `san` covers `name` (RFC 6125: a wildcard is one whole left-most
/// label; `*.example.com` covers `a.example.com`, not `example.com` nor `a.b.example.com`).
pub fn covers(san: &str, name: &str) -> bool {
    let (san, name) = (san.to_ascii_lowercase(), name.to_ascii_lowercase());
    if san == name {
        return true;
    }
    match san.strip_prefix("*.") {
        Some(rest) => name
            .split_once('.')
            .is_some_and(|(label, tail)| !label.is_empty() && label != "*" && tail == rest),
        None => false,
    }
}

/// Shell for the probe of `cert` and `key`.
pub fn script(cert: &str, key: &str) -> String {
    let q = |s: &str| crate::shell::quote(s).expect("no NUL").into_owned();
    format!(
        r#"c={c}; k={k}
if [ ! -e "$c" ]; then echo cert=missing; exit 0; fi
command -v openssl >/dev/null 2>&1 || {{ echo 'cert=unreadable openssl is not installed'; exit 0; }}
if ! err=$(openssl x509 -in "$c" -noout 2>&1); then echo "cert=unreadable $(printf '%s' "$err" | head -n 1)"; exit 0; fi
echo cert=present
openssl x509 -in "$c" -noout -nameopt RFC2253 -subject -issuer -enddate 2>/dev/null | sed 's/^notAfter=/not_after=/'
openssl x509 -in "$c" -noout -ext subjectAltName 2>/dev/null | tr ',' '\n' | sed -n 's/^[[:space:]]*DNS:/san=/p'
openssl x509 -in "$c" -noout -checkend 0 >/dev/null 2>&1 || echo expired=yes
openssl x509 -in "$c" -noout -checkend 1209600 >/dev/null 2>&1 || echo soon=yes
cp=$(openssl x509 -in "$c" -noout -pubkey 2>/dev/null | sha256sum | cut -d ' ' -f 1)
if [ ! -e "$k" ]; then echo key=missing
elif kp=$(openssl pkey -in "$k" -pubout 2>/dev/null) && [ -n "$kp" ]; then
  if [ "$(printf '%s\n' "$kp" | sha256sum | cut -d ' ' -f 1)" = "$cp" ]; then echo key=match; else echo key=mismatch; fi
else echo key=unreadable; fi
"#,
        c = q(cert),
        k = q(key)
    )
}

/// The probe's output.
pub fn parse(body: &str) -> Result<CertState, String> {
    let get = |k: &str| {
        body.lines()
            .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
    };
    let state = get("cert").ok_or("no `cert=` line")?;
    if state == "missing" {
        return Ok(CertState::Missing);
    }
    if let Some(reason) = state.strip_prefix("unreadable") {
        return Ok(CertState::Unreadable {
            reason: reason.trim().to_string(),
        });
    }
    let key = match get("key") {
        Some("match") => KeyState::Match,
        Some("mismatch") => KeyState::Mismatch,
        Some("missing") => KeyState::Missing,
        _ => KeyState::Unreadable,
    };
    Ok(CertState::Present(Certificate {
        subject: get("subject").unwrap_or("").trim().to_string(),
        issuer: get("issuer").unwrap_or("").trim().to_string(),
        not_after: get("not_after").map(iso_date).unwrap_or_default(),
        sans: body
            .lines()
            .filter_map(|l| l.strip_prefix("san="))
            .map(|s| s.trim().to_string())
            .collect(),
        expired: get("expired") == Some("yes"),
        expires_soon: get("soon") == Some("yes"),
        key,
    }))
}

/// `Mar  1 12:00:00 2027 GMT` (openssl's) → `2027-03-01 12:00:00 UTC`; anything else as is.
fn iso_date(s: &str) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let w: Vec<&str> = s.split_whitespace().collect();
    if let [mon, day, time, year, "GMT"] = w[..]
        && let Some(m) = MONTHS.iter().position(|x| *x == mon)
        && let Ok(d) = day.parse::<u32>()
    {
        return format!("{year}-{:02}-{d:02} {time} UTC", m + 1);
    }
    s.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_one_label() {
        assert!(covers("*.example.com", "a.example.com"));
        assert!(covers("Shop.Test", "shop.test"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("*.example.com", "a.b.example.com"));
        assert!(!covers("shop.test", "www.shop.test"));
    }

    #[test]
    fn a_present_certificate_parses() {
        let body = "cert=present\nsubject=CN=shop.test\nissuer=CN=Pebble Intermediate CA 1b2c\nnot_after=Mar  1 12:00:00 2027 GMT\nsan=shop.test\nsan=www.shop.test\nsoon=yes\nkey=mismatch\n";
        let CertState::Present(c) = parse(body).unwrap() else {
            panic!()
        };
        assert_eq!(c.not_after, "2027-03-01 12:00:00 UTC");
        assert_eq!(c.sans, ["shop.test", "www.shop.test"]);
        assert!(c.expires_soon && !c.expired);
        assert_eq!(c.key, KeyState::Mismatch);
        let names = ["shop.test".to_string(), "api.shop.test".to_string()];
        assert_eq!(c.uncovered(&names), ["api.shop.test"]);
        assert_eq!(parse("cert=missing\n").unwrap(), CertState::Missing);
        assert!(matches!(
            parse("cert=unreadable unable to load certificate\n").unwrap(),
            CertState::Unreadable { .. }
        ));
    }
}
