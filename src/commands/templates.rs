//! `wsgictl templates list|show`: which template render uses, and where it comes from.
//!
//! Works without a manifest when none was named and `./site.kdl` does not exist: then only
//! the built-ins are listed.

use crate::cli::{Cli, TemplatesCommand};
use crate::exit::ExitStatus;
use crate::templates::{Origin, Templates};
use anyhow::bail;

pub fn run(cli: &Cli, cmd: &TemplatesCommand) -> anyhow::Result<ExitStatus> {
    let templates = if cli.file.is_none() && !cli.manifest().exists() {
        Templates::load(None)?
    } else {
        super::load(cli)?.1
    };
    match cmd {
        TemplatesCommand::List => {
            let width = templates
                .entries()
                .iter()
                .map(|e| e.name.len())
                .max()
                .unwrap_or(0);
            for e in templates.entries() {
                let origin = match &e.origin {
                    Origin::Builtin => "built-in".to_string(),
                    Origin::Override(p) => format!("override  {}", p.display()),
                };
                println!("{:width$}  {origin}", e.name);
            }
            for p in templates.ignored() {
                println!(
                    "{:width$}  ignored   {} (no built-in template of that name)",
                    "-",
                    p.display()
                );
            }
        }
        TemplatesCommand::Show { name } => match templates.get(name) {
            Some(e) => print!("{}", e.source),
            None => {
                let names: Vec<_> = templates.entries().iter().map(|e| e.name).collect();
                bail!("no template named {name} (templates: {})", names.join(", "));
            }
        },
    }
    Ok(ExitStatus::Success)
}
