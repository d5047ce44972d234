//! The doctor's report as people read it (pure).
//!
//! Stage: show. Per app: the request and its answer, the daemon processes, how many log lines
//! were read; then each finding with its id, title, evidence, cause and fix (with the manifest
//! line it goes on). Colour only when asked.

use super::diagnose::{AppReport, Diagnosis, HostReport};
use super::live::Since;
use crate::preflight::Severity;
use std::fmt::Write as _;

fn paint(s: &str, code: &str, on: bool) -> String {
    if on {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

pub fn host(r: &HostReport, color: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", paint(&format!("Host {}", r.target), "1", color));
    for f in &r.findings {
        finding(&mut out, f, color);
    }
    for a in &r.apps {
        app(&mut out, a, color);
    }
    out
}

fn app(out: &mut String, a: &AppReport, color: bool) {
    let answer = match (a.status, &a.error) {
        (Some(c), _) => format!("{c} in {} ms", a.millis.unwrap_or(0)),
        (None, Some(e)) => e.clone(),
        (None, None) => "no answer".into(),
    };
    let daemons = match a.daemons.iter().map(|d| d.seconds).max() {
        Some(oldest) => format!(
            "{} daemon process{}, oldest up {}",
            a.daemons.len(),
            if a.daemons.len() == 1 { "" } else { "es" },
            age(oldest)
        ),
        None => "no daemon process running".into(),
    };
    let since = match a.log_since {
        Since::Apply => "since the last apply",
        Since::Start => "(no apply recorded: the end of the log)",
        Since::Rotated => "(the log was rotated since the last apply)",
        Since::Missing => "(no error log yet)",
    };
    let _ = writeln!(
        out,
        "  app {}: GET {} → {answer}; {daemons}; {} log line{} {since}",
        a.app,
        a.url,
        a.log_lines,
        if a.log_lines == 1 { "" } else { "s" }
    );
    for f in &a.findings {
        finding(out, f, color);
    }
    let verdict = if a.healthy {
        paint("healthy", "32", color)
    } else {
        let n = a
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count();
        paint(
            &format!("broken: {n} problem{}", if n == 1 { "" } else { "s" }),
            "31",
            color,
        )
    };
    let _ = writeln!(out, "  app {}: {verdict}", a.app);
}

fn finding(out: &mut String, f: &Diagnosis, color: bool) {
    let (mark, code) = match f.severity {
        Severity::Error => ("✗", "31"),
        Severity::Warning => ("!", "33"),
    };
    let number = f.number.map(|n| format!(" (#{n})")).unwrap_or_default();
    let _ = writeln!(
        out,
        "    {} {}{number}: {}",
        paint(mark, code, color),
        paint(&f.scenario, "1", color),
        f.title
    );
    for (k, e) in f.evidence.iter().enumerate() {
        let label = if k == 0 { "evidence:" } else { "         " };
        let _ = writeln!(out, "        {label} {e}");
    }
    if f.more > 0 {
        let _ = writeln!(out, "                  … and {} more like these", f.more);
    }
    if !f.cause.is_empty() {
        let _ = writeln!(out, "        cause:    {}", f.cause);
    }
    let _ = writeln!(out, "        fix:      {}", f.fix);
    if let Some(at) = &f.fix_at {
        let _ = writeln!(
            out,
            "        at:       {}:{}: {}",
            at.file, at.line, at.text
        );
    }
    if !f.also.is_empty() {
        let _ = writeln!(out, "        or:       {}", f.also.join(", "));
    }
}

fn age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}
