//! The rootless probe: what an ordinary account has for running an Apache of its own (the
//! host's binary and modules, mod_wsgi's Python, rotatelogs), whether that Apache runs, who
//! listens on which port, and what can keep it running (a `systemd --user` manager with
//! lingering, or cron).
//!
//! Stage: gather. [`script`] is the probe's shell (`user_server.sh`, values as positional
//! arguments); [`parse`] turns its output into the [`Apache`] fact the rest of the plan reads
//! and a [`UserServer`] (pure; fixture-tested below).

use super::Apache;
use crate::render::Supervision;
use base64::Engine as _;
use serde::Serialize;

/// What the account has and runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UserServer {
    pub account: String,
    pub group: String,
    pub uid: u32,
    /// The account's home (from the password database).
    pub home: String,
    pub httpd: Option<String>,
    pub modules_dir: Option<String>,
    pub rotatelogs: Option<String>,
    /// The pid of the account's Apache when it runs.
    pub pid: Option<u32>,
    /// Every listening TCP socket: address, port, and whether the account's Apache holds it.
    pub listeners: Vec<Listener>,
    /// The host runs systemd, the account's user manager runs, and the account lingers.
    pub systemd: bool,
    pub user_manager: bool,
    pub linger: bool,
    /// The account's `wsgictl-apache.service` is enabled.
    pub unit_enabled: bool,
    /// The account's crontab when `crontab -l` works for it (empty when it has none).
    pub crontab: Option<String>,
    /// Why `crontab` cannot be used, when it cannot.
    pub crontab_error: Option<String>,
    /// A cron daemon runs on the host.
    pub cron_running: bool,
    /// The home directory is on a `noexec` mount.
    pub noexec: bool,
    /// A C compiler and Apache's `apxs` (what building mod_wsgi with pip needs).
    pub cc: bool,
    pub apxs: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listener {
    pub addr: String,
    pub port: u16,
    pub ours: bool,
}

impl UserServer {
    /// `systemd --user` when its manager runs and outlives logins; cron otherwise.
    pub fn supervision(&self) -> Supervision {
        if self.systemd && self.user_manager && self.linger {
            Supervision::SystemdUser
        } else {
            Supervision::Cron
        }
    }

    /// Whether something other than the account's Apache listens on `port` where `addr`
    /// would bind (the same address, or either one a wildcard).
    pub fn taken(&self, addr: &str, port: u16) -> Option<&Listener> {
        let wild = |a: &str| matches!(a, "0.0.0.0" | "::" | "*" | "[::]");
        self.listeners.iter().find(|l| {
            l.port == port
                && !l.ours
                && (l.addr == addr || wild(&l.addr) || wild(addr) || l.addr == format!("[{addr}]"))
        })
    }
}

/// The probe's shell: `$1` is the server root.
pub const SCRIPT: &str = include_str!("user_server.sh");

/// The probe's body, for the gather script.
pub fn script(server_root: &str) -> String {
    let q = crate::shell::quote(server_root).expect("no NUL");
    format!("set -- {q}\n{SCRIPT}")
}

/// The probe's output → the Apache fact (`None`: no Apache binary) and the account's state.
pub fn parse(body: &str) -> Result<(Option<Apache>, UserServer), String> {
    let p = super::parse::kv(body);
    let get = |k: &str| super::parse::get(&p, k);
    let all = |key: &'static str| p.iter().filter(move |(k, _)| *k == key).map(|(_, v)| *v);
    let yes = |k: &str| get(k) == Some("yes");
    let account = get("account").ok_or("no account")?.to_string();
    let pid = get("pid").and_then(|v| v.parse().ok());
    let listeners = all("listen")
        .filter_map(|v| {
            let (addr_port, who) = v.split_once(' ').unwrap_or((v, ""));
            let (addr, port) = addr_port.rsplit_once(':')?;
            Some(Listener {
                addr: addr
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string(),
                port: port.parse().ok()?,
                ours: pid.is_some_and(|p: u32| who.split(',').any(|w| w == p.to_string()))
                    || who.split(',').any(|w| w == "ours"),
            })
        })
        .collect();
    let crontab = match get("crontab") {
        Some("yes") => base64::engine::general_purpose::STANDARD
            .decode(get("crontab_text").unwrap_or(""))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|e| format!("crontab text: {e}")),
        Some("missing") => Err("crontab is not installed on the host".to_string()),
        _ => Err(get("crontab_error")
            .unwrap_or("crontab -l failed")
            .to_string()),
    };
    let server = UserServer {
        group: get("group").unwrap_or(&account).to_string(),
        uid: get("uid").and_then(|v| v.parse().ok()).unwrap_or(0),
        home: get("home").ok_or("no home")?.to_string(),
        httpd: get("httpd").map(str::to_string),
        modules_dir: get("modules_dir").map(str::to_string),
        rotatelogs: get("rotatelogs").map(str::to_string),
        pid,
        listeners,
        systemd: yes("systemd"),
        user_manager: yes("user_manager"),
        linger: yes("linger"),
        unit_enabled: yes("unit_enabled"),
        crontab_error: crontab.as_ref().err().cloned(),
        crontab: crontab.ok(),
        cron_running: yes("cron_running"),
        noexec: yes("noexec"),
        cc: yes("cc"),
        apxs: yes("apxs"),
        account,
    };
    let Some(httpd) = &server.httpd else {
        return Ok((None, server));
    };
    let apache = Apache {
        layout: if httpd.ends_with("/httpd") {
            crate::manifest::Layout::Rhel
        } else {
            crate::manifest::Layout::Debian
        },
        confdir: get("server_root").unwrap_or("").to_string(),
        version: get("version").unwrap_or("").to_string(),
        user: Some(server.account.clone()),
        group: Some(server.group.clone()),
        running: server.pid.is_some(),
        modules: all("module").map(str::to_string).collect(),
        wsgi_so: get("wsgi_so").map(str::to_string),
        wsgi_python: get("wsgi_python").map(str::to_string),
        run_dir: get("server_root").map(|s| format!("{s}/run")),
        ..Apache::default()
    };
    Ok((Some(apache), server))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = "\
account=alice
group=alice
uid=1001
home=/home/alice
server_root=/home/alice/.local/share/wsgictl/apache
httpd=/usr/sbin/apache2
version=Apache/2.4.62 (Debian)
modules_dir=/usr/lib/apache2/modules
module=mpm_event_module
module=wsgi_module
wsgi_so=/usr/lib/apache2/modules/mod_wsgi.so
wsgi_python=3.11
rotatelogs=/usr/bin/rotatelogs
pid=4242
listen=127.0.0.1:18080 4242,4243
listen=0.0.0.0:22 -
listen=[::1]:5432 -
systemd=no
crontab=yes
crontab_text=IyBoaQo=
cron_running=yes
noexec=no
cc=yes
apxs=no
";

    #[test]
    fn the_probe_output_becomes_the_apache_fact_and_the_account_state() {
        let (apache, s) = parse(OUT).unwrap();
        let apache = apache.unwrap();
        assert_eq!(apache.confdir, "/home/alice/.local/share/wsgictl/apache");
        assert!(apache.running);
        assert!(apache.modules.contains("wsgi_module"));
        assert_eq!(apache.wsgi_python.as_deref(), Some("3.11"));
        assert_eq!(apache.user.as_deref(), Some("alice"));
        assert_eq!(s.crontab.as_deref(), Some("# hi\n"));
        assert_eq!(s.supervision(), Supervision::Cron);
        assert!(s.listeners[0].ours);
        assert_eq!(s.listeners[2].addr, "::1");
        assert!(s.taken("127.0.0.1", 18080).is_none(), "our own Apache");
        assert!(s.taken("127.0.0.1", 22).is_some(), "a wildcard listener");
        assert!(
            s.taken("0.0.0.0", 5432).is_some(),
            "we would bind every address"
        );
        assert!(s.taken("127.0.0.1", 5432).is_none());
    }

    #[test]
    fn no_apache_binary_is_no_apache_and_a_refused_crontab_says_why() {
        let out = "account=bob\nhome=/home/bob\ncrontab=no\ncrontab_error=You (bob) are not allowed to use this program (crontab)\n";
        let (apache, s) = parse(out).unwrap();
        assert!(apache.is_none());
        assert!(s.crontab.is_none());
        assert_eq!(
            s.crontab_error.as_deref(),
            Some("You (bob) are not allowed to use this program (crontab)")
        );
    }

    #[test]
    fn systemd_is_chosen_only_with_a_lingering_user_manager() {
        let mut s = UserServer {
            systemd: true,
            user_manager: true,
            ..UserServer::default()
        };
        assert_eq!(s.supervision(), Supervision::Cron);
        s.linger = true;
        assert_eq!(s.supervision(), Supervision::SystemdUser);
    }
}
