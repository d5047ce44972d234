//! `wsgictl apply [PLAN_FILE]`: plan (or read a saved plan), confirm, apply every host
//! concurrently, and close with a summary per host.

use crate::apply::{Options, apply_host};
use crate::cli::{ApplyArgs, Cli};
use crate::exit::ExitStatus;
use crate::pipeline::{HostPlan, plan_hosts};
use crate::render::Selection;
use anyhow::{Context as _, bail};
use serde::Serialize;
use std::io::{BufRead as _, IsTerminal as _, Write as _};

/// What apply prints: the plan and a line per host, errors only, or one JSON document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Output {
    Human,
    Quiet,
    Json,
}

/// `apply --json`: every selected host's outcome.
#[derive(Serialize)]
struct Document {
    version: u32,
    manifest: String,
    /// Every host applied (or had nothing to do) and every app answered well.
    ok: bool,
    hosts: Vec<HostOutcome>,
}

#[derive(Serialize)]
struct HostOutcome {
    host: String,
    /// `applied`, `unchanged`, `blocked` (preflight errors: nothing changed) or `failed`.
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    plan: Option<crate::plan::Plan>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seconds: Option<f64>,
    reloaded: bool,
    /// Apps whose daemons were restarted (their `.wsgi` touched) without a reload.
    restarted: Vec<String>,
    steps: Vec<String>,
    warnings: Vec<String>,
    health: Vec<HealthOutcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct HealthOutcome {
    app: String,
    url: String,
    status: Option<u16>,
    good: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl HostOutcome {
    fn new(host: &str, outcome: &'static str) -> Self {
        HostOutcome {
            host: host.to_string(),
            outcome,
            plan: None,
            seconds: None,
            reloaded: false,
            restarted: Vec::new(),
            steps: Vec::new(),
            warnings: Vec::new(),
            health: Vec::new(),
            error: None,
        }
    }
}

fn health_outcomes(health: &[crate::apply::Health]) -> Vec<HealthOutcome> {
    health
        .iter()
        .map(|h| HealthOutcome {
            app: h.app.clone(),
            url: h.url.clone(),
            status: h.status.as_ref().ok().copied(),
            good: h.good(),
            error: h.status.as_ref().err().cloned(),
        })
        .collect()
}

pub fn run(cli: &Cli, args: &ApplyArgs) -> anyhow::Result<ExitStatus> {
    let (m, templates) = super::load(cli)?;
    let sel = Selection {
        host: args.host.clone(),
        app: args.app.clone(),
        limit: args.fleet.limit.clone(),
    };
    sel.validate(&m)?;
    let saved = match &args.plan_file {
        Some(p) => Some(read_saved(p, &m.path)?),
        None => None,
    };
    let targets: Vec<_> = super::targets(&m, &sel)
        .into_iter()
        .filter(|(h, _)| {
            saved
                .as_ref()
                .is_none_or(|s| s.hosts.iter().any(|sh| sh.plan.host == *h.name))
        })
        .collect();
    let reach = super::reach(&args.connect)?;
    let lookup = |v: &str| std::env::var(v).ok();
    let color = crate::show::color_for(&std::io::stdout());
    let style = crate::show::Style {
        color,
        verbose: args.verbose,
        compact: args.compact,
    };
    let output = if args.json {
        Output::Json
    } else if args.quiet {
        Output::Quiet
    } else {
        Output::Human
    };
    let mut outcomes: Vec<HostOutcome> = Vec::new();

    let mut failed = false;
    let mut ready: Vec<HostPlan> = Vec::new();
    // The same round trip records the log offsets (for `doctor`) and asks each app for its
    // health, so that even an apply with nothing to change proves the site.
    let extras = crate::pipeline::Extras {
        offsets: true,
        health: true,
        settling: false,
        // A saved plan is planned again at its own time: its releases keep their names.
        now: saved
            .as_ref()
            .and_then(|s| s.hosts.first())
            .map(|h| h.plan.planned_at)
            .filter(|t| *t > 0),
    };
    let names: Vec<&str> = targets.iter().map(|(h, _)| h.name.as_str()).collect();
    let progress = crate::fleet::Progress::new(&names, output == Output::Human);
    let parallel = usize::from(args.fleet.parallel);
    let pool = crate::fleet::Pool {
        parallel,
        progress: &progress,
    };
    let planned = plan_hosts(&m, &targets, &templates, &lookup, &reach, extras, pool);
    progress.clear();
    for (name, result) in planned {
        match result {
            Ok(mut hp) => {
                if let Some(s) = &saved {
                    let sh = s
                        .hosts
                        .iter()
                        .find(|sh| sh.plan.host == name)
                        .expect("filtered above");
                    // A saved plan is applied only as it was saved: what apply would do now
                    // (manifest, templates, secrets, local source, requirements, host) must be
                    // exactly that. The saved `before` fingerprints then pin the host.
                    if let Some(diff) = plan_difference(&sh.plan, &hp.plan) {
                        let e = format!(
                            "the saved plan {} no longer matches what apply would do (the manifest, a template, a secret, the local source, the requirements or the host changed since it was saved): {diff}; run plan again",
                            args.plan_file
                                .as_deref()
                                .unwrap_or(std::path::Path::new(""))
                                .display()
                        );
                        eprintln!("error: {name}: {e}");
                        let mut o = HostOutcome::new(&name, "failed");
                        o.error = Some(e);
                        outcomes.push(o);
                        failed = true;
                        continue;
                    }
                    // The saved ops, judged by today's preflight.
                    let findings = std::mem::take(&mut hp.plan.findings);
                    hp.plan = sh.plan.clone();
                    hp.plan.findings = findings;
                }
                match output {
                    Output::Human => super::print_plan(&hp, &m.path, &style),
                    Output::Quiet => super::print_findings(&hp, &m.path),
                    Output::Json => {}
                }
                if hp.plan.blocked() {
                    eprintln!(
                        "error: {name}: preflight found errors (above); nothing was changed on this host"
                    );
                    let mut o = HostOutcome::new(&name, "blocked");
                    o.plan = Some(hp.plan.clone());
                    o.error = Some("preflight found errors; nothing was changed".into());
                    outcomes.push(o);
                    failed = true;
                    continue;
                }
                ready.push(hp);
            }
            Err(e) => {
                eprintln!("error: {name}: {e:#}");
                let mut o = HostOutcome::new(&name, "failed");
                o.error = Some(format!("{e:#}"));
                outcomes.push(o);
                failed = true;
            }
        }
    }
    let (todo, nothing): (Vec<_>, Vec<_>) = ready.into_iter().partition(|hp| !hp.plan.is_empty());
    for hp in &nothing {
        if output == Output::Human {
            println!("{}: no changes.", hp.plan.host);
        }
        let host = m
            .host(&hp.plan.host)
            .expect("planned host is in the manifest");
        let health = crate::apply::health_of(&m, host, &hp.facts);
        let mut o = HostOutcome::new(&hp.plan.host, "unchanged");
        o.plan = Some(hp.plan.clone());
        o.health = health_outcomes(&health);
        outcomes.push(o);
        failed |= !print_health(&health, output);
        if args.verbose {
            let n = hp.transport.stats().exec_channels;
            eprintln!(
                "{}: {n} exec channel{}",
                hp.plan.host,
                if n == 1 { "" } else { "s" }
            );
        }
    }
    if todo.is_empty() {
        return Ok(finish(&m, output, outcomes, failed));
    }
    if !args.yes {
        confirm(todo.len())?;
    }

    let opts = Options {
        lock_timeout_secs: args.lock_timeout,
        timeout: std::time::Duration::from_secs(args.timeout),
        abort_after: std::env::var("WSGICTL_TEST_ABORT_AFTER").ok(),
    };
    let plans: Vec<crate::plan::Plan> = todo.iter().map(|hp| hp.plan.clone()).collect();
    // Rolling: batches of `--serial` hosts, each applied (at most `--parallel` at once) and
    // judged before the next starts; without it, one batch of every host.
    let batch = args.serial.map_or(todo.len(), |s| s.batch(todo.len()));
    let mut pending = todo.into_iter().peekable();
    let mut results: Vec<(String, anyhow::Result<crate::apply::Outcome>)> = Vec::new();
    let mut stopped: Option<String> = None;
    let well = |r: &anyhow::Result<crate::apply::Outcome>| matches!(r, Ok(o) if o.health.iter().all(crate::apply::Health::good));
    while pending.peek().is_some() {
        let this: Vec<HostPlan> = pending.by_ref().take(batch).collect();
        let names: Vec<String> = this.iter().map(|hp| hp.plan.host.clone()).collect();
        let progress = crate::fleet::Progress::of_apply(&names, output == Output::Human);
        let done = crate::fleet::bounded(this, parallel, |hp| {
            let host = m
                .host(&hp.plan.host)
                .expect("planned host is in the manifest");
            let name = hp.plan.host.clone();
            progress.stage(&name, "applying");
            let r = apply_host(&m, host, &templates, hp, &opts, &lookup, &|step| {
                progress.stage(&name, step)
            });
            progress.done(
                &name,
                match &r {
                    _ if well(&r) => "applied",
                    Ok(_) => "applied, health check failed",
                    Err(_) => "failed",
                },
            );
            (name, r)
        });
        progress.clear();
        let bad = done.iter().find(|(_, r)| !well(r));
        if let Some((name, _)) = bad
            && args.serial.is_some()
        {
            stopped = Some(name.clone());
        }
        results.extend(done);
        if stopped.is_some() {
            break;
        }
    }
    let skipped: Vec<HostPlan> = pending.collect();

    for (name, r) in &results {
        let plan = plans.iter().find(|p| &p.host == name).cloned();
        match r {
            Ok(o) => {
                let mut line = format!("{name}: applied in {:.1} s", o.seconds);
                if o.reloaded {
                    line.push_str("; Apache reloaded");
                } else if !o.touched.is_empty() {
                    line.push_str(&format!(
                        "; restarted {} (Apache not reloaded)",
                        o.touched.join(", ")
                    ));
                }
                if output == Output::Human {
                    println!("{line}.");
                    for w in &o.warnings {
                        println!("  warning: {w}");
                    }
                }
                if args.verbose {
                    eprintln!("{name}: steps: {}", o.steps.join(", "));
                    eprintln!("{name}: {} exec channels", o.exec_channels);
                }
                failed |= !print_health(&o.health, output);
                outcomes.push(HostOutcome {
                    plan,
                    seconds: Some((o.seconds * 10.0).round() / 10.0),
                    reloaded: o.reloaded,
                    restarted: o.touched.clone(),
                    steps: o.steps.clone(),
                    warnings: o.warnings.clone(),
                    health: health_outcomes(&o.health),
                    ..HostOutcome::new(name, "applied")
                });
            }
            Err(e) => {
                failed = true;
                eprintln!("error: {name}: {e:#}");
                outcomes.push(HostOutcome {
                    plan,
                    error: Some(format!("{e:#}")),
                    ..HostOutcome::new(name, "failed")
                });
            }
        }
    }
    if let Some(culprit) = &stopped {
        for hp in skipped {
            let name = hp.plan.host.clone();
            let e = format!(
                "not applied: the rollout stopped after `{culprit}` failed in its batch (--serial); nothing was changed on this host"
            );
            eprintln!("error: {name}: {e}");
            outcomes.push(HostOutcome {
                plan: Some(hp.plan),
                error: Some(e),
                ..HostOutcome::new(&name, "skipped")
            });
            failed = true;
        }
    }
    Ok(finish(&m, output, outcomes, failed))
}

/// The exit status, and with `--json` the document of every host's outcome (manifest order).
fn finish(
    m: &crate::manifest::Manifest,
    output: Output,
    mut outcomes: Vec<HostOutcome>,
    failed: bool,
) -> ExitStatus {
    if output == Output::Json {
        let order = |h: &str| m.hosts.iter().position(|x| *x.name == h);
        outcomes.sort_by_key(|o| order(&o.host));
        let doc = Document {
            version: 1,
            manifest: m.path.display().to_string(),
            ok: !failed,
            hosts: outcomes,
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).expect("outcome serialises")
        );
    }
    if failed {
        ExitStatus::Error
    } else {
        ExitStatus::Success
    }
}

/// Print each app's health answer (the bad ones only when quiet, none as JSON); whether all
/// of them are good (2xx or 3xx).
pub(super) fn print_health(health: &[crate::apply::Health], output: Output) -> bool {
    if output == Output::Json {
        return health.iter().all(crate::apply::Health::good);
    }
    let mut good = true;
    for h in health {
        let (app, url) = (&h.app, &h.url);
        match &h.status {
            Ok(code) if h.good() => {
                if output == Output::Human {
                    println!("  {app}: {url} → {code}");
                }
            }
            Ok(code) => {
                good = false;
                println!(
                    "  {app}: {url} → {code}: the app does not answer as expected; read its error log (ErrorLog in its vhost), or run `wsgictl doctor`"
                );
            }
            Err(e) => {
                good = false;
                println!("  {app}: {url} → {e}");
            }
        }
    }
    good
}

/// The first way `now` differs from `saved` in what apply would run (ids, actions, ops,
/// handlers); reasons, details and fingerprints are not compared.
fn plan_difference(saved: &crate::plan::Plan, now: &crate::plan::Plan) -> Option<String> {
    let work = |p: &crate::plan::Plan| -> Vec<_> {
        p.changes
            .iter()
            .filter(|c| !c.ops.is_empty() || c.action != crate::plan::Action::NoOp)
            .map(|c| (c.id.clone(), c.action, c.ops.clone()))
            .collect()
    };
    let (a, b) = (work(saved), work(now));
    for (x, y) in a.iter().zip(&b) {
        if x != y {
            return Some(if x.0 == y.0 {
                format!("{} would now be done differently", x.0)
            } else {
                format!("planned {}, now {}", x.0, y.0)
            });
        }
    }
    if a.len() != b.len() {
        let extra = if a.len() > b.len() {
            &a[b.len()]
        } else {
            &b[a.len()]
        };
        return Some(format!(
            "{} {}",
            extra.0,
            if a.len() > b.len() {
                "is no longer needed"
            } else {
                "is needed now but was not planned"
            }
        ));
    }
    (saved.handlers != now.handlers).then(|| "the reloads and restarts differ".to_string())
}

fn read_saved(
    path: &std::path::Path,
    manifest: &std::path::Path,
) -> anyhow::Result<super::plan::SavedPlan> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the plan {}", path.display()))?;
    let saved: super::plan::SavedPlan = serde_json::from_str(&text).with_context(|| {
        format!(
            "reading the plan {}: not a plan saved by `wsgictl plan --out`",
            path.display()
        )
    })?;
    if saved.version != 1 {
        bail!(
            "{} is a version {} plan; this wsgictl reads version 1",
            path.display(),
            saved.version
        );
    }
    if saved.manifest != manifest.display().to_string() {
        bail!(
            "{} was planned from {}, not {}; apply it with `-f {}`, or run plan again",
            path.display(),
            saved.manifest,
            manifest.display(),
            saved.manifest
        );
    }
    Ok(saved)
}

pub(super) fn confirm(hosts: usize) -> anyhow::Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!("not on a terminal: pass --yes to apply without confirmation");
    }
    print!(
        "Apply these changes to {hosts} host{}? [y/N] ",
        if hosts == 1 { "" } else { "s" }
    );
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        bail!("nothing applied");
    }
    Ok(())
}
