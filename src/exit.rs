//! Process exit statuses, named.

/// What wsgictl's exit status means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitStatus {
    /// Success, or nothing to do.
    Success = 0,
    /// An error: invalid manifest, unreachable host, failed step.
    Error = 1,
    /// Changes are pending (`plan --detailed-exitcode`).
    ChangesPending = 2,
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(s: ExitStatus) -> Self {
        std::process::ExitCode::from(s as u8)
    }
}
