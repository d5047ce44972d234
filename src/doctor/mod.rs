//! The doctor: what the common mod_wsgi deployment errors look like, and how to tell them.
//!
//! Stage: doctor. [`catalogue`] is the table of scenarios and log signatures; [`signatures`]
//! maps log lines to scenarios. Nothing here performs I/O.

pub mod catalogue;
pub mod signatures;
