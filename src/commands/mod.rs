//! One thin file per subcommand: turn arguments into options and call the stages.

mod apply;
mod check;
mod completions;
mod doctor;
mod facts;
mod import;
pub mod plan;
mod releases;
mod render;
mod rollback;
mod templates;

use crate::cli::{Cli, Command};
use crate::exit::ExitStatus;

pub fn run(cli: &Cli) -> anyhow::Result<ExitStatus> {
    match &cli.command {
        Command::Check => check::run(cli),
        Command::Render(args) => render::run(cli, args),
        Command::Plan(args) => plan::run(cli, args),
        Command::Apply(args) => apply::run(cli, args),
        Command::Releases(args) => releases::run(cli, args),
        Command::Rollback(args) => rollback::run(cli, args),
        Command::Import(args) => import::run(cli, args),
        Command::Facts(args) => facts::run(cli, args),
        Command::Doctor(args) => doctor::run(cli, args),
        Command::Templates(cmd) => templates::run(cli, cmd),
        Command::Completions { shell } => completions::run(*shell),
    }
}

/// Load the manifest and its templates: the first two steps of every command.
fn load(cli: &Cli) -> anyhow::Result<(crate::manifest::Manifest, crate::templates::Templates)> {
    let manifest = crate::manifest::load(&cli.manifest())?;
    let templates = crate::templates::Templates::load(manifest.templates.as_deref())?;
    Ok((manifest, templates))
}

/// The manifest and every selected host's plan (or why it has none), in manifest order.
struct Planned {
    m: crate::manifest::Manifest,
    results: Vec<(String, anyhow::Result<crate::pipeline::HostPlan>)>,
}

/// Load, select and plan concurrently: how `plan` and `doctor` start.
fn plan_selected(
    cli: &Cli,
    sel: &crate::render::Selection,
    connect: &crate::cli::ConnectArgs,
    fleet: &crate::cli::FleetArgs,
    show_progress: bool,
) -> anyhow::Result<Planned> {
    let (m, templates) = load(cli)?;
    sel.validate(&m)?;
    let reach = reach(connect)?;
    let lookup = |v: &str| std::env::var(v).ok();
    let targets = targets(&m, sel);
    let names: Vec<&str> = targets.iter().map(|(h, _)| h.name.as_str()).collect();
    let progress = crate::fleet::Progress::new(&names, show_progress);
    let results = crate::pipeline::plan_hosts(
        &m,
        &targets,
        &templates,
        &lookup,
        &reach,
        // One clock for every host: a saved plan's hosts name their releases from it.
        crate::pipeline::Extras {
            now: Some(crate::pipeline::now()),
            ..crate::pipeline::Extras::NONE
        },
        crate::fleet::Pool {
            parallel: fleet.parallel.into(),
            progress: &progress,
        },
    );
    progress.clear();
    Ok(Planned { m, results })
}

/// The selected hosts, each with the apps it is limited to.
fn targets<'a>(
    m: &'a crate::manifest::Manifest,
    sel: &crate::render::Selection,
) -> Vec<(
    &'a crate::manifest::Host,
    Option<std::collections::BTreeSet<String>>,
)> {
    sel.hosts(m)
        .into_iter()
        .map(|h| (h, sel.apps_on(m, &h.name)))
        .collect()
}

/// One host's preflight findings (on stderr, over the manifest's lines) and its plan.
fn print_plan(
    hp: &crate::pipeline::HostPlan,
    manifest: &std::path::Path,
    style: &crate::show::Style,
) {
    print_findings(hp, manifest);
    print!("{}", crate::show::plan(&hp.plan, &hp.target, style));
}

/// One host's preflight findings, on stderr over the manifest's lines.
fn print_findings(hp: &crate::pipeline::HostPlan, manifest: &std::path::Path) {
    eprint!(
        "{}",
        crate::preflight::render(
            &hp.plan.findings,
            manifest,
            crate::show::color_for(&std::io::stderr())
        )
    );
}

/// How to reach hosts, from the connection flags.
fn reach(args: &crate::cli::ConnectArgs) -> anyhow::Result<crate::pipeline::Reach> {
    let home = std::env::var_os("HOME")
        .map(std::path::PathBuf::from)
        .ok_or_else(|| anyhow::anyhow!("HOME is not set"))?;
    Ok(crate::pipeline::Reach {
        local: args.local,
        ssh: crate::transport::ssh::SshOptions {
            accept_new_host_key: args.accept_new_host_key,
            ..Default::default()
        },
        home,
    })
}
