//! What an app's release directories hold: the `current` link, each release's record
//! (`.wsgictl-release`), releases a killed apply left unfinished, the code of a host deployed
//! before releases (`{root}/src`), and the static link.
//!
//! Stage: gather (the probe's shell, and its parser; pure). A release's record is `key=value`
//! lines written by apply: `id`, `source`, `env`, `requirements` (sha256 of what it holds),
//! `created` (seconds since the epoch), `from` (the release it was made from), one
//! `migration=app.name` line per migration applied while it was made, and `prepared` last,
//! once everything but the switch is done. Only a prepared release is ever switched to.

use base64::Engine as _;
use serde::Serialize;

/// The release directories of one app.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Releases {
    /// What `current` points at (`releases/<id>`), when it is a link.
    pub current: Option<String>,
    /// `current` exists and is not a link.
    pub current_not_link: bool,
    /// Every directory below `releases/` with a record, oldest first.
    pub releases: Vec<Release>,
    /// Directories below `releases/` without a record (a killed apply's).
    pub partial: Vec<String>,
    /// `{root}/src` is a directory: deployed by a wsgictl without releases.
    pub legacy_src: bool,
    pub static_link: StaticLink,
}

/// The manifest's static directory as found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "target", rename_all = "kebab-case")]
pub enum StaticLink {
    #[default]
    Missing,
    Link(String),
    /// A real directory (a host deployed before releases).
    Dir,
    Other,
}

/// One release's record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Release {
    pub id: String,
    pub source: String,
    pub env: String,
    pub requirements: String,
    /// sha256 of its `.wsgi`.
    pub wsgi: String,
    pub created: u64,
    pub from: Option<String>,
    pub migrations: Vec<String>,
    pub prepared: bool,
    /// Its `src` fingerprint (paths, modes, sizes, mtimes) when it was switched to, and now.
    pub tree: String,
    pub tree_now: String,
}

impl Release {
    /// Nothing in its `src` changed since it was switched to (a file edited in place on the
    /// host changes every release that shares it by a hard link).
    pub fn intact(&self) -> bool {
        self.tree.is_empty() || self.tree == self.tree_now
    }
}

impl Releases {
    /// The id of the release `current` points at.
    pub fn current_id(&self) -> Option<&str> {
        let id = id_of(self.current.as_deref()?);
        self.releases.iter().any(|r| r.id == id).then_some(id)
    }

    pub fn get(&self, id: &str) -> Option<&Release> {
        self.releases.iter().find(|r| r.id == id)
    }

    /// The prepared release just before `id` in time order.
    pub fn before(&self, id: &str) -> Option<&Release> {
        self.releases
            .iter()
            .rfind(|r| r.prepared && r.id.as_str() < id)
    }
}

/// The probe's shell for the app rooted at `root` whose static directory is `static_link`.
pub fn script(root: &str, static_link: &str) -> String {
    let q = |s: &str| crate::shell::quote(s).expect("no NUL").into_owned();
    format!(
        "\
{fps}r={root}; s={st}
if [ -L \"$r/current\" ]; then echo \"current=$(readlink \"$r/current\")\"; elif [ -e \"$r/current\" ]; then echo current=not-a-link; fi
if [ -d \"$r/src\" ] && [ ! -L \"$r/src\" ]; then echo legacy=yes; fi
if [ -L \"$s\" ]; then echo \"static=link:$(readlink \"$s\")\"; elif [ -d \"$s\" ]; then echo static=dir; elif [ -e \"$s\" ]; then echo static=other; else echo static=missing; fi
for d in \"$r\"/releases/*; do
  [ -d \"$d\" ] && [ ! -L \"$d\" ] || continue
  if [ -f \"$d/.wsgictl-release\" ]; then echo \"release=${{d##*/}} $(base64 -w 0 < \"$d/.wsgictl-release\") $(tree_fp \"$d/src\")\"; else echo \"partial=${{d##*/}}\"; fi
done
exit 0
",
        root = q(root),
        st = q(static_link),
        fps = crate::facts::script::FINGERPRINTS,
    )
}

/// The release id a `current` link target names: `releases/<id>` → `<id>`.
pub fn id_of(link: &str) -> &str {
    let t = link.trim_end_matches('/');
    t.rsplit('/').next().unwrap_or(t)
}

/// Whether `id` is a release id wsgictl makes: `YYYYMMDDTHHMMSS-` and six hex digits.
pub fn valid_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 22
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'-'
        && b[16..]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

pub fn parse(body: &str) -> Result<Releases, String> {
    let mut out = Releases::default();
    for line in body.lines() {
        let (k, v) = line.split_once('=').unwrap_or((line, ""));
        match k {
            "current" if v == "not-a-link" => out.current_not_link = true,
            "current" => out.current = Some(v.to_string()),
            "legacy" => out.legacy_src = true,
            "static" => {
                out.static_link = match v.split_once(':') {
                    Some(("link", t)) => StaticLink::Link(t.to_string()),
                    _ => match v {
                        "dir" => StaticLink::Dir,
                        "missing" => StaticLink::Missing,
                        _ => StaticLink::Other,
                    },
                }
            }
            "partial" if valid_id(v) => out.partial.push(v.to_string()),
            "release" => {
                let mut words = v.split(' ');
                let (id, b64, now) = (
                    words.next().unwrap_or(""),
                    words.next().unwrap_or(""),
                    words.next().unwrap_or(""),
                );
                if !valid_id(id) {
                    continue;
                }
                let text = base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map_err(|e| format!("release {id}: unreadable record ({e})"))?;
                let mut r = record(id, &String::from_utf8_lossy(&text));
                r.tree_now = now.to_string();
                out.releases.push(r);
            }
            _ => {}
        }
    }
    out.releases.sort_by(|a, b| a.id.cmp(&b.id));
    out.partial.sort();
    Ok(out)
}

/// A `.wsgictl-release` file's lines.
pub fn record(id: &str, text: &str) -> Release {
    let mut r = Release {
        id: id.to_string(),
        ..Release::default()
    };
    for line in text.lines() {
        let (k, v) = line.split_once('=').unwrap_or((line, ""));
        match k {
            "source" => r.source = v.to_string(),
            "env" => r.env = v.to_string(),
            "requirements" => r.requirements = v.to_string(),
            "wsgi" => r.wsgi = v.to_string(),
            "created" => r.created = v.parse().unwrap_or(0),
            "from" if !v.is_empty() => r.from = Some(v.to_string()),
            "migration" if !v.is_empty() => r.migrations.push(v.to_string()),
            "prepared" => r.prepared = true,
            "tree" => r.tree = v.to_string(),
            _ => {}
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_time_then_source() {
        assert!(valid_id("20261201T090102-3f2a9c"));
        assert!(!valid_id("20261201T0901-3f2a9c"));
        assert!(!valid_id("../../etc/passwd0000000"));
        assert!(!valid_id("20261201T090102-3F2A9C"));
    }

    #[test]
    fn a_listing_reads_back_in_time_order() {
        let rec = |t: &str| base64::engine::general_purpose::STANDARD.encode(t);
        let body = format!(
            "current=releases/20261201T090102-3f2a9c\nstatic=link:/srv/blog/current/static\nrelease=20261201T090102-3f2a9c {}\nrelease=20261130T165000-aa0100 {}\npartial=20261201T100000-bbbbbb\npartial=lost+found\n",
            rec(
                "id=20261201T090102-3f2a9c\nsource=s2\nenv=e\nrequirements=r\ncreated=1796115662\nfrom=20261130T165000-aa0100\nmigration=blog.0002_post_subtitle\nprepared\n"
            ),
            rec("id=20261130T165000-aa0100\nsource=s1\ncreated=1\nprepared\n"),
        );
        let r = parse(&body).unwrap();
        assert_eq!(r.current_id(), Some("20261201T090102-3f2a9c"));
        assert_eq!(r.releases[0].id, "20261130T165000-aa0100");
        assert_eq!(
            r.releases[1].migrations,
            vec!["blog.0002_post_subtitle".to_string()]
        );
        assert_eq!(
            r.before("20261201T090102-3f2a9c").map(|r| r.id.as_str()),
            Some("20261130T165000-aa0100")
        );
        assert_eq!(r.partial, vec!["20261201T100000-bbbbbb".to_string()]);
        assert_eq!(
            r.static_link,
            StaticLink::Link("/srv/blog/current/static".into())
        );
        assert!(!r.legacy_src);
    }

    #[test]
    fn a_current_link_to_a_partial_release_is_no_current_release() {
        let r = parse("current=releases/20261201T100000-bbbbbb\npartial=20261201T100000-bbbbbb\n")
            .unwrap();
        assert_eq!(r.current_id(), None);
    }
}
