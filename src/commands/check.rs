//! `wsgictl check`: load and validate the manifest and its templates.

use crate::cli::Cli;
use crate::exit::ExitStatus;

pub fn run(cli: &Cli) -> anyhow::Result<ExitStatus> {
    let (m, templates) = super::load(cli)?;
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    let apps: Vec<String> = m
        .apps
        .iter()
        .map(|a| {
            format!(
                "{} → {}",
                *a.name,
                a.hosts
                    .iter()
                    .map(|h| h.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect();
    let overrides = templates
        .entries()
        .iter()
        .filter(|e| e.origin != crate::templates::Origin::Builtin)
        .count();
    let mut line = format!(
        "{}: ok: {}, {} ({})",
        m.path.display(),
        plural(m.hosts.len(), "host"),
        plural(m.apps.len(), "app"),
        apps.join("; ")
    );
    if overrides > 0 {
        line.push_str(&format!(", {}", plural(overrides, "template override")));
    }
    println!("{line}");
    for p in templates.ignored() {
        eprintln!(
            "warning: {} overrides no built-in template and is ignored (see `wsgictl templates list`)",
            p.display()
        );
    }
    Ok(ExitStatus::Success)
}
