//! `wsgictl plan`: every selected host, concurrently; human output or JSON; optional plan file.

use crate::cli::{Cli, PlanArgs};
use crate::exit::ExitStatus;
use crate::plan::Plan;
use crate::render::Selection;
use anyhow::Context as _;
use serde::Serialize;

/// The JSON document `plan --json` prints and `plan --out` saves.
#[derive(Serialize)]
pub struct PlanDocument<'a> {
    /// Format version; bumped on any incompatible change.
    pub version: u32,
    pub manifest: String,
    pub hosts: Vec<HostDocument<'a>>,
    pub errors: Vec<HostError>,
}

/// One host's plan; `host` comes from the plan itself.
#[derive(Serialize)]
pub struct HostDocument<'a> {
    pub target: &'a str,
    pub summary: Summary,
    #[serde(flatten)]
    pub plan: &'a Plan,
}

#[derive(Serialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
}

/// A saved plan, read back by `apply PLAN_FILE`.
#[derive(serde::Deserialize)]
pub struct SavedPlan {
    pub version: u32,
    pub manifest: String,
    pub hosts: Vec<SavedHost>,
}

#[derive(serde::Deserialize)]
pub struct SavedHost {
    #[serde(flatten)]
    pub plan: Plan,
}

#[derive(Serialize)]
pub struct HostError {
    pub host: String,
    pub error: String,
}

pub fn run(cli: &Cli, args: &PlanArgs) -> anyhow::Result<ExitStatus> {
    let sel = Selection {
        host: args.host.clone(),
        app: args.app.clone(),
        limit: args.fleet.limit.clone(),
    };
    let super::Planned { m, results } = super::plan_selected(
        cli,
        &sel,
        &args.connect,
        &args.fleet,
        !args.json && !args.quiet,
    )?;

    let color = crate::show::color_for(&std::io::stdout());
    let style = crate::show::Style {
        color,
        verbose: args.verbose,
        compact: args.compact,
    };
    let mut doc = PlanDocument {
        version: 1,
        manifest: m.path.display().to_string(),
        hosts: Vec::new(),
        errors: Vec::new(),
    };
    let mut pending = false;
    let mut blocked = false;
    for (name, result) in &results {
        match result {
            Ok(hp) => {
                pending |= !hp.plan.is_empty();
                if args.verbose {
                    let channels = hp.stats.exec_channels;
                    eprintln!(
                        "{name}: connect {} ms{}, gather {} ms{}, {channels} exec channel{}{}",
                        hp.stats.connect.as_millis(),
                        if hp.stats.kept {
                            " (kept connection)"
                        } else {
                            ""
                        },
                        hp.gather_time.as_millis(),
                        hp.facts
                            .processes
                            .map(|n| format!(" ({n} processes on the host)"))
                            .unwrap_or_default(),
                        if channels == 1 { "" } else { "s" },
                        match hp.stats.config {
                            "" => String::new(),
                            crate::transport::ssh_config::NO_FILE => ", no ~/.ssh/config".into(),
                            via => format!(", ~/.ssh/config read with {via}"),
                        }
                    );
                }
                if args.quiet {
                    super::print_findings(hp, &m.path);
                } else if !args.json {
                    super::print_plan(hp, &m.path, &style);
                }
                blocked |= hp.plan.blocked();
                let (create, update, delete) = hp.plan.counts();
                doc.hosts.push(HostDocument {
                    target: &hp.target,
                    summary: Summary {
                        create,
                        update,
                        delete,
                    },
                    plan: &hp.plan,
                });
            }
            Err(e) => {
                eprintln!("error: {name}: {e:#}");
                doc.errors.push(HostError {
                    host: name.clone(),
                    error: format!("{e:#}"),
                });
            }
        }
    }
    let json = serde_json::to_string_pretty(&doc).expect("plan serialises");
    if args.json {
        println!("{json}");
    }
    if let Some(path) = &args.out {
        write_private(path, format!("{json}\n").as_bytes())
            .with_context(|| format!("writing the plan to {}", path.display()))?;
        if !args.json {
            println!("Saved the plan to {}.", path.display());
        }
    }
    Ok(if !doc.errors.is_empty() || blocked {
        ExitStatus::Error
    } else if pending && args.detailed_exitcode {
        ExitStatus::ChangesPending
    } else {
        ExitStatus::Success
    })
}

/// Write `data` to `path` atomically and readable by its owner only: a 0600 temporary file in
/// the same directory, fsynced, renamed over `path`. A reader sees the old file or the whole
/// new one, and a plan file is never world-readable, not even for a moment.
pub fn write_private(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let nonce = crate::facts::nonce().map_err(std::io::Error::other)?;
    let tmp = dir.join(format!(".{}.{nonce}.tmp", name.unwrap_or_default()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn plan_files_are_private_and_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        super::write_private(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
