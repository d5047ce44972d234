//! `~/.ssh/config`: what an `address` that is a `Host` alias stands for.
//!
//! Stage: gather (reads one local file). Parsed with `ssh2-config` (no `Match` blocks, no `%h`
//! expansion); the manifest's explicit values win over it, and it wins over the defaults.

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
}

/// Look `alias` up in `config` (a missing file resolves nothing).
pub fn resolve(config: &Path, alias: &str) -> anyhow::Result<Resolved> {
    use anyhow::Context as _;
    let Ok(file) = std::fs::File::open(config) else {
        return Ok(Resolved::default());
    };
    let home = config
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("/"));
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
    })
}
