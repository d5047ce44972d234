//! `wsgictl facts --host NAME`: the facts gathered from one host, as JSON (a debugging aid).
//!
//! File contents are never serialised (they may hold secrets); their sha256 is.

use crate::cli::{Cli, FactsArgs};
use crate::exit::ExitStatus;
use crate::render::Selection;

pub fn run(cli: &Cli, args: &FactsArgs) -> anyhow::Result<ExitStatus> {
    let (m, templates) = super::load(cli)?;
    Selection {
        host: Some(args.host.clone()),
        app: None,
        limit: None,
    }
    .validate(&m)?;
    let host = m.host(&args.host).expect("validated");
    let reach = super::reach(&args.connect)?;
    let mut transport = crate::pipeline::connect(host, &reach)?;
    let facts = crate::pipeline::gather(
        &m,
        host,
        &templates,
        None,
        &|v| std::env::var(v).ok(),
        transport.as_mut(),
        crate::pipeline::Extras::NONE,
    )?;
    println!(
        "{}",
        serde_json::to_string_pretty(&facts).expect("facts serialise")
    );
    Ok(ExitStatus::Success)
}
