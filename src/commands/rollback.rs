//! `wsgictl rollback [--app NAME] [--to ID]`: point `current` back at an earlier release and
//! restart the daemon (its `.wsgi` touched; Apache is not reloaded). Planned and shown like an
//! apply, refused past a migration, then verified: the link is read again and each app's
//! `health` path requested.

use crate::cli::{Cli, RollbackArgs};
use crate::exit::ExitStatus;
use crate::render::Selection;
use crate::resources::release::{Back, back_plan, rollback_target};

pub fn run(cli: &Cli, args: &RollbackArgs) -> anyhow::Result<ExitStatus> {
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
    let m = &planned.m;
    if args.to.is_some()
        && args.app.is_none()
        && sel.hosts(m).iter().any(|h| m.apps_on(&h.name).count() > 1)
    {
        anyhow::bail!("--to names one app's release: say which app with --app");
    }
    let style = crate::show::Style {
        color: crate::show::color_for(&std::io::stdout()),
        verbose: false,
        compact: false,
    };
    let mut failed = false;
    let mut ready = Vec::new();
    for (name, result) in planned.results {
        let mut hp = match result {
            Ok(hp) => hp,
            Err(e) => {
                eprintln!("error: {name}: {e:#}");
                failed = true;
                continue;
            }
        };
        let mut backs = Vec::new();
        for d in &hp.desired.releases {
            let rf = match hp.facts.releases.get(&d.root) {
                Some(crate::facts::Fact::Known(r)) => r,
                other => {
                    let why = match other {
                        Some(crate::facts::Fact::Unknown { error }) => error.clone(),
                        _ => "not read".into(),
                    };
                    eprintln!("error: {name}: the releases of `{}`: {why}", d.app);
                    failed = true;
                    continue;
                }
            };
            match rollback_target(&d.app, rf, args.to.as_deref()) {
                Ok(target) => {
                    let wsgi = hp
                        .desired
                        .file(crate::desired::FileRole::WsgiScript, &d.app)
                        .map(|f| f.path.clone())
                        .unwrap_or_default();
                    backs.push(Back {
                        release: d,
                        now: rf.current.clone().unwrap_or_default(),
                        to: target.id.clone(),
                        wsgi,
                    });
                }
                Err(e) => {
                    eprintln!("error: {name}: {e}");
                    failed = true;
                }
            }
        }
        if backs.is_empty() {
            continue;
        }
        let plan = back_plan(&name, &backs, "rollback");
        print!("{}", crate::show::plan(&plan, &hp.target, &style));
        let wanted: Vec<(String, String)> = backs
            .iter()
            .map(|b| (b.release.app.clone(), b.to.clone()))
            .collect();
        drop(backs);
        hp.plan = plan;
        ready.push((hp, wanted));
    }
    if ready.is_empty() {
        return Ok(if failed {
            ExitStatus::Error
        } else {
            ExitStatus::Success
        });
    }
    if !args.yes {
        super::apply::confirm(ready.len())?;
    }
    for (mut hp, wanted) in ready {
        let host = m
            .host(&hp.plan.host)
            .expect("planned host is in the manifest");
        let name = hp.plan.host.clone();
        if let Err(e) = crate::apply::run_back(
            hp.transport.as_mut(),
            host,
            &hp.env,
            &hp.desired.reload_marker,
            &hp.plan,
            args.lock_timeout,
        ) {
            eprintln!("error: {name}: {e:#}");
            failed = true;
            continue;
        }
        // Verify: what `current` says now, and what each app answers.
        let mut probes: Vec<crate::facts::Probe> = hp
            .desired
            .releases
            .iter()
            .map(|d| crate::facts::Probe::Releases {
                root: d.root.clone(),
                static_link: d.static_link.clone(),
            })
            .collect();
        let only: Option<std::collections::BTreeSet<String>> =
            args.app.iter().cloned().map(|a| [a].into()).next();
        probes.extend(crate::pipeline::health_probes(m, host, only.as_ref(), true));
        let facts = crate::facts::gather(hp.transport.as_mut(), &host.name, &probes, host.sudo)?;
        for (app, to) in &wanted {
            let d = hp
                .desired
                .releases
                .iter()
                .find(|d| d.app == *app)
                .expect("planned");
            let now = facts
                .releases
                .get(&d.root)
                .and_then(|f| f.known())
                .and_then(|r| r.current_id().map(str::to_string));
            if now.as_deref() == Some(to.as_str()) {
                println!(
                    "{name}: `{app}` runs release {to} (its daemon restarted; Apache was not reloaded)."
                );
            } else {
                eprintln!(
                    "error: {name}: `{app}`: current is {} after the rollback, not {to}",
                    now.as_deref().unwrap_or("missing")
                );
                failed = true;
            }
        }
        let health = crate::apply::health_of(m, host, &facts);
        failed |= !super::apply::print_health(&health, super::apply::Output::Human);
    }
    Ok(if failed {
        ExitStatus::Error
    } else {
        ExitStatus::Success
    })
}
