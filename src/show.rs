//! The plan as people read it: symbols, reasons, details, redacted diffs, a summary line.
//!
//! Stage: show (pure). Colour only when asked (a terminal without `NO_COLOR`).

use crate::plan::{Action, Handler, Plan};
use std::fmt::Write as _;

/// Colour on `stream` when it is a terminal and `NO_COLOR` is unset.
pub fn color_for(stream: &impl std::io::IsTerminal) -> bool {
    std::env::var_os("NO_COLOR").is_none() && stream.is_terminal()
}

pub struct Style {
    pub color: bool,
    /// Show no-op changes too.
    pub verbose: bool,
    /// Leave out what new files will contain (their all-`+` diff).
    pub compact: bool,
}

fn paint(s: &str, code: &str, on: bool) -> String {
    if on {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

/// One host's plan, ending with its summary line.
pub fn plan(p: &Plan, target: &str, style: &Style) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        paint(&format!("Host {target}"), "1", style.color)
    );
    if let Some(r) = &p.rootless {
        let _ = writeln!(
            out,
            "  rootless: the Apache of account `{}` in {}, kept running by {}",
            r.account,
            r.server_root,
            match r.supervision {
                crate::render::Supervision::Cron => "cron (at boot, and a watchdog)",
                crate::render::Supervision::SystemdUser => "systemd --user",
            }
        );
    }
    let width = p
        .changes
        .iter()
        .map(|c| c.id.to_string().chars().count())
        .max()
        .unwrap_or(0)
        .min(48);
    for c in &p.changes {
        // A certificate is always shown: its expiry is worth seeing in every plan.
        let always = matches!(c.id, crate::resource_id::ResourceId::Certificate(_));
        if c.action == Action::NoOp && !style.verbose && !always {
            continue;
        }
        let color = match c.action {
            Action::Create => "32",
            Action::Update => "33",
            Action::Delete => "31",
            Action::NoOp => "2",
        };
        let head = format!("{} {:width$}  {}", c.action.symbol(), c.id, c.reason);
        let _ = writeln!(out, "  {}", paint(head.trim_end(), color, style.color));
        for d in &c.details {
            let _ = writeln!(out, "      {d}");
        }
        if let Some(diff) = c
            .diff
            .as_ref()
            .filter(|_| !(style.compact && c.action == Action::Create))
        {
            for line in diff.lines() {
                let code = match line.as_bytes().first() {
                    Some(b'+') if !line.starts_with("+++") => "32",
                    Some(b'-') if !line.starts_with("---") => "31",
                    Some(b'@') => "36",
                    _ => "",
                };
                let line = if code.is_empty() {
                    line.to_string()
                } else {
                    paint(line, code, style.color)
                };
                let _ = writeln!(out, "      {line}");
            }
        }
    }
    for h in &p.handlers {
        let _ = writeln!(
            out,
            "  then: {}",
            match h {
                Handler::ConfigtestAndReload =>
                    "configtest the Apache configuration, then reload Apache gracefully".to_string(),
                Handler::TouchWsgi { app, path } => format!(
                    "touch {path} (restarts app `{app}`'s daemon processes; Apache is not reloaded)"
                ),
                Handler::RemoveReleases { app, paths } => format!(
                    "remove {} of app `{app}` no longer kept: {}",
                    if paths.len() == 1 {
                        "one directory"
                    } else {
                        "directories"
                    },
                    paths.join(", ")
                ),
            }
        );
    }
    if let Some(front) = p.rootless.as_ref().and_then(|r| r.front_end.as_ref()) {
        let _ = writeln!(
            out,
            "  in front: the account's Apache is not on port 80/443; have the host's web server forward to it:\n{front}"
        );
    }
    let _ = writeln!(out, "{}", p.summary());
    out
}
