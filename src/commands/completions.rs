//! `wsgictl completions SHELL`: print a completion script.

use crate::cli::Cli;
use crate::exit::ExitStatus;
use clap::CommandFactory as _;

pub fn run(shell: clap_complete::Shell) -> anyhow::Result<ExitStatus> {
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        "wsgictl",
        &mut std::io::stdout(),
    );
    Ok(ExitStatus::Success)
}
