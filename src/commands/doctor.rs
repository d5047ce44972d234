//! `wsgictl doctor`: request each app, read the host's live state, and explain what is wrong;
//! `--list` prints the catalogue instead.

use crate::cli::{Cli, DoctorArgs};
use crate::doctor::catalogue::{SCENARIOS, markdown};
use crate::exit::ExitStatus;
use crate::render::Selection;
use serde::Serialize;

#[derive(Serialize)]
struct Document<'a> {
    version: u32,
    manifest: String,
    healthy: bool,
    hosts: Vec<&'a crate::doctor::diagnose::HostReport>,
    errors: Vec<super::plan::HostError>,
}

pub fn run(cli: &Cli, args: &DoctorArgs) -> anyhow::Result<ExitStatus> {
    if args.list {
        return list(args.markdown);
    }
    let sel = Selection {
        host: args.host.clone(),
        app: args.app.clone(),
        limit: args.fleet.limit.clone(),
    };
    let super::Planned { m, results } = super::plan_selected(
        cli,
        &sel,
        &args.connect,
        &args.fleet,
        !args.json && !args.quiet,
    )?;
    let text = std::fs::read_to_string(&m.path).unwrap_or_default();

    let mut reports = Vec::new();
    let mut errors = Vec::new();
    for (name, result) in results {
        let sudo = m.host(&name).is_some_and(|h| h.sudo);
        let report = result.and_then(|hp| {
            let only = sel.apps_on(&m, &name);
            crate::doctor::run_host(&m, &text, hp, only.as_ref(), sudo)
        });
        match report {
            Ok(r) => reports.push(r),
            Err(e) => {
                eprintln!("error: {name}: {e:#}");
                errors.push(super::plan::HostError {
                    host: name,
                    error: format!("{e:#}"),
                });
            }
        }
    }
    let healthy = errors.is_empty() && reports.iter().all(|r| r.healthy());
    if args.json {
        let doc = Document {
            version: 1,
            manifest: m.path.display().to_string(),
            healthy,
            hosts: reports.iter().collect(),
            errors,
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).expect("report serialises")
        );
    } else {
        let color = crate::show::color_for(&std::io::stdout());
        for r in &reports {
            if args.quiet {
                // Only what is wrong: the host's findings and the apps that are not healthy.
                let mut wrong = r.clone();
                wrong.apps.retain(|a| !a.healthy);
                if !wrong.apps.is_empty() || !wrong.findings.is_empty() {
                    print!("{}", crate::doctor::show::host(&wrong, color));
                }
            } else {
                print!("{}", crate::doctor::show::host(r, color));
            }
        }
        let apps: usize = reports.iter().map(|r| r.apps.len()).sum();
        let broken: usize = reports
            .iter()
            .map(|r| r.apps.iter().filter(|a| !a.healthy).count())
            .sum();
        if healthy && !args.quiet {
            println!(
                "All {apps} app{} healthy.",
                if apps == 1 { "" } else { "s" }
            );
        } else if !healthy {
            println!(
                "{broken} of {apps} app{} broken{}.",
                if apps == 1 { "" } else { "s" },
                if reports.iter().any(|r| !r.findings.is_empty()) {
                    " (and findings on the host)"
                } else {
                    ""
                }
            );
        }
    }
    Ok(if healthy {
        ExitStatus::Success
    } else {
        ExitStatus::Error
    })
}

fn list(as_markdown: bool) -> anyhow::Result<ExitStatus> {
    if as_markdown {
        print!("{}", markdown());
        return Ok(ExitStatus::Success);
    }
    let width = SCENARIOS.iter().map(|s| s.id.len()).max().unwrap_or(0);
    for s in SCENARIOS {
        println!(
            "{:>2}  {:width$}  {:<14}  {}",
            s.number, s.id, s.stage, s.symptom
        );
    }
    Ok(ExitStatus::Success)
}
