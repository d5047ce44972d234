//! wsgictl: declarative Django deployments to Apache + mod_wsgi.
//!
//! The pipeline, one module per stage:
//!
//! ```text
//! site.kdl ──load──▶ Manifest ──render──▶ DesiredState ─┐
//!                                                       ├─ plan (pure) ──▶ Plan ──apply──▶ Outcome
//! host ──(one exec)──▶ raw probe output ──parse──▶ Facts ┘
//! ```
//!
//! - load: [`manifest`] (KDL → validated model, miette diagnostics)
//! - render: [`templates`] + [`render`] → [`desired`] (files, owners, modes; secrets redacted
//!   in every displayable form), quoting through [`quote`] and [`shell`]
//! - gather: [`facts`] (probes → one `sh` script → framed output → typed facts) through
//!   [`transport`]; plan: [`resources`] → [`plan`] (pure); apply: [`apply`]; [`pipeline`]
//!   runs the stages per host
//! - [`preflight`] and [`doctor`]: the catalogue of deployment errors, before and after
//! - [`import`]: a hand-configured host's Apache configuration → app blocks and a report
//!
//! [`commands`] holds one thin file per subcommand; [`cli`] the clap types.

pub mod apply;
pub mod cli;
pub mod commands;
pub mod desired;
pub mod diff;
pub mod doctor;
pub mod exit;
pub mod facts;
pub mod fleet;
pub mod import;
pub mod manifest;
pub mod pipeline;
pub mod plan;
pub mod preflight;
pub mod preflight_rootless;
pub mod preflight_site;
pub mod quote;
pub mod render;
pub mod resource_id;
pub mod resources;
pub mod settings_check;
pub mod shell;
pub mod show;
pub mod source;
pub mod templates;
pub mod transport;
