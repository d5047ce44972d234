//! `wsgictl import` (issue 12, in progress): reading hand-written Apache configurations.
//!
//! Stage: import (pure parts). So far only the lexer of Apache configuration files; the
//! command, the host probes and the interpretation into a manifest come next.

pub mod lexer;
