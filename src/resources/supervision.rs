//! What keeps a rootless account's Apache running: wsgictl's lines in the account's crontab
//! (at boot, and the watchdog every few minutes), or its `systemd --user` unit enabled.
//! The plan says which, and why (a user manager without lingering stops at logout). Pure.

use super::{Inputs, noop};
use crate::desired::{CRON_BEGIN, CRON_END};
use crate::facts::Fact;
use crate::plan::{Action, Change, Op};
use crate::render::{Supervision, USER_UNIT};
use crate::resource_id::ResourceId;

/// wsgictl's lines in `crontab` (markers included), when it has them.
pub fn cron_block(crontab: &str) -> Option<String> {
    let start = crontab.lines().position(|l| l == CRON_BEGIN)?;
    let lines: Vec<&str> = crontab.lines().skip(start).collect();
    let end = lines.iter().position(|l| *l == CRON_END)?;
    Some(lines[..=end].iter().map(|l| format!("{l}\n")).collect())
}

pub fn plan(i: &Inputs<'_>) -> anyhow::Result<Option<Change>> {
    let Some(r) = &i.desired.rootless else {
        return Ok(None);
    };
    let id = ResourceId::Supervision(i.desired.host.clone());
    let server = match &i.facts.rootless {
        Some(Fact::Known(s)) => s,
        Some(Fact::Unknown { error }) => {
            anyhow::bail!("the account's Apache could not be probed: {error}")
        }
        None => anyhow::bail!("the account's Apache was not probed"),
    };
    let why_not_systemd = if !server.systemd {
        "the host does not run systemd"
    } else if !server.user_manager {
        "the account's systemd user manager is not running"
    } else if !server.linger {
        "the account does not linger, so its systemd user manager stops at logout (ask the admin for `loginctl enable-linger`)"
    } else {
        ""
    };
    Ok(Some(match r.supervision {
        Supervision::Cron => {
            let block = r.cron_block.clone().unwrap_or_default();
            // No usable crontab: preflight refuses the apply and says why.
            let Some(crontab) = &server.crontab else {
                return Ok(None);
            };
            let minutes = block
                .lines()
                .find_map(|l| l.strip_prefix("*/"))
                .and_then(|l| l.split(' ').next())
                .unwrap_or("?")
                .to_string();
            let what = format!(
                "cron: the watchdog at boot and every {minutes} minutes starts the account's Apache when it is down ({why_not_systemd})"
            );
            match cron_block(crontab) {
                Some(b) if b == block => noop(id, what),
                found => Change {
                    id,
                    action: if found.is_some() {
                        Action::Update
                    } else {
                        Action::Create
                    },
                    reason: what,
                    before: None,
                    details: block.lines().map(|l| format!("crontab: {l}")).collect(),
                    diff: None,
                    ops: vec![Op::Crontab { block }],
                },
            }
        }
        Supervision::SystemdUser => {
            let what = format!(
                "systemd --user: {USER_UNIT} (the account lingers) starts the account's Apache at boot and restarts it when it fails"
            );
            let unit_changes = i
                .desired
                .files
                .iter()
                .any(|f| f.path.ends_with(USER_UNIT) && file_changes(i, &f.path));
            if server.unit_enabled && !unit_changes {
                noop(id, what)
            } else {
                Change {
                    id,
                    action: Action::Update,
                    reason: what,
                    before: None,
                    details: Vec::new(),
                    diff: None,
                    ops: vec![Op::EnableUserUnit {
                        unit: USER_UNIT.into(),
                    }],
                }
            }
        }
    }))
}

/// Whether the file at `path` is missing or differs on the host.
fn file_changes(i: &Inputs<'_>, path: &str) -> bool {
    let want = i
        .desired
        .files
        .iter()
        .find(|f| f.path == path)
        .map(|f| crate::source::sha256_hex(f.content.secret_text().as_bytes()));
    !matches!(
        i.facts.paths.get(path),
        Some(Fact::Known(crate::facts::PathState::File { sha256, .. })) if Some(sha256) == want.as_ref()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wsgictls_lines_are_found_among_the_accounts_own() {
        let text = format!(
            "MAILTO=a\n0 1 * * * backup\n{CRON_BEGIN}\n@reboot /w\n{CRON_END}\n5 * * * * other\n"
        );
        assert_eq!(
            cron_block(&text).unwrap(),
            format!("{CRON_BEGIN}\n@reboot /w\n{CRON_END}\n")
        );
        assert_eq!(cron_block("0 1 * * * backup\n"), None);
        assert_eq!(cron_block(&format!("{CRON_BEGIN}\nno end\n")), None);
    }
}
