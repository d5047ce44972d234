//! The two round trips of `import`: what Apache says of its configuration with every file it
//! reads (`gather.sh`), then the `.wsgi` files, projects, venvs and document roots those
//! point at (`read.sh`). Values reach the scripts as data: quoted variable assignments
//! before the script, requests in a here-document after it.
//!
//! Stage: import (builds the scripts; parses their framed output). Nothing here connects.

use super::dump::{self, Include, RunCfg, Vhost};
use super::wsgi::WsgiFile;
use crate::facts::frame;
use base64::Engine as _;
use std::collections::{BTreeMap, BTreeSet};

const GATHER: &str = include_str!("gather.sh");
const READ: &str = include_str!("read.sh");

fn q(s: &str) -> String {
    crate::shell::quote(s).expect("no NUL").into_owned()
}

/// Round trip 1.
pub fn gather_script(nonce: &str, confdir: Option<&str>) -> String {
    format!(
        "nonce={}\nconfdir={}\n{GATHER}",
        q(nonce),
        q(confdir.unwrap_or(""))
    )
}

/// What round trip 1 brought back.
#[derive(Debug, Default)]
pub struct Apache {
    pub includes: Vec<Include>,
    pub run: RunCfg,
    pub modules: BTreeSet<String>,
    pub vhosts: Vec<Vhost>,
    /// File bytes by the path Apache names.
    pub files: BTreeMap<String, Vec<u8>>,
    /// The real path of each file (a `sites-enabled` link → its `sites-available` file).
    pub real: BTreeMap<String, String>,
}

pub fn parse_gather(output: &str, nonce: &str) -> anyhow::Result<Apache> {
    let frames = frame::split(output, nonce);
    if let Some(f) = frames.frames.get(&0) {
        anyhow::bail!("{}", f.body.trim());
    }
    let body = |n: usize| {
        frames
            .frames
            .get(&n)
            .ok_or_else(|| anyhow::anyhow!("the host's answer was cut short ({})", output.len()))
    };
    let inc = body(1)?;
    if inc.status != 0 {
        anyhow::bail!(
            "Apache's own configuration test fails on the host, so its configuration cannot be imported as it runs:\n{}\nfix it first (`apache2ctl -t` shows the same)",
            inc.body.trim()
        );
    }
    let (vhosts, mut run) = dump::vhosts(&body(4)?.body);
    let (_, run_cfg) = dump::vhosts(&body(2)?.body);
    // DUMP_RUN_CFG is the authority for the run settings; -S repeats them.
    if run_cfg.server_root.is_some() {
        run = run_cfg;
    }
    // Debian's envvars: Apache expands ${APACHE_LOG_DIR} from its environment.
    if let Some(f) = frames.frames.get(&5) {
        for l in f.body.lines() {
            if let Some((k, v)) = l.split_once('=') {
                run.defines
                    .entry(k.to_string())
                    .or_insert_with(|| v.to_string());
            }
        }
    }
    let mut out = Apache {
        includes: dump::includes(&inc.body),
        run,
        modules: dump::modules(&body(3)?.body),
        vhosts,
        ..Default::default()
    };
    for (n, f) in frames.frames.range(101..) {
        let mut lines = f.body.splitn(3, '\n');
        let (Some(path), Some(real)) = (lines.next(), lines.next()) else {
            anyhow::bail!("frame {n} of the host's answer has no file name");
        };
        let b64: String = lines
            .next()
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if f.status != 0 {
            continue;
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| anyhow::anyhow!("{path}: unreadable answer ({e})"))?;
        out.files.insert(path.to_string(), bytes);
        if !real.is_empty() {
            out.real.insert(path.to_string(), real.to_string());
        }
    }
    Ok(out)
}

/// One question of round trip 2.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ask {
    Wsgi(String),
    Project(String),
    Venv(String),
    Dir(String),
    Htaccess(String),
    Exists(String),
}

impl Ask {
    fn line(&self) -> String {
        let (k, p) = match self {
            Ask::Wsgi(p) => ("wsgi", p),
            Ask::Project(p) => ("project", p),
            Ask::Venv(p) => ("venv", p),
            Ask::Dir(p) => ("dir", p),
            Ask::Htaccess(p) => ("htaccess", p),
            Ask::Exists(p) => ("exists", p),
        };
        format!("{k} {p}")
    }
}

/// Round trip 2. Paths with a newline cannot be asked (Apache's own lines hold none).
pub fn read_script(nonce: &str, asks: &[Ask]) -> String {
    let mut s = format!(
        "nonce={}\nreader={}\n{}{READ}",
        q(nonce),
        q(super::wsgi::PROGRAM),
        crate::facts::script::UNTRUSTED
    );
    s.push_str(
        "while IFS=' ' read -r kind path; do answer \"$kind\" \"$path\"; done <<'WSGICTL_ASKS'\n",
    );
    for a in asks {
        let l = a.line();
        if !l.contains('\n') && l != "WSGICTL_ASKS" {
            s.push_str(&l);
            s.push('\n');
        }
    }
    s.push_str("WSGICTL_ASKS\n");
    s
}

/// A venv, as its files say (nothing in it was run).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VenvInfo {
    /// pyvenv.cfg's `home` (the base interpreter's directory).
    pub home: Option<String>,
    /// pyvenv.cfg's `version` (`3.11.2`).
    pub version: Option<String>,
    /// `bin/python` resolved.
    pub python: Option<String>,
    /// `name==version` of each installed distribution.
    pub packages: Vec<String>,
    /// `path owner mode` of what someone other than root controls on the way to `bin/python`.
    pub untrusted: Option<String>,
}

/// A project directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectInfo {
    pub manage: bool,
    /// What `manage.py` says (its settings module).
    pub manage_py: Option<WsgiFile>,
    /// `blog/settings.py` → `blog.settings`.
    pub settings: Vec<String>,
    /// SQLite databases inside it (relative paths).
    pub sqlite: Vec<String>,
    /// Settings files that name Django's SQLite backend.
    pub sqlite_settings: Vec<String>,
}

/// A script in a `WSGIScriptAlias` directory: its name, and what reading it said.
pub type DirScript = (String, Result<WsgiFile, String>);

/// What round trip 2 brought back.
#[derive(Debug, Default)]
pub struct Read {
    pub wsgi: BTreeMap<String, Result<WsgiFile, String>>,
    pub projects: BTreeMap<String, ProjectInfo>,
    pub venvs: BTreeMap<String, Option<VenvInfo>>,
    /// The scripts of a `WSGIScriptAlias` directory, each read.
    pub dirs: BTreeMap<String, Vec<DirScript>>,
    /// `.htaccess` path → bytes.
    pub htaccess: BTreeMap<String, Vec<u8>>,
    pub exists: BTreeMap<String, bool>,
}

pub fn parse_read(output: &str, nonce: &str) -> Read {
    let frames = frame::split(output, nonce);
    let mut out = Read::default();
    for f in frames.frames.values() {
        let (head, rest) = f.body.split_once('\n').unwrap_or((&f.body, ""));
        let Some((kind, path)) = head.split_once(' ') else {
            continue;
        };
        let path = path.to_string();
        let kv = || {
            rest.lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        match kind {
            "wsgi" => {
                out.wsgi.insert(path, super::wsgi::parse(rest));
            }
            "project" => {
                let mut p = ProjectInfo::default();
                for (k, v) in kv() {
                    match k.as_str() {
                        "manage" => p.manage = true,
                        "sqlite" => p.sqlite.push(v),
                        "sqlite_settings" => p.sqlite_settings.push(v),
                        "settings" => p.settings.push(
                            v.trim_end_matches(".py")
                                .trim_end_matches("/__init__")
                                .replace('/', "."),
                        ),
                        _ => {}
                    }
                }
                p.manage_py = super::wsgi::parse(rest).ok();
                out.projects.insert(path, p);
            }
            "venv" => {
                let pairs = kv();
                let info = (!pairs.is_empty()).then(|| {
                    let mut v = VenvInfo::default();
                    for (k, val) in pairs {
                        match k.as_str() {
                            "cfg" => {
                                if let Some((ck, cv)) = val.split_once('=') {
                                    let (ck, cv) = (ck.trim(), cv.trim().to_string());
                                    match ck {
                                        "home" => v.home = Some(cv),
                                        "version" | "version_info" => {
                                            v.version.get_or_insert(cv);
                                        }
                                        _ => {}
                                    }
                                }
                            }
                            "python" => v.python = Some(val).filter(|p| !p.is_empty()),
                            "untrusted" => v.untrusted = Some(val),
                            "dist" => {
                                if let Some(pkg) = dist_requirement(&val) {
                                    v.packages.push(pkg);
                                }
                            }
                            _ => {}
                        }
                    }
                    v
                });
                out.venvs.insert(path, info);
            }
            "dir" => {
                let mut scripts: Vec<DirScript> = Vec::new();
                for l in rest.lines() {
                    if let Some(e) = l.strip_prefix("entry=") {
                        scripts.push((e.to_string(), Err("not read".into())));
                    } else if l.starts_with("wsgi=")
                        && let Some(last) = scripts.last_mut()
                    {
                        last.1 = super::wsgi::parse(l);
                    }
                }
                out.dirs.insert(path, scripts);
            }
            "htaccess" => {
                let mut cur: Option<(String, String)> = None;
                for l in rest.lines() {
                    if let Some(f) = l.strip_prefix("file=") {
                        cur = Some((f.to_string(), String::new()));
                    } else if l == "end=" {
                        if let Some((f, b64)) = cur.take()
                            && let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(b64)
                        {
                            out.htaccess.insert(f, bytes);
                        }
                    } else if let Some((_, b)) = cur.as_mut() {
                        b.push_str(l.trim());
                    }
                }
            }
            "exists" => {
                out.exists.insert(path, rest.trim() == "yes");
            }
            _ => {}
        }
    }
    out
}

/// `Django-4.2.16.dist-info` → `Django==4.2.16` (pip's own directory naming).
fn dist_requirement(dir: &str) -> Option<String> {
    let stem = dir.strip_suffix(".dist-info")?;
    let (name, version) = stem.rsplit_once('-')?;
    if name.is_empty() || version.is_empty() {
        return None;
    }
    // pip, setuptools and wheel belong to the venv, not to the app.
    let lower = name.to_ascii_lowercase();
    if ["pip", "setuptools", "wheel", "pkg_resources"].contains(&lower.as_str()) {
        return None;
    }
    Some(format!("{name}=={version}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dist_info_names_are_requirements() {
        assert_eq!(
            dist_requirement("Django-4.2.16.dist-info").as_deref(),
            Some("Django==4.2.16")
        );
        assert_eq!(
            dist_requirement("typing_extensions-4.12.2.dist-info").as_deref(),
            Some("typing_extensions==4.12.2")
        );
        assert_eq!(dist_requirement("pip-23.0.1.dist-info"), None);
        assert_eq!(dist_requirement("nonsense"), None);
    }

    #[test]
    fn the_second_answer_is_read_per_request() {
        let out = "WSGICTL n BEGIN 1\nvenv /srv/v\ncfg=home = /usr/bin\ncfg=version = 3.11.2\npython=/usr/bin/python3.11\ndist=Django-4.2.16.dist-info\ndist=pip-23.0.1.dist-info\nWSGICTL n END 1 0\n\
                   WSGICTL n BEGIN 2\nproject /srv/p\nmanage=yes\nsettings=blog/settings.py\nsettings=conf/settings/__init__.py\nWSGICTL n END 2 0\n\
                   WSGICTL n BEGIN 3\nexists /etc/ssl/x.pem\nno\nWSGICTL n END 3 0\n\
                   WSGICTL n BEGIN 4\nhtaccess /var/www\nfile=/var/www/a/.htaccess\nQWRkSGFuZGxlciB3c2dpLXNjcmlwdCAud3NnaQo=\nend=\nWSGICTL n END 4 0\n";
        let r = parse_read(out, "n");
        let v = r.venvs["/srv/v"].as_ref().unwrap();
        assert_eq!(v.home.as_deref(), Some("/usr/bin"));
        assert_eq!(v.version.as_deref(), Some("3.11.2"));
        assert_eq!(v.packages, ["Django==4.2.16"]);
        assert_eq!(
            r.projects["/srv/p"].settings,
            ["blog.settings", "conf.settings"]
        );
        assert!(r.projects["/srv/p"].manage);
        assert!(!r.exists["/etc/ssl/x.pem"]);
        assert_eq!(
            r.htaccess["/var/www/a/.htaccess"],
            b"AddHandler wsgi-script .wsgi\n"
        );
    }

    #[test]
    fn scripts_carry_values_as_quoted_data() {
        let s = read_script("n1", &[Ask::Wsgi("/srv/it's here.wsgi".into())]);
        assert!(s.starts_with("nonce=n1\nreader="));
        assert!(s.ends_with("wsgi /srv/it's here.wsgi\nWSGICTL_ASKS\n"));
        let g = gather_script("n2", Some("/etc/apache2-x"));
        assert!(g.starts_with("nonce=n2\nconfdir=/etc/apache2-x\n"));
    }
}
