//! One thin file per subcommand: turn arguments into options and call the stages.

mod check;
mod completions;
mod render;
mod templates;

use crate::cli::{Cli, Command};
use crate::exit::ExitStatus;

pub fn run(cli: &Cli) -> anyhow::Result<ExitStatus> {
    match &cli.command {
        Command::Check => check::run(cli),
        Command::Render(args) => render::run(cli, args),
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
