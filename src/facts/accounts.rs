//! The gather's one pass over every [`Probe::Account`] and [`Probe::Group`]: the call of
//! `probe_accounts` (`probes.sh`; the names as two quoted arguments) and the split of its
//! output into the body each probe once printed on its own, for `parse::account` and
//! `parse::group` (pure).
//!
//! Stage: gather. `script::build` emits one frame for all of them, at the place of the
//! first. One `getent passwd`, one `getent group` and one `id -Gn` answer every name,
//! where a probe each took a `getent` and an `id`.

use super::Probe;
use std::collections::BTreeMap;

/// The accounts and the groups `probes` ask about, once each, in order.
pub fn wanted(probes: &[Probe]) -> (Vec<String>, Vec<String>) {
    let (mut users, mut groups) = (Vec::new(), Vec::new());
    for p in probes {
        let (list, name) = match p {
            Probe::Account { name } => (&mut users, name),
            Probe::Group { name } => (&mut groups, name),
            _ => continue,
        };
        if !list.contains(name) {
            list.push(name.clone());
        }
    }
    (users, groups)
}

/// A name the pass can be given: the manifest's account names (`[a-z_][a-z0-9_-]*`) and
/// the system's (`www-data`, `apache`), nothing that could break a line or a field.
fn usable(name: &str) -> bool {
    !name.is_empty() && !name.contains([':', ',']) && !name.chars().any(|c| c.is_control())
}

/// The frame's body: `probe_accounts USERS GROUPS`, each a newline-separated list.
pub fn script(users: &[String], groups: &[String]) -> String {
    let list = |names: &[String]| -> String {
        let text: String = names
            .iter()
            .filter(|n| usable(n))
            .map(|n| format!("{n}\n"))
            .collect();
        crate::shell::quote(&text)
            .expect("names hold no NUL")
            .into_owned()
    };
    format!("probe_accounts {} {}\n", list(users), list(groups))
}

/// What the pass printed → each name's body as its own probe printed it: the passwd line
/// and `groups=…` for an account, the group line for a group, `missing` for a name with no
/// line; an error for a name the pass could not be given.
pub type Bodies = BTreeMap<String, Result<String, String>>;

pub fn split(body: &str, users: &[String], groups: &[String]) -> (Bodies, Bodies) {
    let (mut passwd, mut member, mut group) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    for line in body.lines() {
        let mut f = line.splitn(3, '\t');
        let (Some(tag), Some(name), Some(rest)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let into = match tag {
            "A" => &mut passwd,
            "N" => &mut member,
            "G" => &mut group,
            _ => continue,
        };
        into.entry(name.to_string())
            .or_insert_with(|| rest.to_string());
    }
    let answer = |name: &String, body: String| {
        let body = if usable(name) {
            Ok(body)
        } else {
            Err(format!("{name:?} is not a name the pass can ask about"))
        };
        (name.clone(), body)
    };
    let accounts = users
        .iter()
        .map(|u| {
            let body = match passwd.get(u) {
                Some(line) => format!(
                    "{line}\ngroups={}\n",
                    member.get(u).map(String::as_str).unwrap_or("")
                ),
                None => "missing\n".to_string(),
            };
            answer(u, body)
        })
        .collect();
    let groups = groups
        .iter()
        .map(|g| {
            answer(
                g,
                group
                    .get(g)
                    .map_or("missing\n".to_string(), |l| format!("{l}\n")),
            )
        })
        .collect();
    (accounts, groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_name_gets_the_body_its_own_probe_printed() {
        let users = vec![
            "blog".to_string(),
            "gone".to_string(),
            "bad:name".to_string(),
        ];
        let groups = vec!["blog".to_string(), "nope".to_string()];
        let body = "A\tblog\tblog:x:1001:1001::/srv/blog:/usr/sbin/nologin\n\
                    N\tblog\tblog www-data\n\
                    G\tblog\tblog:x:1001:www-data\n";
        let (a, g) = split(body, &users, &groups);
        assert_eq!(
            a["blog"].as_deref(),
            Ok("blog:x:1001:1001::/srv/blog:/usr/sbin/nologin\ngroups=blog www-data\n")
        );
        assert_eq!(a["gone"].as_deref(), Ok("missing\n"));
        assert!(a["bad:name"].is_err());
        assert_eq!(g["blog"].as_deref(), Ok("blog:x:1001:www-data\n"));
        assert_eq!(g["nope"].as_deref(), Ok("missing\n"));
        let s = script(&users, &groups);
        assert!(!s.contains("bad:name"), "{s}");
        assert!(
            s.starts_with("probe_accounts 'blog\ngone\n' 'blog\nnope\n'"),
            "{s}"
        );
    }
}
