//! `wsgictl releases`: each app's releases on each host (id, source hash, when, migrations),
//! the current one marked, from one gather per host.

use crate::cli::{Cli, ReleasesArgs};
use crate::exit::ExitStatus;
use crate::render::Selection;
use serde::Serialize;

#[derive(Serialize)]
struct AppReleases<'a> {
    host: &'a str,
    app: &'a str,
    current: Option<&'a str>,
    keep: u32,
    releases: &'a [crate::facts::releases::Release],
    unfinished: &'a [String],
}

pub fn run(cli: &Cli, args: &ReleasesArgs) -> anyhow::Result<ExitStatus> {
    let sel = Selection {
        host: args.host.clone(),
        app: args.app.clone(),
        limit: None,
    };
    let planned = super::plan_selected(
        cli,
        &sel,
        &args.connect,
        &crate::cli::FleetArgs::default(),
        false,
    )?;
    let mut failed = false;
    let mut json = Vec::new();
    for (name, result) in &planned.results {
        let hp = match result {
            Ok(hp) => hp,
            Err(e) => {
                eprintln!("error: {name}: {e:#}");
                failed = true;
                continue;
            }
        };
        if !args.json {
            println!("Host {}", hp.target);
        }
        for d in &hp.desired.releases {
            let rf = match hp.facts.releases.get(&d.root) {
                Some(crate::facts::Fact::Known(r)) => r,
                Some(crate::facts::Fact::Unknown { error }) => {
                    eprintln!(
                        "error: {name}: could not read the releases of `{}`: {error}",
                        d.app
                    );
                    failed = true;
                    continue;
                }
                None => continue,
            };
            let current = rf.current_id();
            if args.json {
                json.push(AppReleases {
                    host: name,
                    app: &d.app,
                    current,
                    keep: d.keep,
                    releases: &rf.releases,
                    unfinished: &rf.partial,
                });
                continue;
            }
            println!("  app {} ({}, keeps {})", d.app, d.dir, d.keep);
            if rf.releases.is_empty() {
                let why = if rf.legacy_src {
                    format!(
                        "deployed before releases: {}; the next apply makes it the first release",
                        d.legacy_src()
                    )
                } else {
                    "not deployed yet".to_string()
                };
                println!("    no releases ({why})");
            }
            for r in rf.releases.iter().rev() {
                let mark = if Some(r.id.as_str()) == current {
                    "*"
                } else {
                    " "
                };
                let mut line = format!(
                    "  {mark} {}  source {}  {}",
                    r.id,
                    &r.source[..r.source.len().min(12)],
                    when(r.created)
                );
                if Some(r.id.as_str()) == current {
                    line.push_str("  current");
                }
                if !r.prepared {
                    line.push_str("  unfinished");
                }
                if !r.intact() {
                    line.push_str("  changed on the host since it was switched to");
                }
                if !r.migrations.is_empty() {
                    line.push_str(&format!("  migrations: {}", r.migrations.join(", ")));
                }
                println!("  {line}");
            }
            for p in &rf.partial {
                println!(
                    "      {p}  unfinished (an apply stopped while making it; the next apply removes it)"
                );
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json)?);
    }
    Ok(if failed {
        ExitStatus::Error
    } else {
        ExitStatus::Success
    })
}

/// `2026-12-01 09:01:02 UTC`.
fn when(secs: u64) -> String {
    let t = crate::resources::release::timestamp(secs);
    format!(
        "{}-{}-{} {}:{}:{} UTC",
        &t[..4],
        &t[4..6],
        &t[6..8],
        &t[9..11],
        &t[11..13],
        &t[13..15]
    )
}
