//! Command-line types (clap derive) and nothing else.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Declarative Django deployments to Apache + mod_wsgi over SSH.
#[derive(Debug, Parser)]
#[command(
    name = "wsgictl",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Site manifest [default: ./site.kdl]
    #[arg(short = 'f', long = "file", value_name = "FILE", global = true)]
    pub file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    pub const DEFAULT_MANIFEST: &str = "site.kdl";

    pub fn manifest(&self) -> PathBuf {
        self.file
            .clone()
            .unwrap_or_else(|| PathBuf::from(Self::DEFAULT_MANIFEST))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load and validate the manifest; report every problem at once
    Check,
    /// Print every file `apply` would write, with its remote path, owner and mode
    Render(RenderArgs),
    /// Connect to each host, read its state in one round trip, and show what apply would change
    Plan(PlanArgs),
    /// Converge each host: plan, confirm, apply, then verify (plan again, request each health path)
    Apply(ApplyArgs),
    /// List each app's releases on its hosts: id, source hash, when, which is current
    Releases(ReleasesArgs),
    /// Switch an app back to its previous release (or --to ID) and restart its daemon
    Rollback(RollbackArgs),
    /// Read a hand-configured host's Apache vhosts and write an app block per Django site, with a report of what the first plan changes
    Import(ImportArgs),
    /// Print the facts gathered from one host (a debugging aid; secrets are never included)
    Facts(FactsArgs),
    /// Request each app, read the live state and logs, and explain what is wrong (--list: the catalogue)
    Doctor(DoctorArgs),
    /// List or print the templates (built-in or overridden)
    #[command(subcommand)]
    Templates(TemplatesCommand),
    /// Print a shell completion script
    Completions {
        /// Shell to complete for
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Only this app's files (and the host-wide file of its hosts)
    #[arg(long, value_name = "NAME")]
    pub app: Option<String>,
    /// Only this host
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    /// Write the files under DIR/<host>/<remote path> instead of printing them
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Run on this machine instead of over SSH (on the server itself, or for tests)
    #[arg(long)]
    pub local: bool,
    /// Trust an unknown host key once and record it in known_hosts (never overrides a mismatch)
    #[arg(long)]
    pub accept_new_host_key: bool,
}

/// Which hosts a run over several takes, and how many at once.
#[derive(Debug, Args, Clone)]
pub struct FleetArgs {
    /// Only the hosts and apps whose names match: comma-separated globs, `!` to leave out
    /// (`web*,!web3`, `blog`)
    #[arg(long, value_name = "PATTERN", value_parser = parse_limit)]
    pub limit: Option<crate::render::limit::Limit>,
    /// Work on at most N hosts at once
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
    pub parallel: u16,
}

impl Default for FleetArgs {
    fn default() -> FleetArgs {
        FleetArgs {
            limit: None,
            parallel: 10,
        }
    }
}

fn parse_limit(s: &str) -> Result<crate::render::limit::Limit, String> {
    crate::render::limit::Limit::parse(s)
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Only this host
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    /// Only this app (and the host-wide files of its hosts)
    #[arg(long, value_name = "NAME")]
    pub app: Option<String>,
    /// Print the plan as JSON (see the README for its fields)
    #[arg(long)]
    pub json: bool,
    /// Exit 0 when nothing would change, 2 when something would, 1 on error
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Also save the plan to FILE for a later `apply FILE` (holds no secret value)
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Show unchanged resources too, and per host the time spent and exec channels opened
    #[arg(short, long)]
    pub verbose: bool,
    /// Do not show the content of files the plan creates (only their path, owner and size)
    #[arg(long)]
    pub compact: bool,
    /// Print nothing but errors and preflight findings (the exit status says the rest)
    #[arg(short, long, conflicts_with_all = ["json", "verbose"])]
    pub quiet: bool,
    #[command(flatten)]
    pub fleet: FleetArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan saved by `plan --out`; without it, apply plans first and shows the plan
    #[arg(value_name = "PLAN_FILE")]
    pub plan_file: Option<PathBuf>,
    /// Do not ask for confirmation (required when not on a terminal)
    #[arg(short, long)]
    pub yes: bool,
    /// Seconds to wait for another apply on the same host to finish
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub lock_timeout: u64,
    /// Seconds one host's apply may take, installs included
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    pub timeout: u64,
    /// Only this host
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    /// Only this app (and the host-wide files of its hosts)
    #[arg(long, value_name = "NAME")]
    pub app: Option<String>,
    /// Show unchanged resources too, and the steps run on each host
    #[arg(short, long)]
    pub verbose: bool,
    /// Do not show the content of files the plan creates (only their path, owner and size)
    #[arg(long)]
    pub compact: bool,
    /// Print the outcome of each host as one JSON document (see the README); needs --yes
    #[arg(long, requires = "yes", conflicts_with = "verbose")]
    pub json: bool,
    /// Print nothing but errors, preflight findings and bad health answers
    #[arg(short, long, conflicts_with_all = ["json", "verbose"])]
    pub quiet: bool,
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// Apply N hosts (or N% of them) at a time, and stop the rollout when a host of a batch
    /// fails or answers its health check badly
    #[arg(long, value_name = "N|N%")]
    pub serial: Option<crate::fleet::Serial>,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Args)]
pub struct ReleasesArgs {
    /// Only this host
    #[arg(long)]
    pub host: Option<String>,
    /// Only this app
    #[arg(long)]
    pub app: Option<String>,
    /// Print the releases as JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The host block (in the manifest) to read
    #[arg(long, value_name = "NAME")]
    pub host: String,
    /// Write the manifest with the app blocks added to FILE, leaving the manifest itself alone
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write the closest manifest to today's behaviour (improvements are left for later)
    #[arg(long)]
    pub keep_as_is: bool,
    /// Copy each project from the host into DIR/APP and point `source` there
    #[arg(long, value_name = "DIR")]
    pub fetch_source: Option<PathBuf>,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// Only this app (required with --to when the hosts carry several apps)
    #[arg(long)]
    pub app: Option<String>,
    /// Only this host
    #[arg(long)]
    pub host: Option<String>,
    /// The release to go back to (as `wsgictl releases` lists it); default: the one before
    /// the current
    #[arg(long, value_name = "ID")]
    pub to: Option<String>,
    /// Do not ask for confirmation (required when not on a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Seconds to wait for an apply on the same host to finish
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub lock_timeout: u64,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the catalogue instead: every scenario wsgictl knows, with its symptom
    #[arg(long)]
    pub list: bool,
    /// With --list: as the Markdown table the README carries
    #[arg(long, requires = "list")]
    pub markdown: bool,
    /// Only this host
    #[arg(long, value_name = "NAME", conflicts_with = "list")]
    pub host: Option<String>,
    /// Only this app
    #[arg(long, value_name = "NAME", conflicts_with = "list")]
    pub app: Option<String>,
    /// Print the report as JSON (see the README for its fields)
    #[arg(long, conflicts_with = "list")]
    pub json: bool,
    /// Print only the apps and host findings that are wrong (nothing when all is well)
    #[arg(short, long, conflicts_with_all = ["list", "json"])]
    pub quiet: bool,
    #[command(flatten)]
    pub fleet: FleetArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Args)]
pub struct FactsArgs {
    /// The host to gather from
    #[arg(long, value_name = "NAME")]
    pub host: String,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Subcommand)]
pub enum TemplatesCommand {
    /// List every template and where it comes from
    List,
    /// Print the template that render would use
    Show {
        /// Template name, as `templates list` prints it (e.g. apache/vhost.conf)
        name: String,
    },
}
