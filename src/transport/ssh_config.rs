//! `~/.ssh/config`: what an `address` that is a `Host` alias stands for.
//!
//! Stage: gather (reads one local file). When an OpenSSH client is installed, `ssh -G -F FILE
//! ALIAS` resolves it exactly as `ssh` would (`Match`, `%h`, `Include`,
//! `CanonicalizeHostname`); otherwise it is parsed with `ssh2-config` (no `Match` blocks, no
//! `%h` expansion). The manifest's explicit values win over it, and it wins over the defaults.

use std::path::{Path, PathBuf};

/// Connection parameters after `~/.ssh/config`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    pub host_name: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity_files: Vec<PathBuf>,
    /// `ProxyJump`'s first hop (`[user@]host[:port]`), when set.
    pub proxy_jump: Option<String>,
    /// What read it: `ssh -G` or `ssh2-config`.
    pub via: &'static str,
}

/// The identity files `ssh -G` lists when the configuration names none.
const DEFAULT_IDENTITIES: &[&str] = &[
    "~/.ssh/id_rsa",
    "~/.ssh/id_ecdsa",
    "~/.ssh/id_ecdsa_sk",
    "~/.ssh/id_ed25519",
    "~/.ssh/id_ed25519_sk",
    "~/.ssh/id_xmss",
    "~/.ssh/id_dsa",
];

/// `ssh -G`'s output → the values wsgictl uses. Its identity files are kept only when the
/// configuration named some (otherwise ssh lists its defaults, and wsgictl's own order, the
/// agent first, applies); `~/` is the `home` the file belongs to.
pub fn parse_ssh_g(text: &str, home: &Path) -> Resolved {
    let mut r = Resolved {
        via: "ssh -G",
        ..Resolved::default()
    };
    let mut ids = Vec::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(' ') else {
            continue;
        };
        match key {
            "hostname" => r.host_name = Some(value.to_string()),
            "user" => r.user = Some(value.to_string()),
            "port" => r.port = value.parse().ok(),
            "identityfile" => ids.push(value.to_string()),
            "proxyjump" if !value.eq_ignore_ascii_case("none") => {
                r.proxy_jump = value.split(',').next().map(str::to_string)
            }
            _ => {}
        }
    }
    if !ids.iter().all(|i| DEFAULT_IDENTITIES.contains(&i.as_str())) {
        r.identity_files = ids
            .iter()
            .map(|i| match i.strip_prefix("~/") {
                Some(rest) => home.join(rest),
                None => PathBuf::from(i),
            })
            .collect();
    }
    r
}

/// `ssh -G` on `config` (the system-wide file is not read: `-F` names the one file), when an
/// OpenSSH client is installed and it accepts the file.
fn via_ssh_g(config: &Path, alias: &str, home: &Path) -> Option<Resolved> {
    let file = if config.is_file() {
        config.as_os_str().to_owned()
    } else {
        "/dev/null".into()
    };
    let out = std::process::Command::new("ssh")
        .arg("-G")
        .arg("-F")
        .arg(file)
        .arg(alias)
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| parse_ssh_g(&String::from_utf8_lossy(&out.stdout), home))
}

/// What `ssh -G -F /dev/null ALIAS` resolves: ssh's defaults alone, the host name lowercased
/// as ssh lowercases it. No client is started for it (5 ms a host).
fn without_file(alias: &str) -> Resolved {
    Resolved {
        host_name: (alias != alias.to_ascii_lowercase()).then(|| alias.to_ascii_lowercase()),
        via: NO_FILE,
        ..Resolved::default()
    }
}

/// `Resolved::via` when there is no `~/.ssh/config`.
pub const NO_FILE: &str = "none";

/// Look `alias` up in `config` (a missing file resolves nothing but ssh's defaults).
pub fn resolve(config: &Path, alias: &str) -> anyhow::Result<Resolved> {
    use anyhow::Context as _;
    let home = config
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("/"));
    if !config.exists() {
        return Ok(without_file(alias));
    }
    if std::env::var_os("WSGICTL_NO_SSH_G").is_none()
        && let Some(r) = via_ssh_g(config, alias, home)
    {
        return Ok(r);
    }
    let Ok(file) = std::fs::File::open(config) else {
        return Ok(Resolved {
            via: "ssh2-config",
            ..Resolved::default()
        });
    };
    let parsed = ssh2_config::SshConfig::default()
        .home_dir(home)
        .parse(
            &mut std::io::BufReader::new(file),
            ssh2_config::ParseRule::ALLOW_UNKNOWN_FIELDS
                | ssh2_config::ParseRule::ALLOW_UNSUPPORTED_FIELDS,
        )
        .with_context(|| format!("parsing {}", config.display()))?;
    let p = parsed.query(alias);
    Ok(Resolved {
        host_name: p.host_name,
        user: p.user,
        port: p.port,
        identity_files: p.identity_file.unwrap_or_default(),
        proxy_jump: p
            .proxy_jump
            .and_then(|j| j.into_iter().next())
            .filter(|j| !j.eq_ignore_ascii_case("none")),
        via: "ssh2-config",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_g_output_keeps_what_the_configuration_named() {
        let home = Path::new("/home/me");
        let text = "host web\nhostname 203.0.113.7\nuser deploy\nport 2222\n\
                    identityfile ~/.ssh/deploy_key\nidentityfile /etc/keys/k\nproxyjump jump@bastion:22,second\n";
        let r = parse_ssh_g(text, home);
        assert_eq!(r.host_name.as_deref(), Some("203.0.113.7"));
        assert_eq!((r.user.as_deref(), r.port), (Some("deploy"), Some(2222)));
        assert_eq!(
            r.identity_files,
            [
                PathBuf::from("/home/me/.ssh/deploy_key"),
                PathBuf::from("/etc/keys/k")
            ]
        );
        assert_eq!(r.proxy_jump.as_deref(), Some("jump@bastion:22"));
        assert_eq!(r.via, "ssh -G");
        // Only ssh's defaults: none named, the agent goes first as usual.
        let r = parse_ssh_g(
            "hostname web\nport 22\nidentityfile ~/.ssh/id_rsa\nidentityfile ~/.ssh/id_ed25519\nproxyjump none\n",
            home,
        );
        assert!(r.identity_files.is_empty() && r.proxy_jump.is_none());
    }

    /// Without a file, what ssh itself resolves (`-F /dev/null`), without starting it.
    #[test]
    fn no_file_resolves_what_ssh_resolves_from_its_defaults() {
        let missing = Path::new("/nonexistent/.ssh/config");
        for alias in ["Web1.Example.COM", "192.0.2.7", "lab"] {
            let r = resolve(missing, alias).unwrap();
            assert_eq!(r.via, NO_FILE);
            assert!(r.user.is_none() && r.port.is_none() && r.proxy_jump.is_none());
            assert!(r.identity_files.is_empty());
            let Ok(out) = std::process::Command::new("ssh")
                .args(["-G", "-F", "/dev/null", alias])
                .output()
            else {
                continue; // no OpenSSH client here
            };
            let ssh = parse_ssh_g(&String::from_utf8_lossy(&out.stdout), Path::new("/"));
            assert_eq!(
                r.host_name.as_deref().unwrap_or(alias),
                ssh.host_name.as_deref().unwrap(),
                "{alias}"
            );
            assert_eq!(ssh.port, Some(22));
            assert!(ssh.identity_files.is_empty() && ssh.proxy_jump.is_none());
        }
    }
}
