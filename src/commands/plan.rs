//! `wsgictl plan`: every selected host, concurrently; human output or JSON; optional plan file.

use crate::cli::{Cli, PlanArgs};
use crate::exit::ExitStatus;
use crate::plan::Plan;
use crate::render::Selection;
use anyhow::Context as _;
use serde::Serialize;

/// The JSON document `plan --json` prints and `plan --out` saves.
#[derive(Serialize)]
pub struct PlanDocument<'a> {
    /// Format version; bumped on any incompatible change.
    pub version: u32,
    pub manifest: String,
    pub hosts: Vec<HostDocument<'a>>,
    pub errors: Vec<HostError>,
}

/// One host's plan; `host` comes from the plan itself.
#[derive(Serialize)]
pub struct HostDocument<'a> {
    pub target: &'a str,
    pub summary: Summary,
    #[serde(flatten)]
    pub plan: &'a Plan,
}

#[derive(Serialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
}

/// A saved plan, read back by `apply PLAN_FILE`.
#[derive(serde::Deserialize)]
pub struct SavedPlan {
    pub version: u32,
    pub manifest: String,
    pub hosts: Vec<SavedHost>,
}

#[derive(serde::Deserialize)]
pub struct SavedHost {
    #[serde(flatten)]
    pub plan: Plan,
}

#[derive(Serialize)]
pub struct HostError {
    pub host: String,
    pub error: String,
}

pub fn run(cli: &Cli, args: &PlanArgs) -> anyhow::Result<ExitStatus> {
    let sel = Selection {
        host: args.host.clone(),
        app: args.app.clone(),
    };
    let super::Planned { m, results } = super::plan_selected(cli, &sel, &args.connect)?;

    let color = crate::show::color_for(&std::io::stdout());
    let style = crate::show::Style {
        color,
        verbose: args.verbose,
    };
    let mut doc = PlanDocument {
        version: 1,
        manifest: m.path.display().to_string(),
        hosts: Vec::new(),
        errors: Vec::new(),
    };
    let mut pending = false;
    let mut blocked = false;
    for (name, result) in &results {
        match result {
            Ok(hp) => {
                pending |= !hp.plan.is_empty();
                if args.verbose {
                    let channels = hp.stats.exec_channels;
                    eprintln!(
                        "{name}: connect {} ms, gather {} ms, {channels} exec channel{}",
                        hp.stats.connect.as_millis(),
                        hp.gather_time.as_millis(),
                        if channels == 1 { "" } else { "s" }
                    );
                }
                if !args.json {
                    super::print_plan(hp, &m.path, &style);
                }
                blocked |= hp.plan.blocked();
                let (create, update, delete) = hp.plan.counts();
                doc.hosts.push(HostDocument {
                    target: &hp.target,
                    summary: Summary {
                        create,
                        update,
                        delete,
                    },
                    plan: &hp.plan,
                });
            }
            Err(e) => {
                eprintln!("error: {name}: {e:#}");
                doc.errors.push(HostError {
                    host: name.clone(),
                    error: format!("{e:#}"),
                });
            }
        }
    }
    let json = serde_json::to_string_pretty(&doc).expect("plan serialises");
    if args.json {
        println!("{json}");
    }
    if let Some(path) = &args.out {
        std::fs::write(path, format!("{json}\n"))
            .with_context(|| format!("writing the plan to {}", path.display()))?;
        if !args.json {
            println!("Saved the plan to {}.", path.display());
        }
    }
    Ok(if !doc.errors.is_empty() || blocked {
        ExitStatus::Error
    } else if pending && args.detailed_exitcode {
        ExitStatus::ChangesPending
    } else {
        ExitStatus::Success
    })
}
