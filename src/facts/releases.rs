//! What an app's release directories hold: the `current` link, each release's record
//! (`.wsgictl-release`), releases a killed apply left unfinished, the code of a host deployed
//! before releases (`{root}/src`), and the static link.
//!
//! Stage: gather (the probe's shell, and its parser; pure). A release's record is `key=value`
//! lines written by apply: `id`, `source`, `env`, `requirements` (sha256 of what it holds),
//! `created` (seconds since the epoch), `from` (the release it was made from), one
//! `migration=app.name` line per migration applied while it was made, and `prepared` last,
//! once everything but the switch is done. Only a prepared release is ever switched to.

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

    /// The releases of `/srv/blog` as the gather's pass (`trees`) reports `lines` of them.
    fn parse(lines: &str, links: &str) -> Releases {
        let items = [crate::facts::trees::Item::Releases {
            root: "/srv/blog".into(),
            static_link: "/srv/blog/static".into(),
        }];
        let body = format!("X\t0\t/srv/blog\t/srv/blog/static\n{lines}{links}");
        let mut found = crate::facts::trees::parse(&body, &items);
        found.releases.remove("/srv/blog").unwrap().unwrap()
    }

    #[test]
    fn a_listing_reads_back_in_time_order() {
        let rec = |id: &str, t: &str| {
            t.lines()
                .map(|l| format!("W\t0\t{id}\t{l}\n"))
                .collect::<String>()
        };
        let lines = format!(
            "{}{}P\t0\t20261201T100000-bbbbbb\nP\t0\tlost+found\n",
            rec(
                "20261201T090102-3f2a9c",
                "id=20261201T090102-3f2a9c\nsource=s2\nenv=e\nrequirements=r\ncreated=1796115662\nfrom=20261130T165000-aa0100\nmigration=blog.0002_post_subtitle\nprepared\n"
            ),
            rec(
                "20261130T165000-aa0100",
                "id=20261130T165000-aa0100\nsource=s1\ncreated=1\nprepared\n"
            ),
        );
        let r = parse(
            &lines,
            "K\t/srv/blog/current\tl\treleases/20261201T090102-3f2a9c\nK\t/srv/blog/static\tl\t/srv/blog/current/static\n",
        );
        assert_eq!(r.current_id(), Some("20261201T090102-3f2a9c"));
        assert_eq!(r.releases[0].id, "20261130T165000-aa0100");
        assert_eq!(r.releases[1].created, 1796115662);
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
        // Code from before releases, `current` a real directory, the static one too.
        let r = parse(
            "G\t0\n",
            "K\t/srv/blog/current\td\t\nK\t/srv/blog/static\td\t\n",
        );
        assert!(r.legacy_src && r.current_not_link && r.current.is_none());
        assert_eq!(r.static_link, StaticLink::Dir);
    }

    #[test]
    fn a_current_link_to_a_partial_release_is_no_current_release() {
        let r = parse(
            "P\t0\t20261201T100000-bbbbbb\n",
            "K\t/srv/blog/current\tl\treleases/20261201T100000-bbbbbb\n",
        );
        assert_eq!(r.current_id(), None);
        assert_eq!(r.static_link, StaticLink::Missing);
    }
}
