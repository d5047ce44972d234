//! wsgictl's integration tests: one binary, one module per area.
//!
//! `apache` needs a real Apache with mod_wsgi (Debian's apache2 and libapache2-mod-wsgi-py3);
//! `tests/run.sh` installs them when missing.

mod apache;
pub mod apply;
mod bench;
mod ci_examples;
mod cli;
mod diagnose;
mod doctor;
mod facts;
mod fleet;
mod import;
mod keep;
mod manifest;
mod plan;
mod planning;
pub mod promises;
mod quoting;
mod releases;
mod render;
mod rootless;
mod settings_check;
mod shellcheck;
mod support;
mod templates;
mod tls;
mod transport;
