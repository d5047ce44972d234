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
