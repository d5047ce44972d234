//! One parser per probe kind: a frame's text → a typed fact (pure; fixture-tested).
//!
//! Stage: gather. A frame that is missing (output cut off), exited non-zero, or does not parse
//! becomes [`Fact::Unknown`] carrying the reason and the probe's own output, trimmed.

use super::frame::{Frame, Frames};
use super::*;

/// Assemble the facts of `probes` (in script order) from the split output.
pub fn facts(host: &str, probes: &[Probe], frames: &Frames) -> Facts {
    let mut f = Facts::empty(host);
    f.stray = frames.stray.clone();
    f.processes = frames.processes;
    // The first probe of each pass holds the answers of all of its kind.
    let first = super::script::first_of_pass(probes);
    for (i, p) in probes.iter().enumerate() {
        let frame = match frames.frames.get(&i) {
            Some(fr) => Ok(fr),
            None => Err(match frames.cut_at {
                Some(n) if n <= i => {
                    format!(
                        "the output was cut off during probe {n} ({})",
                        describe(&probes[n])
                    )
                }
                _ => "the probe produced no output frame".to_string(),
            }),
        };
        match p {
            Probe::System => f.system = fact(frame, system),
            Probe::Apache { .. } => f.apache = fact(frame, apache),
            Probe::UserApache { .. } => {
                let both = fact(frame, super::user_server::parse);
                let (apache, server) = match both {
                    Fact::Known((a, s)) => (Fact::Known(a), Fact::Known(s)),
                    Fact::Unknown { error } => (
                        Fact::Unknown {
                            error: error.clone(),
                        },
                        Fact::Unknown { error },
                    ),
                };
                f.apache = apache;
                f.rootless = Some(server);
            }
            Probe::Path { .. } if first[i] => {
                let wanted = super::paths::wanted(probes);
                let states = match pass_body(&frame) {
                    Ok(body) => super::paths::parse(body, &wanted),
                    Err(e) => wanted
                        .into_iter()
                        .map(|(p, _)| (p, Err(e.clone())))
                        .collect(),
                };
                for (path, state) in states {
                    f.paths.insert(path, state.into());
                }
            }
            Probe::Path { .. } | Probe::SumsCache { .. } => {}
            Probe::Account { .. } | Probe::Group { .. } if first[i] => {
                let (users, groups) = super::accounts::wanted(probes);
                let (a, g) = match pass_body(&frame) {
                    Ok(body) => super::accounts::split(body, &users, &groups),
                    Err(e) => (
                        users.into_iter().map(|u| (u, Err(e.clone()))).collect(),
                        groups.into_iter().map(|g| (g, Err(e.clone()))).collect(),
                    ),
                };
                for (name, body) in a {
                    f.accounts
                        .insert(name, parsed(body.as_deref().map_err(Clone::clone), account));
                }
                for (name, body) in g {
                    f.groups
                        .insert(name, parsed(body.as_deref().map_err(Clone::clone), group));
                }
            }
            Probe::Account { .. } | Probe::Group { .. } => {}
            Probe::Venv { .. } | Probe::Interpreter { .. } if first[i] => {
                let wanted = super::venvs::wanted(probes);
                let interpreters = super::venvs::interpreters(probes);
                let (found, asked) = match pass_body(&frame) {
                    Ok(body) => (
                        super::venvs::parse(body, &wanted),
                        super::venvs::interpreter_bodies(body, &interpreters),
                    ),
                    Err(e) => (
                        wanted.into_iter().map(|p| (p, Err(e.clone()))).collect(),
                        interpreters
                            .into_iter()
                            .map(|p| (p, Err(e.clone())))
                            .collect(),
                    ),
                };
                for (path, body) in asked {
                    if let Ok(b) = &body
                        && let Some(u) = get(&kv(b), "untrusted")
                    {
                        f.untrusted.insert(path.clone(), u.to_string());
                    }
                    let body = body.as_deref().map_err(Clone::clone);
                    f.interpreters
                        .insert(path.clone(), parsed(body.clone(), interpreter));
                    f.interpreter_venv
                        .insert(path, parsed(body, interpreter_venv));
                }
                for (path, one) in found {
                    if let Ok(one) = &one {
                        f.fingerprints
                            .insert(format!("venv {path}"), one.fingerprint.clone());
                    }
                    f.venvs.insert(path, one.map(|one| one.venv).into());
                }
            }
            Probe::Venv { .. } | Probe::Interpreter { .. } => {}
            Probe::Tree { .. } | Probe::Releases { .. } if first[i] => {
                let wanted = super::trees::wanted(probes);
                let found = match pass_body(&frame) {
                    Ok(body) => super::trees::parse(body, &wanted),
                    Err(e) => super::trees::Found::failed(&wanted, &e),
                };
                for (path, tree) in found.trees {
                    if let Ok((_, fp)) = &tree {
                        f.fingerprints.insert(format!("tree {path}"), fp.clone());
                    }
                    f.trees.insert(path, tree.map(|(files, _)| files).into());
                }
                for (root, r) in found.releases {
                    f.releases.insert(root, r.into());
                }
            }
            Probe::Tree { .. } | Probe::Releases { .. } => {}
            Probe::Reach { user, path } => {
                f.reach.insert(format!("{user} {path}"), fact(frame, reach));
            }
            Probe::Leftovers { .. } => {
                f.leftovers_removed = fact(frame, leftovers).known().copied().flatten();
            }
            Probe::Health { app, expect, .. } => {
                let mut answer = fact(frame.clone(), http_status);
                if let (Fact::Known(code), Some(text), Ok(fr)) = (&answer, expect, &frame)
                    && fr.body.lines().any(|l| l == "expect=missing")
                {
                    answer = Fact::Unknown {
                        error: format!(
                            "{code}, but the page does not contain {text:?} (health-expect)"
                        ),
                    };
                }
                f.health.insert(app.clone(), answer);
            }
            Probe::Certificate { cert, .. } => {
                f.certificates
                    .insert(cert.clone(), fact(frame, super::cert::parse));
            }
            Probe::Settings { .. } if first[i] => {
                let wanted = super::settings::wanted(probes);
                let data = || wanted.iter().map(|(_, d)| d.as_str());
                let values = match pass_body(&frame) {
                    Ok(body) => super::settings::parse(body, data()),
                    Err(e) => data().map(|_| Err(e.clone())).collect(),
                };
                for ((app, _), value) in wanted.iter().zip(values) {
                    let answer = match value.and_then(|v| crate::settings_check::parse(&v)) {
                        Ok(report) => Fact::Known(report),
                        Err(error) => Fact::Unknown { error },
                    };
                    f.settings.insert(app.clone(), answer);
                }
            }
            Probe::Settings { .. } => {}
            Probe::RecordOffsets { .. } => {}
        }
    }
    f
}

fn describe(p: &Probe) -> String {
    match p {
        Probe::System => "system".into(),
        Probe::Apache { .. } => "apache".into(),
        Probe::UserApache { .. } => "the account's Apache".into(),
        Probe::Path { .. } => "the paths".into(),
        Probe::SumsCache { .. } => "the sums cache".into(),
        Probe::Account { name } => format!("account {name}"),
        Probe::Group { name } => format!("group {name}"),
        Probe::Venv { .. } => "the venvs".into(),
        Probe::Tree { .. } => "the source trees and releases".into(),
        Probe::Interpreter { path } => format!("interpreter {path}"),
        Probe::Reach { user, path } => format!("reach {path} as {user}"),
        Probe::Leftovers { prefix, .. } => format!("leftovers {prefix}*"),
        Probe::Health { app, url, .. } => format!("health of {app} ({url})"),
        Probe::Releases { .. } => "the source trees and releases".into(),
        Probe::RecordOffsets { .. } => "log offsets".into(),
        Probe::Certificate { cert, .. } => format!("certificate {cert}"),
        Probe::Settings { app, .. } => format!("Django settings of {app}"),
    }
}

/// A frame's body, or why what it answers is unknown (no frame, or a non-zero exit).
fn pass_body<'a>(frame: &Result<&'a Frame, String>) -> Result<&'a str, String> {
    let frame = frame.as_ref().map_err(Clone::clone)?;
    if frame.status != 0 {
        return Err(format!(
            "exit status {}: {}",
            frame.status,
            trim(&frame.body)
        ));
    }
    Ok(&frame.body)
}

fn fact<T>(frame: Result<&Frame, String>, parse: impl Fn(&str) -> Result<T, String>) -> Fact<T> {
    parsed(pass_body(&frame), parse)
}

/// A body (or why there is none) through its parser; a parse error quotes the body.
fn parsed<T>(body: Result<&str, String>, parse: impl Fn(&str) -> Result<T, String>) -> Fact<T> {
    let body = match body {
        Ok(body) => body,
        Err(error) => return Fact::Unknown { error },
    };
    parse(body).map_or_else(
        |e| Fact::Unknown {
            error: format!("{e}: {}", trim(body)),
        },
        Fact::Known,
    )
}

fn trim(s: &str) -> String {
    let s = s.trim();
    if s.len() > 300 {
        format!("{}…", &s[..s.floor_char_boundary(300)])
    } else {
        s.to_string()
    }
}

/// `key=value` lines; other lines are ignored.
pub(super) fn kv(body: &str) -> Vec<(&str, &str)> {
    body.lines().filter_map(|l| l.split_once('=')).collect()
}

pub(super) fn get<'a>(pairs: &[(&str, &'a str)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

fn need<'a>(pairs: &[(&str, &'a str)], key: &str) -> Result<&'a str, String> {
    get(pairs, key).ok_or_else(|| format!("no `{key}=` line"))
}

pub fn system(body: &str) -> Result<System, String> {
    let p = kv(body);
    Ok(System {
        os_id: need(&p, "os_id")?.to_string(),
        os_like: get(&p, "os_like").unwrap_or("").to_string(),
        os_version: get(&p, "os_version").unwrap_or("").to_string(),
        uid: need(&p, "uid")?
            .parse()
            .map_err(|_| "bad uid".to_string())?,
        acl: get(&p, "acl") == Some("yes"),
        systemd: get(&p, "systemd") == Some("yes"),
        certbot: get(&p, "certbot") == Some("yes"),
        selinux: get(&p, "selinux").unwrap_or("absent").to_ascii_lowercase(),
    })
}

pub fn apache(body: &str) -> Result<Option<Apache>, String> {
    let p = kv(body);
    let layout = match need(&p, "layout")? {
        "none" => return Ok(None),
        "debian" => crate::manifest::Layout::Debian,
        "rhel" => crate::manifest::Layout::Rhel,
        other => return Err(format!("unknown layout {other:?}")),
    };
    let all = |key: &'static str| p.iter().filter(move |(k, _)| *k == key).map(|(_, v)| *v);
    Ok(Some(Apache {
        layout,
        confdir: need(&p, "confdir")?.to_string(),
        version: get(&p, "version").unwrap_or("").to_string(),
        user: get(&p, "user").map(str::to_string),
        group: get(&p, "group").map(str::to_string),
        running: get(&p, "running") == Some("yes"),
        modules: all("module").map(str::to_string).collect(),
        listen_ports: all("listen")
            .filter_map(|v| listen_port(v.split(' ').next()?))
            .collect(),
        listen_files: all("listen")
            .filter_map(|v| {
                let (port, file) = v.split_once(' ').unwrap_or((v, ""));
                Some((listen_port(port)?, file.to_string()))
            })
            .collect(),
        wsgi_so: get(&p, "wsgi_so").map(str::to_string),
        wsgi_python: get(&p, "wsgi_python").map(str::to_string),
        wsgi_loads: all("wsgi_load").map(str::to_string).collect(),
        foreign_daemons: all("daemon")
            .filter_map(|v| v.split_once(' '))
            .map(|(n, f)| (n.to_string(), f.to_string()))
            .collect(),
        run_dir: get(&p, "run_dir").map(str::to_string),
        run_dir_denied: get(&p, "run_dir_denied").map(str::to_string),
        vhosts: all("vhost")
            .filter_map(|v| {
                let mut it = v.splitn(3, ' ');
                Some((
                    it.next()?.parse().ok()?,
                    it.next()?.to_string(),
                    it.next()?.to_string(),
                ))
            })
            .collect(),
    }))
}

/// The port of a `Listen` argument: `80`, `0.0.0.0:8080`, `[::]:443`.
pub fn listen_port(arg: &str) -> Option<u16> {
    arg.rsplit(':').next()?.parse().ok()
}

/// `venv=yes|no` from an interpreter probe; a missing interpreter cannot make venvs.
pub fn interpreter_venv(body: &str) -> Result<bool, String> {
    Ok(get(&kv(body), "venv") == Some("yes"))
}

/// `removed=N`, or `skip`/`busy` (not root, or an apply holds the lock).
pub fn leftovers(body: &str) -> Result<Option<u32>, String> {
    match get(&kv(body), "removed") {
        Some(n) => n.parse().map(Some).map_err(|_| "bad count".to_string()),
        None if body.trim() == "skip" || body.trim() == "busy" => Ok(None),
        None => Err("no verdict".into()),
    }
}

/// `status=200`; curl's `000` (no answer) and anything else is an error naming what it saw.
pub fn http_status(body: &str) -> Result<u16, String> {
    match get(&kv(body), "status").map(str::parse::<u16>) {
        Some(Ok(code)) if code != 0 => Ok(code),
        _ => Err("no HTTP answer".into()),
    }
}

pub fn reach(body: &str) -> Result<Reached, String> {
    let as_nobody = body.lines().any(|l| l == "as=nobody");
    let last = body
        .lines()
        .rfind(|l| *l == "ok" || *l == "skip" || l.starts_with("deny "))
        .ok_or("no verdict")?;
    let reach = match last {
        "ok" => Reach::Ok,
        "skip" => Reach::Skipped,
        deny => {
            let rest = &deny["deny ".len()..];
            let (stat, path) = rest.split_once(' ').ok_or("bad deny line")?;
            Reach::Denied {
                path: path.to_string(),
                stat: stat.replace(':', " "),
            }
        }
    };
    Ok(Reached { reach, as_nobody })
}

pub fn account(body: &str) -> Result<Option<Account>, String> {
    let line = body.lines().next().unwrap_or("");
    if line == "missing" {
        return Ok(None);
    }
    let f: Vec<&str> = line.split(':').collect();
    if f.len() < 7 {
        return Err("not a passwd line".into());
    }
    let groups = body
        .lines()
        .find_map(|l| l.strip_prefix("groups="))
        .map(|g| g.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    Ok(Some(Account {
        name: f[0].to_string(),
        uid: f[2].parse().map_err(|_| "bad uid".to_string())?,
        gid: f[3].parse().map_err(|_| "bad gid".to_string())?,
        home: f[5].to_string(),
        shell: f[6].to_string(),
        groups,
    }))
}

pub fn group(body: &str) -> Result<Option<Group>, String> {
    let line = body.lines().next().unwrap_or("");
    if line == "missing" {
        return Ok(None);
    }
    let f: Vec<&str> = line.split(':').collect();
    if f.len() < 4 {
        return Err("not a group line".into());
    }
    Ok(Some(Group {
        name: f[0].to_string(),
        gid: f[2].parse().map_err(|_| "bad gid".to_string())?,
        members: f[3]
            .split(',')
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .collect(),
    }))
}

pub fn interpreter(body: &str) -> Result<Option<String>, String> {
    if body.trim() == "missing" || get(&kv(body), "untrusted").is_some() {
        return Ok(None);
    }
    Ok(Some(need(&kv(body), "version")?.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_ports() {
        assert_eq!(listen_port("80"), Some(80));
        assert_eq!(listen_port("0.0.0.0:8080"), Some(8080));
        assert_eq!(listen_port("[::]:443"), Some(443));
        assert_eq!(listen_port("nope"), None);
    }

    #[test]
    fn failed_and_cut_frames_are_unknown() {
        let probes = vec![
            Probe::System,
            Probe::Account {
                name: "blog".into(),
            },
        ];
        let frames = super::super::frame::split(
            "WSGICTL n BEGIN 0\noops\nWSGICTL n END 0 2\nWSGICTL n BEGIN 1\n",
            "n",
        );
        let f = facts("web1", &probes, &frames);
        assert_eq!(
            f.system,
            Fact::Unknown {
                error: "exit status 2: oops".into()
            }
        );
        assert_eq!(
            f.accounts["blog"],
            Fact::Unknown {
                error: "the output was cut off during probe 1 (account blog)".into()
            }
        );
    }

    #[test]
    fn a_failed_pass_leaves_everything_it_answers_unknown() {
        let path = |p: &str| Probe::Path {
            path: p.into(),
            want_sha256: None,
        };
        let probes = vec![
            path("/a"),
            path("/b"),
            Probe::Venv { path: "/v".into() },
            Probe::Tree { path: "/t".into() },
            Probe::Releases {
                root: "/r".into(),
                static_link: "/r/static".into(),
            },
        ];
        let frames = super::super::frame::split(
            "WSGICTL n BEGIN 0\noops\nWSGICTL n END 0 2\nWSGICTL n BEGIN 2\nno\nWSGICTL n END 2 1\nWSGICTL n BEGIN 3\n",
            "n",
        );
        let f = facts("web1", &probes, &frames);
        for p in ["/a", "/b"] {
            assert_eq!(
                f.paths[p],
                Fact::Unknown {
                    error: "exit status 2: oops".into()
                }
            );
        }
        assert_eq!(
            f.venvs["/v"],
            Fact::Unknown {
                error: "exit status 1: no".into()
            }
        );
        assert!(matches!(&f.trees["/t"], Fact::Unknown { error } if error.contains("cut off")));
        assert!(matches!(&f.releases["/r"], Fact::Unknown { error } if error.contains("cut off")));
        assert!(f.fingerprints.is_empty(), "{:?}", f.fingerprints);
    }
}
