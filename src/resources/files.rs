//! Directories and rendered files: existence, content (with a redacted diff), mode, owner.
//! Pure.

use super::{Inputs, known, noop};
use crate::desired::{FileRole, mode_string};
use crate::facts::PathState;
use crate::plan::{Action, Change, Fingerprint, Op};
use crate::resource_id::ResourceId;

pub fn plan_dirs(i: &Inputs<'_>) -> anyhow::Result<Vec<Change>> {
    let mut out = Vec::new();
    for d in &i.desired.dirs {
        let id = ResourceId::Dir(d.path.clone());
        let want = format!("{} {}:{}", mode_string(d.mode), d.owner, d.group);
        out.push(match known(i.facts.paths.get(&d.path), &d.path)? {
            PathState::Missing => Change {
                id,
                action: Action::Create,
                reason: format!("create directory ({want})"),
                before: Some(missing()),
                details: Vec::new(),
                diff: None,
                ops: vec![Op::MkDir {
                    path: d.path.clone(),
                    owner: d.owner.clone(),
                    group: d.group.clone(),
                    mode: mode_string(d.mode),
                }],
            },
            PathState::Dir {
                mode, owner, group, ..
            } => {
                let (ops, details) =
                    attrs(&d.path, (*mode, owner, group), (d.mode, &d.owner, &d.group));
                if ops.is_empty() {
                    noop(id, format!("directory is {want}"))
                } else {
                    Change {
                        id,
                        action: Action::Update,
                        reason: details.join(", "),
                        before: Some(Fingerprint {
                            exists: true,
                            sha256: None,
                            mode: Some(mode_string(*mode)),
                            owner: Some(format!("{owner}:{group}")),
                            seen: None,
                        }),
                        details: Vec::new(),
                        diff: None,
                        ops,
                    }
                }
            }
            other => anyhow::bail!(
                "{} exists but is not a directory ({}); move it away",
                d.path,
                kind(other)
            ),
        });
    }
    Ok(out)
}

pub fn plan_files(i: &Inputs<'_>) -> anyhow::Result<Vec<Change>> {
    let mut out = Vec::new();
    for f in &i.desired.files {
        let app = f.app.clone().unwrap_or_default();
        let id = match f.role {
            FileRole::WsgiScript => ResourceId::WsgiScript(app.clone()),
            FileRole::EnvFile => ResourceId::EnvFile(app.clone()),
            FileRole::Vhost => ResourceId::Vhost(app.clone()),
            FileRole::TlsVhost => ResourceId::TlsVhost(app.clone()),
            FileRole::Overlay => ResourceId::Overlay(app.clone()),
            FileRole::HostConf => ResourceId::HostConf(i.desired.host.clone()),
            FileRole::DeployHook => ResourceId::DeployHook(i.desired.host.clone()),
            FileRole::ServerFile => ResourceId::ServerFile(f.path.clone()),
        };
        let real = f.content.secret_text();
        let sha = crate::source::sha256_hex(real.as_bytes());
        let mode = mode_string(f.mode);
        let write = || Op::WriteFile {
            path: f.path.clone(),
            owner: f.owner.clone(),
            group: f.group.clone(),
            mode: mode.clone(),
            sha256: sha.clone(),
        };
        let secrets: &[String] = i.secrets.get(&app).map(Vec::as_slice).unwrap_or(&[]);
        out.push(match known(i.facts.paths.get(&f.path), &f.path)? {
            // What a new file will contain, as an all-`+` diff (names only where a secret
            // may be), for a reviewer; `--compact` leaves it out of the display.
            PathState::Missing => Change {
                id,
                action: Action::Create,
                reason: format!(
                    "create {} ({}:{} {mode}, {} lines)",
                    f.path,
                    f.owner,
                    f.group,
                    real.lines().count()
                ),
                before: Some(missing()),
                details: Vec::new(),
                diff: Some(if f.role == FileRole::EnvFile || f.content.has_secrets() {
                    crate::diff::names("", real, "/dev/null", &format!("{} (desired)", f.path))
                } else {
                    crate::diff::unified(
                        "",
                        f.content.shown(),
                        "/dev/null",
                        &format!("{} (desired)", f.path),
                    )
                }),
                ops: vec![write()],
            },
            PathState::File {
                mode: m,
                owner,
                group,
                sha256,
                content,
            } => {
                let before = Fingerprint {
                    exists: true,
                    sha256: Some(sha256.clone()),
                    mode: Some(mode_string(*m)),
                    owner: Some(format!("{owner}:{group}")),
                    seen: None,
                };
                let (attr_ops, mut details) =
                    attrs(&f.path, (*m, owner, group), (f.mode, &f.owner, &f.group));
                let mut diff = None;
                let ops = if *sha256 != sha {
                    let old = content
                        .as_deref()
                        .map(String::from_utf8_lossy)
                        .unwrap_or_default();
                    for s in secrets {
                        match crate::diff::env_line(&old, s) {
                            None => details.push(format!("(secret {s} added)")),
                            Some(v) if Some(v) != crate::diff::env_line(real, s) => {
                                details.push(format!("(secret {s} changed)"))
                            }
                            Some(_) => {}
                        }
                    }
                    let labels = (
                        format!("{} (on {})", f.path, i.desired.host),
                        format!("{} (desired)", f.path),
                    );
                    // Never line by line where a secret may be, on either side.
                    diff = Some(if f.role == FileRole::EnvFile || f.content.has_secrets() {
                        crate::diff::names(&old, real, &labels.0, &labels.1)
                    } else {
                        crate::diff::unified(&old, f.content.shown(), &labels.0, &labels.1)
                    });
                    vec![write()]
                } else {
                    attr_ops
                };
                if ops.is_empty() {
                    noop(
                        id,
                        format!("{} is up to date ({}:{} {mode})", f.path, f.owner, f.group),
                    )
                } else {
                    let what = if *sha256 != sha {
                        "content changed"
                    } else {
                        "attributes changed"
                    };
                    Change {
                        id,
                        action: Action::Update,
                        reason: format!("{}: {what}", f.path),
                        before: Some(before),
                        details,
                        diff,
                        ops,
                    }
                }
            }
            other => anyhow::bail!(
                "{} exists but is not a regular file ({}); move it away",
                f.path,
                kind(other)
            ),
        });
    }
    Ok(out)
}

/// Chmod/Chown ops and their human details, `mode 0640 → 0644`, `owner root:root → blog:blog`.
fn attrs(path: &str, have: (u32, &str, &str), want: (u32, &str, &str)) -> (Vec<Op>, Vec<String>) {
    let mut ops = Vec::new();
    let mut details = Vec::new();
    if have.0 != want.0 {
        ops.push(Op::Chmod {
            path: path.to_string(),
            mode: mode_string(want.0),
        });
        details.push(format!(
            "mode {} → {}",
            mode_string(have.0),
            mode_string(want.0)
        ));
    }
    if (have.1, have.2) != (want.1, want.2) {
        ops.push(Op::Chown {
            path: path.to_string(),
            owner: want.1.to_string(),
            group: want.2.to_string(),
        });
        details.push(format!(
            "owner {}:{} → {}:{}",
            have.1, have.2, want.1, want.2
        ));
    }
    (ops, details)
}

fn missing() -> Fingerprint {
    Fingerprint {
        exists: false,
        sha256: None,
        mode: None,
        owner: None,
        seen: None,
    }
}

fn kind(s: &PathState) -> &'static str {
    match s {
        PathState::Missing => "missing",
        PathState::File { .. } => "a file",
        PathState::Dir { .. } => "a directory",
        PathState::Link { .. } => "a symbolic link",
        PathState::Other => "a special file",
    }
}
