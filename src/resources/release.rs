//! Releases: whether an app gets a new release directory, which release `current` is
//! switched to, and which old releases go. Pure.
//!
//! A release is made when the app's code, `.wsgi`, env file, venv or packages change, or when
//! it has no release yet (a first deploy, or a host deployed before releases, whose
//! `{root}/src` becomes the first release). It is hard-linked from the running release and
//! only what changed is written into it; the hooks and the import test run in it before the
//! switch. When the manifest asks for exactly what an earlier release on the host holds (same
//! source, `.wsgi`, env file and packages), `current` is switched back to that one instead.
//! After the switch the newest `releases` are kept, never fewer than the current and the
//! previous one.

use super::{Inputs, known};
use crate::desired::{DesiredRelease, FileRole};
use crate::facts::releases::{Releases, StaticLink};
use crate::plan::{Action, Change, Fingerprint, Handler, Op, ReleaseBase, SeenKind};
use crate::resource_id::{Hook, ResourceId};

/// What was decided for one app.
pub struct Decision {
    pub app: String,
    /// The release the hooks, the settings check and the import test run in.
    pub target: Option<String>,
    /// `+ release:…` (new) or nothing.
    pub create: Option<Change>,
    /// `~ switch:…`.
    pub switch: Option<Change>,
    /// `- release:…` of releases no longer kept, and their removal after the switch.
    pub removals: Vec<Change>,
    pub handler: Option<Handler>,
}

/// The tree the local source is compared with: the running release's, else the `{root}/src`
/// of a host deployed before releases, else (a first deploy) the missing `current/src`.
pub fn base_tree(i: &Inputs<'_>, app: &str) -> anyhow::Result<String> {
    let Some(d) = i.desired.releases.iter().find(|r| r.app == app) else {
        anyhow::bail!("app `{app}` has no release settings");
    };
    let rf = facts(i, d)?;
    Ok(if rf.current_id().is_none() && rf.legacy_src {
        d.legacy_src()
    } else {
        format!("{}/src", d.current)
    })
}

fn facts<'a>(i: &'a Inputs<'_>, d: &DesiredRelease) -> anyhow::Result<&'a Releases> {
    known(
        i.facts.releases.get(&d.root),
        &format!("the releases of app `{}` ({}/releases)", d.app, d.root),
    )
}

/// sha256 over every local file's hash, mode and path: the release's `source`.
pub fn source_sha256(files: &[crate::source::SourceFile]) -> String {
    crate::source::sha256_hex(
        files
            .iter()
            .map(|f| format!("{} {:o} {}\n", f.sha256, f.mode, f.path))
            .collect::<String>()
            .as_bytes(),
    )
}

/// `20261201T090102` for seconds since the epoch (UTC).
pub fn timestamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn changed(c: &Change) -> bool {
    c.action != Action::NoOp
}

/// Decide every app's release. `source`, `venv` and `files` are the changes planned so far;
/// the source sync and the app's own files are redirected into the new release here.
pub fn plan(
    i: &Inputs<'_>,
    source: &mut [Change],
    venv: &[Change],
    files: &mut [Change],
) -> anyhow::Result<Vec<Decision>> {
    let mut out = Vec::new();
    for d in &i.desired.releases {
        out.push(decide(i, d, source, venv, files)?);
    }
    Ok(out)
}

/// What the plan changes for one app, and the hashes its release records.
struct Wanted {
    source_sha: String,
    env_sha: String,
    wsgi_sha: String,
    /// Files the source sync uploads or deletes, when it changes anything.
    files_changed: Option<usize>,
    env: bool,
    wsgi: bool,
    packages: bool,
}

impl Wanted {
    fn of(
        i: &Inputs<'_>,
        d: &DesiredRelease,
        source: &[Change],
        venv: &[Change],
        files: &[Change],
    ) -> Wanted {
        let app = d.app.as_str();
        let file_sha = |role| {
            i.desired
                .file(role, app)
                .map(|f| crate::source::sha256_hex(f.content.secret_text().as_bytes()))
                .unwrap_or_default()
        };
        let is = |c: &Change, id: ResourceId| c.id == id && changed(c);
        // New content makes a release; a mode or owner put right is fixed in place.
        let written = |id: fn(String) -> ResourceId| {
            files.iter().any(|c| {
                is(c, id(d.app.clone())) && c.ops.iter().any(|o| matches!(o, Op::WriteFile { .. }))
            })
        };
        let files_changed = source
            .iter()
            .find(|c| is(c, ResourceId::Source(d.app.clone())))
            .map(|c| {
                c.ops
                    .iter()
                    .map(|op| match op {
                        Op::SyncSource { upload, delete, .. } => upload.len() + delete.len(),
                        _ => 0,
                    })
                    .sum()
            });
        Wanted {
            source_sha: source_sha256(i.sources.get(app).map(Vec::as_slice).unwrap_or(&[])),
            env_sha: file_sha(FileRole::EnvFile),
            wsgi_sha: file_sha(FileRole::WsgiScript),
            files_changed,
            env: written(ResourceId::EnvFile),
            wsgi: written(ResourceId::WsgiScript),
            packages: venv.iter().any(|c| {
                is(c, ResourceId::Venv(d.app.clone()))
                    || is(c, ResourceId::PipPackages(d.app.clone()))
            }),
        }
    }

    fn any(&self) -> bool {
        self.files_changed.is_some() || self.env || self.wsgi || self.packages
    }

    /// `12 files changed, env changed, venv shared`.
    fn summary(&self) -> String {
        let mut what = Vec::new();
        if let Some(n) = self.files_changed {
            what.push(format!("{n} file{} changed", if n == 1 { "" } else { "s" }));
        }
        if self.wsgi {
            what.push(".wsgi changed".into());
        }
        if self.env {
            what.push("env changed".into());
        }
        what.push(self.venv().into());
        what.join(", ")
    }

    fn venv(&self) -> &'static str {
        if self.packages {
            "venv shared, packages changed"
        } else {
            "venv shared"
        }
    }

    /// An earlier release on the host holds exactly this (and nobody edited it since).
    fn held_by<'a>(
        &self,
        d: &DesiredRelease,
        rf: &'a Releases,
    ) -> Option<&'a crate::facts::releases::Release> {
        let cur = rf.current_id();
        rf.releases.iter().rev().find(|r| {
            r.prepared
                && r.intact()
                && Some(r.id.as_str()) != cur
                && !self.packages
                && r.source == self.source_sha
                && r.env == self.env_sha
                && r.requirements == d.requirements_sha256
                && record_wsgi(r) == Some(self.wsgi_sha.as_str())
        })
    }
}

fn decide(
    i: &Inputs<'_>,
    d: &DesiredRelease,
    source: &mut [Change],
    venv: &[Change],
    files: &mut [Change],
) -> anyhow::Result<Decision> {
    let rf = facts(i, d)?;
    let cur = rf.current_id();
    let w = Wanted::of(i, d, source, venv, files);
    let current_fp = match &rf.current {
        Some(t) => format!("symlink to {t}"),
        None if rf.current_not_link => "not a link".to_string(),
        None => "missing".to_string(),
    };
    let before = Some(Fingerprint::seen(SeenKind::Link, &d.current, &current_fp));
    let mut decision = Decision {
        app: d.app.clone(),
        target: None,
        create: None,
        switch: None,
        removals: Vec::new(),
        handler: None,
    };
    let switch_to = match cur {
        Some(cur) if !w.any() => {
            if rf.static_link == StaticLink::Link(format!("{}/static", d.current)) {
                decision.create = Some(super::noop(
                    ResourceId::Release(d.app.clone()),
                    format!(
                        "{cur} is current ({} kept of {})",
                        rf.releases.iter().filter(|r| r.prepared).count(),
                        d.keep
                    ),
                ));
            } else {
                let reason = format!(
                    "{cur} → {cur}: {} is not the link to {}/static",
                    d.static_link, d.current
                );
                decision.switch = Some(switch(
                    d,
                    rf.current.clone(),
                    cur,
                    Action::Update,
                    reason,
                    before,
                ));
            }
            cur.to_string()
        }
        _ => match w.held_by(d, rf) {
            Some(r) => {
                // Switch back to it and write nothing.
                let held = format!("held by release {}", r.id);
                for c in source.iter_mut().chain(files.iter_mut()).filter(|c| {
                    c.id == ResourceId::Source(d.app.clone())
                        || c.id == ResourceId::EnvFile(d.app.clone())
                        || c.id == ResourceId::WsgiScript(d.app.clone())
                }) {
                    *c = super::noop(c.id.clone(), held.clone());
                }
                let reason = format!(
                    "{} → {} (already on the host: the same source, .wsgi, env and packages)",
                    cur.unwrap_or("none"),
                    r.id
                );
                decision.switch = Some(switch(
                    d,
                    rf.current.clone(),
                    &r.id,
                    Action::Update,
                    reason,
                    before,
                ));
                decision.target = Some(d.path(&r.id));
                r.id.clone()
            }
            None => new_release(i.now, d, rf, &w, source, files, before, &mut decision),
        },
    };
    prune(d, rf, cur, &switch_to, &mut decision);
    Ok(decision)
}

/// `~ switch:APP …` to release `to`; `current` pointed at `from`.
fn switch(
    d: &DesiredRelease,
    from: Option<String>,
    to: &str,
    action: Action,
    reason: String,
    before: Option<Fingerprint>,
) -> Change {
    Change {
        id: ResourceId::Switch(d.app.clone()),
        action,
        reason,
        before,
        details: Vec::new(),
        diff: None,
        ops: vec![Op::Switch {
            app: d.app.clone(),
            current: d.current.clone(),
            to: format!("releases/{to}"),
            from,
            static_link: d.static_link.clone(),
        }],
    }
}

/// A new release, hard-linked from the running one (or a pre-release `{root}/src`), with the
/// sync and the app's own files redirected into it; its id.
#[allow(clippy::too_many_arguments)]
fn new_release(
    now: u64,
    d: &DesiredRelease,
    rf: &Releases,
    w: &Wanted,
    source: &mut [Change],
    files: &mut [Change],
    before: Option<Fingerprint>,
    decision: &mut Decision,
) -> String {
    let app = d.app.as_str();
    let cur = rf.current_id();
    let mut now = now;
    let mut id = format!("{}-{}", timestamp(now), &w.source_sha[..6]);
    while rf.get(&id).is_some() {
        now += 1;
        id = format!("{}-{}", timestamp(now), &w.source_sha[..6]);
    }
    let dir = d.path(&id);
    let from = match cur {
        Some(c) => Some(ReleaseBase::Release { dir: d.path(c) }),
        None if rf.legacy_src => Some(ReleaseBase::Legacy {
            src: d.legacy_src(),
            static_dir: d.static_link.clone(),
        }),
        None => Some(ReleaseBase::Adopted {
            static_dir: d.static_link.clone(),
        }),
    };
    let reason = match (&from, cur) {
        (Some(ReleaseBase::Release { .. }), Some(c)) => format!("{id} ({}; from {c})", w.summary()),
        (Some(ReleaseBase::Legacy { src, .. }), _) => format!(
            "{id} (the first release: {src}, deployed before releases, hard-linked; {})",
            w.summary()
        ),
        _ => format!("{id} (the first release; {})", w.venv()),
    };
    let record = format!(
        "id={id}\nsource={}\nenv={}\nrequirements={}\nwsgi={}\ncreated={now}\nfrom={}\n",
        w.source_sha,
        w.env_sha,
        d.requirements_sha256,
        w.wsgi_sha,
        cur.unwrap_or("")
    );
    for c in source.iter_mut() {
        for op in &mut c.ops {
            if let Op::SyncSource { app: a, dest, .. } = op
                && a == app
            {
                *dest = format!("{dir}/src");
            }
        }
    }
    for c in files.iter_mut() {
        let name = match &c.id {
            ResourceId::EnvFile(a) if a == app => "app.env",
            ResourceId::WsgiScript(a) if a == app => "app.wsgi",
            _ => continue,
        };
        // Still checked where the plan saw it (`current/…`), though written elsewhere.
        let seen = match (&c.before, c.ops.first()) {
            (Some(b), Some(Op::WriteFile { path, .. })) if b.seen.is_none() => {
                Some(Fingerprint::seen(SeenKind::Link, path, &b.printed()))
            }
            _ => None,
        };
        c.before = seen;
        for op in &mut c.ops {
            if let Op::WriteFile { path, .. } = op {
                *path = format!("{dir}/{name}");
            }
        }
    }
    decision.create = Some(Change {
        id: ResourceId::Release(d.app.clone()),
        action: Action::Create,
        reason,
        before,
        details: Vec::new(),
        diff: None,
        ops: vec![Op::CreateRelease {
            app: d.app.clone(),
            dir: dir.clone(),
            from,
            user: d.user.clone(),
            group: d.group.clone(),
            record,
        }],
    });
    let (action, reason) = match cur {
        Some(c) => (Action::Update, format!("{c} → {id}")),
        None => (Action::Create, format!("→ {id}")),
    };
    decision.switch = Some(switch(d, rf.current.clone(), &id, action, reason, None));
    decision.target = Some(dir);
    id
}

/// The `.wsgi` a release record says it holds.
fn record_wsgi(r: &crate::facts::releases::Release) -> Option<&str> {
    (!r.wsgi.is_empty()).then_some(r.wsgi.as_str())
}

/// Which releases go once `current` is `to` (it was `cur`): beyond the newest `keep`, but
/// never the current or the previous one; unfinished ones; a pre-release `{root}/src`.
fn prune(d: &DesiredRelease, rf: &Releases, cur: Option<&str>, to: &str, out: &mut Decision) {
    let mut ids: Vec<&str> = rf
        .releases
        .iter()
        .filter(|r| r.prepared || r.id == to || Some(r.id.as_str()) == cur)
        .map(|r| r.id.as_str())
        .collect();
    if !ids.contains(&to) {
        ids.push(to);
    }
    ids.sort_unstable();
    ids.reverse();
    let mut kept: Vec<&str> = vec![to];
    kept.extend(cur.filter(|c| *c != to));
    for id in &ids {
        if kept.len() >= d.keep as usize {
            break;
        }
        if !kept.contains(id) {
            kept.push(id);
        }
    }
    let mut paths = Vec::new();
    for id in ids.iter().filter(|id| !kept.contains(id)) {
        out.removals
            .push(removal(d, format!("{id} (beyond `releases {}`)", d.keep)));
        paths.push(d.path(id));
    }
    let unfinished = rf
        .partial
        .iter()
        .chain(rf.releases.iter().filter(|r| !r.prepared).map(|r| &r.id))
        .filter(|id| id.as_str() != to && Some(id.as_str()) != cur);
    for id in unfinished {
        out.removals.push(removal(
            d,
            format!("{id} (left unfinished by an apply that stopped)"),
        ));
        paths.push(d.path(id));
    }
    // Also when a run that switched was stopped before removing it: the removal comes after
    // that run's reload, which the next run owes (its marker).
    if rf.legacy_src {
        out.removals.push(removal(
            d,
            format!(
                "{}/src, {}/app.env and {}/app.wsgi (deployed before releases; now in the first release)",
                d.root, d.root, d.root
            ),
        ));
        paths.push(d.legacy_src());
        paths.push(format!("{}/app.env", d.root));
        paths.push(format!("{}/app.wsgi", d.root));
        paths.push(format!("{}.wsgictl-old", d.static_link));
    }
    if !paths.is_empty() {
        out.handler = Some(Handler::RemoveReleases {
            app: d.app.clone(),
            paths,
        });
    }
}

/// `- release:APP …`: removed by the handler after the switch, so it has no ops of its own.
fn removal(d: &DesiredRelease, reason: String) -> Change {
    Change {
        id: ResourceId::Release(d.app.clone()),
        action: Action::Delete,
        reason,
        before: None,
        details: Vec::new(),
        diff: None,
        ops: Vec::new(),
    }
}

/// The app file a path inside a release stands for: `{root}/releases/<id>/app.env` →
/// `{root}/current/app.env`.
pub fn desired_path(desired: &crate::desired::DesiredState, path: &str) -> Option<String> {
    desired.releases.iter().find_map(|d| {
        let rest = path.strip_prefix(&format!("{}/", d.dir))?;
        let (id, name) = rest.split_once('/')?;
        (crate::facts::releases::valid_id(id) && !name.contains('/'))
            .then(|| format!("{}/{name}", d.current))
    })
}

/// Point the hooks and the settings check of each app with a release target at it.
pub fn redirect(i: &Inputs<'_>, decisions: &[Decision], changes: &mut [Change]) {
    for dec in decisions {
        let Some(t) = &dec.target else { continue };
        let Some(d) = i.desired.releases.iter().find(|r| r.app == dec.app) else {
            continue;
        };
        let pp = crate::render::release_python_path(t, &d.root, d.overlay);
        let fresh = dec.create.as_ref().is_some_and(changed);
        for c in changes.iter_mut() {
            for op in &mut c.ops {
                match op {
                    Op::Manage {
                        app,
                        name,
                        src,
                        env_file,
                        python_path,
                        static_root,
                        record,
                        ..
                    } if *app == dec.app => {
                        *src = format!("{t}/src");
                        *env_file = format!("{t}/app.env");
                        *python_path = Some(pp.clone());
                        if name == Hook::Collectstatic.name() {
                            *static_root = Some(format!("{t}/static"));
                        }
                        if name == Hook::Migrate.name() && fresh {
                            *record = Some(format!("{t}/.wsgictl-release"));
                        }
                    }
                    Op::CheckSettings {
                        python_path,
                        expect,
                        ..
                    } if expect.app == dec.app => {
                        *python_path = pp.clone();
                        expect.src = format!("{t}/src");
                        expect.env_file = format!("{t}/app.env");
                    }
                    _ => {}
                }
            }
        }
    }
}

/// One app to point back at an earlier release: `wsgictl rollback`, or apply's own when the
/// switched-to release fails its health check.
pub struct Back<'a> {
    pub release: &'a DesiredRelease,
    /// What `current` points at now (`releases/<id>`).
    pub now: String,
    pub to: String,
    /// The `.wsgi` to touch (`{root}/current/app.wsgi`).
    pub wsgi: String,
}

/// The plan that switches each app back and restarts its daemon: no file written, Apache not
/// reloaded.
pub fn back_plan(host: &str, backs: &[Back<'_>], why: &str) -> crate::plan::Plan {
    let mut changes = Vec::new();
    let mut handlers = Vec::new();
    for b in backs {
        let d = b.release;
        let now_id = crate::facts::releases::id_of(&b.now);
        changes.push(switch(
            d,
            Some(b.now.clone()),
            &b.to,
            Action::Update,
            format!("{now_id} → {} ({why})", b.to),
            Some(Fingerprint::seen(
                SeenKind::Link,
                &d.current,
                &format!("symlink to {}", b.now),
            )),
        ));
        handlers.push(Handler::TouchWsgi {
            app: d.app.clone(),
            path: b.wsgi.clone(),
        });
    }
    crate::plan::Plan {
        host: host.to_string(),
        findings: Vec::new(),
        changes,
        handlers,
        planned_at: 0,
        rootless: None,
    }
}

/// The release `wsgictl rollback` goes back to: `to`, else the one before the current; refused
/// when it is not a finished release on the host, or when a release after it applied a
/// migration (the schema would not match the code).
pub fn rollback_target<'a>(
    app: &str,
    rf: &'a Releases,
    to: Option<&str>,
) -> Result<&'a crate::facts::releases::Release, String> {
    let cur = rf.current_id().ok_or_else(|| {
        format!(
            "app `{app}` has no current release on the host (deploy it with `wsgictl apply` first)"
        )
    })?;
    let ids = || {
        rf.releases
            .iter()
            .filter(|r| r.prepared)
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let target = match to {
        Some(id) => rf.get(id).filter(|r| r.prepared).ok_or_else(|| {
            format!(
                "app `{app}` has no finished release {id} on the host (releases: {})",
                ids()
            )
        })?,
        None => rf.before(cur).ok_or_else(|| {
            format!("app `{app}` has no release before the current one ({cur}) to go back to")
        })?,
    };
    if target.id == cur {
        return Err(format!("release {cur} of app `{app}` is already current"));
    }
    let ran: Vec<String> = rf
        .releases
        .iter()
        .filter(|r| r.id.as_str() > target.id.as_str() && r.id.as_str() <= cur)
        .flat_map(|r| {
            r.migrations
                .iter()
                .map(move |m| format!("{m} (release {})", r.id))
        })
        .collect();
    if !ran.is_empty() {
        return Err(format!(
            "app `{app}`: not rolling back to {}: migrations ran since it, and its code may not work with the schema they made: {}. Rolling back a schema is your call: reverse them first (`manage.py migrate APP PREVIOUS_MIGRATION`, as the app's user, in the current release), then roll back with --to {}; or deploy a fix instead",
            target.id,
            ran.join(", "),
            target.id
        ));
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_and_sort_as_text() {
        assert_eq!(timestamp(0), "19700101T000000");
        // 2026-12-01 09:01:02 UTC.
        assert_eq!(timestamp(1_796_115_662), "20261201T090102");
        // A leap day.
        assert_eq!(timestamp(951_782_400), "20000229T000000");
        assert!(timestamp(1_796_115_662) < timestamp(1_796_115_663));
    }

    fn releases(spec: &[(&str, &[&str])], current: &str) -> Releases {
        Releases {
            current: Some(format!("releases/{current}")),
            releases: spec
                .iter()
                .map(|(id, migrations)| crate::facts::releases::Release {
                    id: id.to_string(),
                    prepared: true,
                    migrations: migrations.iter().map(|m| m.to_string()).collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    const A: &str = "20261130T165000-aa0100";
    const B: &str = "20261201T090102-3f2a9c";
    const C: &str = "20261201T100000-bbbbbb";

    #[test]
    fn rollback_goes_to_the_release_before_the_current_one() {
        let rf = releases(&[(A, &[]), (B, &[]), (C, &[])], B);
        assert_eq!(rollback_target("blog", &rf, None).unwrap().id, A);
        assert_eq!(rollback_target("blog", &rf, Some(C)).unwrap().id, C);
        let e = rollback_target("blog", &rf, Some("20200101T000000-000000")).unwrap_err();
        assert!(
            e.contains("releases: 20261130T165000-aa0100, 20261201T090102-3f2a9c"),
            "{e}"
        );
        let e = rollback_target("blog", &releases(&[(A, &[])], A), None).unwrap_err();
        assert!(e.contains("no release before the current one"), "{e}");
    }

    #[test]
    fn rollback_past_a_migration_is_refused_and_names_it() {
        let rf = releases(&[(A, &[]), (B, &["blog.0002_post_subtitle"]), (C, &[])], C);
        let e = rollback_target("blog", &rf, Some(A)).unwrap_err();
        assert!(
            e.contains("blog.0002_post_subtitle (release 20261201T090102-3f2a9c)"),
            "{e}"
        );
        assert!(e.contains("your call"), "{e}");
        // Back to the release that made the schema is fine.
        assert_eq!(rollback_target("blog", &rf, None).unwrap().id, B);
    }
}
