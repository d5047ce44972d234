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

/// `changes`: what the plan does before this (the unit file's own change among them).
pub fn plan(i: &Inputs<'_>, changes: &[Change]) -> anyhow::Result<Option<Change>> {
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
            let what = format!(
                "cron: the watchdog at boot and every {} minutes starts the account's Apache when it is down ({why_not_systemd})",
                r.watchdog
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
            // A new or changed unit file needs a daemon-reload: the plan of the file says.
            let unit_changes = changes.iter().any(|c| {
                matches!(&c.id, ResourceId::ServerFile(p) if p.ends_with(USER_UNIT))
                    && c.action != Action::NoOp
            });
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
