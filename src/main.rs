//! Entry point: parse arguments, run the command, print errors, map the exit status.

use clap::Parser as _;
use std::process::ExitCode;
use wsgictl::cli::Cli;
use wsgictl::exit::ExitStatus;
use wsgictl::manifest::ManifestError;

fn main() -> ExitCode {
    // The keeper of a connection kept for later runs (`transport::keep`): started by wsgictl,
    // never typed. It keeps SIGPIPE ignored: a run that hangs up is an error it handles
    // (`keep::keeper`), not its death.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == wsgictl::transport::keep::KEEPER_ARG)
    {
        return wsgictl::transport::keep::keeper_main();
    }
    // Output piped into `head` or a pager that quits: end quietly, as Unix tools do, rather
    // than panic on EPIPE (Rust ignores SIGPIPE by default).
    // SAFETY: restoring a signal's default disposition at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap exits 2 on usage errors; 2 means "changes pending" here.
            let _ = e.print();
            return if e.use_stderr() {
                ExitStatus::Error
            } else {
                ExitStatus::Success
            }
            .into();
        }
    };
    match wsgictl::commands::run(&cli) {
        Ok(status) => status.into(),
        Err(e) => {
            let color = wsgictl::show::color_for(&std::io::stderr());
            if let Some(m) = e.downcast_ref::<ManifestError>() {
                eprint!("{}", wsgictl::manifest::diag::render(m, color, 100));
            } else {
                eprintln!("error: {e:#}");
            }
            ExitStatus::Error.into()
        }
    }
}
