//! Source sync: which files of the local project to upload to `{root}/src`, and which remote
//! files to delete (never one the excludes cover). Pure.

use super::{Inputs, known, noop};
use crate::plan::{Action, Change, Fingerprint, Op, SeenKind};
use crate::resource_id::ResourceId;
use std::collections::BTreeMap;

/// How many changed paths a change lists before summarising.
const LISTED: usize = 20;

pub fn plan(i: &Inputs<'_>) -> anyhow::Result<Vec<Change>> {
    let mut out = Vec::new();
    for s in &i.desired.sources {
        let id = ResourceId::Source(s.app.clone());
        let local = i.sources.get(&s.app).map(Vec::as_slice).unwrap_or(&[]);
        let base = super::release::base_tree(i, &s.app)?;
        let remote = known(i.facts.trees.get(&base), &format!("the files below {base}"))?;
        let remote: BTreeMap<&str, (u32, &str)> = remote
            .iter()
            .flatten()
            .map(|f| (f.path.as_str(), (f.mode, f.sha256.as_str())))
            .collect();
        let mut upload = Vec::new();
        let mut details = Vec::new();
        for f in local {
            match remote.get(f.path.as_str()) {
                None => {
                    upload.push(f.path.clone());
                    details.push(format!("+ {}", f.path));
                }
                Some((mode, sha)) if *sha != f.sha256 || *mode != f.mode => {
                    upload.push(f.path.clone());
                    details.push(format!("~ {}", f.path));
                }
                Some(_) => {}
            }
        }
        let excludes = crate::source::Excludes::new(&s.exclude);
        let delete: Vec<String> = remote
            .keys()
            .filter(|p| !local.iter().any(|f| f.path == **p) && !excludes.covers(p))
            .map(|p| p.to_string())
            .collect();
        details.extend(delete.iter().map(|p| format!("- {p}")));
        if upload.is_empty() && delete.is_empty() {
            let n = local.len();
            let files = if n == 1 { "file" } else { "files" };
            out.push(noop(
                id,
                format!("{n} {files} in sync with {}", s.local.display()),
            ));
            continue;
        }
        let total = details.len();
        if total > LISTED {
            details.truncate(LISTED);
            details.push(format!("… and {} more", total - LISTED));
        }
        // What was uploaded is pinned by content: a saved plan is refused when a local file
        // changed since (apply re-renders and compares).
        let content_sha256 = crate::source::sha256_hex(
            local
                .iter()
                .map(|f| format!("{} {:o} {}\n", f.sha256, f.mode, f.path))
                .collect::<String>()
                .as_bytes(),
        );
        let before = i
            .facts
            .fingerprints
            .get(&format!("tree {base}"))
            .map(|fp| Fingerprint::seen(SeenKind::Tree, &base, fp));
        let action = if remote.is_empty() {
            Action::Create
        } else {
            Action::Update
        };
        out.push(Change {
            id,
            action,
            reason: format!(
                "{} to upload, {} to delete, {} unchanged, in {}",
                upload.len(),
                delete.len(),
                local.len() - upload.len(),
                base
            ),
            before,
            details,
            diff: None,
            ops: vec![Op::SyncSource {
                app: s.app.clone(),
                dest: s.dest.clone(),
                owner: s.owner.clone(),
                group: s.group.clone(),
                upload,
                delete,
                content_sha256,
            }],
        });
    }
    Ok(out)
}
