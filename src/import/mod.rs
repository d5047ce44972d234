//! `wsgictl import` (issue 12, in progress): reading hand-written Apache configurations.
//!
//! Stage: import (pure parts). So far: the lexer of Apache configuration files, the
//! evaluation of their conditions, and the parsers of what Apache says of its configuration
//! (`DUMP_INCLUDES`, `-S`, `-M`), and the reader of hand-written `.wsgi` files (Python's
//! `ast`, never run). The command, the host probes and the interpretation into a manifest
//! come next.

pub mod conditions;
pub mod dump;
pub mod lexer;
pub mod remote;
pub mod site;
pub mod tree;
pub mod vhosts;
pub mod write;
pub mod wsgi;
