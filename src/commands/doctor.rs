//! `wsgictl doctor --list`: the catalogue of common deployment errors.

use crate::cli::DoctorArgs;
use crate::doctor::catalogue::{SCENARIOS, markdown};
use crate::exit::ExitStatus;

pub fn run(args: &DoctorArgs) -> anyhow::Result<ExitStatus> {
    if args.markdown {
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
