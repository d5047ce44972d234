//! The apply script: a plan → one POSIX `sh` script for one exec (pure; snapshot-tested).
//!
//! Stage: apply. In order: take the host lock (`flock`, holder written inside), re-check every
//! `before` fingerprint under it, write the pending-reload marker, run the ops in plan order,
//! then the handlers. Data (file contents, the source tar, requirements) travels inside the
//! script as base64 heredocs on stdin, so nothing secret is ever in a command line. Files are
//! written atomically (temp file in the same directory, owner and mode set, fsync, `mv -f`);
//! Apache files are backed up first, so a failed configtest can put every one back before
//! anything is reloaded. The script reports through `WSGICTL <nonce> <WORD> …` lines that
//! [`super::outcome`] reads. Its fixed parts are real files: `prelude.sh` (helpers and the
//! lock, its values a here-document), `ops.sh` (the larger ops, as functions of their
//! arguments) and `parallel.sh` (the venvs' jobs, [`super::parallel`]); the rest is built
//! here, every value through `crate::shell`.

use crate::desired::EnableTool;
use crate::plan::{Handler, Op, Plan, ReleaseBase};
use crate::resource_id::{Hook, ResourceId};
use crate::shell::quote;
use base64::Engine as _;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What the script needs besides the plan.
pub struct Inputs<'a> {
    pub plan: &'a Plan,
    pub nonce: &'a str,
    /// `user=… host=… pid=… started=…`, written into the lock file.
    pub holder: &'a str,
    pub lock_timeout_secs: u64,
    /// Real file contents by path (secrets included; they travel on stdin only).
    pub contents: &'a BTreeMap<String, String>,
    /// A tar of the files to upload, per app.
    pub tars: &'a BTreeMap<String, Vec<u8>>,
    /// Requirements text per venv path (the requirements file, then the packages).
    pub requirements: &'a BTreeMap<String, String>,
    pub apache: &'a ApacheControl,
    pub reload_marker: &'a str,
    /// wsgictl's state directory and the lock's (`HostEnv::state_dir`, `HostEnv::run_dir`).
    pub state_dir: &'a str,
    pub run_dir: &'a str,
    /// The lock file: one apply at a time per Apache instance.
    pub lock: &'a str,
    /// Where this instance's owed-step markers live ([`HostEnv::owed_dir`]).
    pub owed_dir: &'a str,
    /// This instance's backup directories are `<prefix>XXXXXX` ([`HostEnv::backup_prefix`]).
    pub backup_prefix: &'a str,
    /// Test facility (`WSGICTL_TEST_ABORT_AFTER`): stop at the boundary after step N (a
    /// number: the Nth step the script announces) or after the step with this id, as if
    /// killed with SIGKILL.
    pub abort_after: Option<&'a str>,
    /// Shell run last: records the error logs' sizes for `doctor` (`doctor::live::record_offsets`).
    pub record_offsets: &'a str,
    /// Per app to switch: the import test run as its daemon user before Apache is reloaded
    /// or the `.wsgi` touched (`doctor::live::import_command`).
    pub import_tests: &'a [(String, String)],
}

/// How to test and reload this host's Apache. The reload runs with the lock's descriptor
/// closed: `graceful` starts Apache when it is not running, and a daemon that inherited the
/// descriptor would hold the host lock for as long as it runs.
#[derive(Debug, Clone)]
pub struct ApacheControl {
    /// `APACHE_CONFDIR=… apache2ctl` or `httpd`.
    pub ctl: String,
    /// `systemctl reload apache2` when systemd runs this instance, else `<ctl> graceful`.
    pub reload: String,
}

fn q(s: &str) -> String {
    quote(s).expect("plan values hold no NUL").into_owned()
}

/// pip's download cache, shared by every venv of the host, in wsgictl's state directory.
pub const PIP_CACHE: &str = "pip-cache";

/// A value for `apply_values`: one line. (Paths are manifest values, refused with a newline;
/// the holder line is built here.)
fn one_line(v: &str) -> String {
    v.replace(['\n', '\r'], " ")
}

/// A heredoc that feeds `data` (base64-encoded) to `command`'s stdin.
fn heredoc(command: &str, data: &[u8], nonce: &str) -> String {
    format!(
        "base64 -d <<'WSGICTL_{nonce}_DATA' | {command}\n{}WSGICTL_{nonce}_DATA\n",
        base64_lines(data)
    )
}

/// `call` (an `ops.sh` function and its arguments) with `data`, base64-encoded, on its stdin:
/// a here-document, so the function runs in the script's own shell (its `fail` stops the run).
fn with_data(call: &str, data: &[u8], nonce: &str) -> String {
    format!(
        "{call} <<'WSGICTL_{nonce}_DATA'\n{}WSGICTL_{nonce}_DATA\n",
        base64_lines(data)
    )
}

/// `data` in base64, 76 characters a line.
fn base64_lines(data: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    let mut body = String::new();
    for chunk in b64.as_bytes().chunks(76) {
        body.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        body.push('\n');
    }
    body
}

/// Shell run first: helpers, the private state directories, the lock, leftovers of killed
/// runs, this run's backup directory; its values come as data ([`build`]).
const PRELUDE: &str = include_str!("prelude.sh");

/// The ops that are more than a line or two, as functions (`op_venv`, `op_pip`, `op_release`).
const OPS: &str = include_str!("ops.sh");

pub fn build(i: &Inputs<'_>) -> String {
    let (abort_n, abort_id) = match i.abort_after {
        Some(a) if a.parse::<u32>().is_ok() => (a.to_string(), "#none".to_string()),
        Some(a) => ("-1".to_string(), a.to_string()),
        None => ("-1".to_string(), "#none".to_string()),
    };
    // The transport sends it as one `{ … } </dev/null` group (`transport::framed`): sh
    // reads all of it before it runs any, and no command can read the rest of it.
    let mut s = String::from(crate::facts::script::UNTRUSTED);
    s.push_str(crate::facts::script::AS_USER);
    s.push_str(crate::facts::script::SITE_DIGEST);
    s.push_str(crate::facts::script::FINGERPRINTS);
    s.push_str(PRELUDE);
    s.push_str(OPS);
    // The values as data (`prelude.sh`'s `apply_values`): one per line, nothing quoted.
    let values = [
        i.nonce,
        i.state_dir,
        i.run_dir,
        i.owed_dir,
        i.lock,
        &i.lock_timeout_secs.to_string(),
        i.holder,
        i.backup_prefix,
        i.reload_marker,
        &abort_n,
        &abort_id,
    ]
    .map(one_line)
    .join("\n");
    let _ = writeln!(
        s,
        "apply_values <<'WSGICTL_{n}_VALUES'\n{values}\nWSGICTL_{n}_VALUES\napply_start",
        n = i.nonce
    );

    // Staleness, under the lock.
    for c in &i.plan.changes {
        if let Some(crate::plan::Fingerprint {
            seen: Some(seen), ..
        }) = &c.before
        {
            use crate::plan::SeenKind;
            let check = match seen.kind {
                SeenKind::Tree => "tree_fp",
                SeenKind::Venv => "venv_fp",
                SeenKind::Account => "account_fp",
                SeenKind::Group => "group_fp",
                SeenKind::Link => "fingerprint",
            };
            let _ = writeln!(s, "stale_by {check} {} {}", q(&seen.of), q(&seen.value));
        } else if let Some(b) = &c.before {
            let path = match c.ops.first() {
                Some(
                    Op::WriteFile { path, .. }
                    | Op::Chmod { path, .. }
                    | Op::Chown { path, .. }
                    | Op::MkDir { path, .. },
                ) => path.as_str(),
                _ => c.id.path().unwrap_or(""),
            };
            let _ = writeln!(s, "stale {} {}", q(path), q(&expected(b)));
        }
    }

    // What this run will owe once it starts changing things: recorded before the first
    // change, cleared only after the step that pays it. A marker an earlier run left stays
    // until a run pays it.
    for c in &i.plan.changes {
        for op in &c.ops {
            if let Op::Manage { app, name, .. } = op {
                let _ = writeln!(s, "owe {}", q(&format!("{app}.{name}")));
            }
        }
    }
    for h in &i.plan.handlers {
        if let Handler::TouchWsgi { app, .. } = h {
            let _ = writeln!(s, "owe {}", q(&format!("{app}.touch")));
        }
    }
    let reloads = i.plan.handlers.contains(&Handler::ConfigtestAndReload);
    let marker = q(i.reload_marker);
    // Only a marker this run wrote is removed when this run puts everything back.
    let _ = writeln!(s, "own_reload=");
    if reloads {
        let _ = writeln!(
            s,
            "if [ ! -e {marker} ]; then : > {marker} || fail marker; own_reload=1; fi"
        );
    }
    let mut restore: Vec<String> = Vec::new();
    let mut ops = String::new();
    let unmark = format!("[ -z \"$own_reload\" ] || rm -f {marker}");
    let mut untested: Vec<&(String, String)> = i.import_tests.iter().collect();
    let mut ran_with: Option<usize> = None;
    for (ci, c) in i.plan.changes.iter().enumerate() {
        if c.ops.is_empty() || ran_with.is_some_and(|end| ci < end) {
            continue;
        }
        // The venvs of different apps build side by side (they come together in the plan).
        if super::parallel::venv_of(c).is_some() {
            let end = i.plan.changes[ci..]
                .iter()
                .position(|d| !d.ops.is_empty() && super::parallel::venv_of(d).is_none())
                .map_or(i.plan.changes.len(), |k| ci + k);
            let block: Vec<&crate::plan::Change> = i.plan.changes[ci..end]
                .iter()
                .filter(|d| !d.ops.is_empty())
                .collect();
            let jobs = super::parallel::jobs(&block);
            if !jobs.is_empty() {
                ops.push_str(&super::parallel::script(&jobs, &block, |op, d| {
                    let at = i.plan.changes.iter().position(|e| std::ptr::eq(e, d));
                    op_script(op, d, at.unwrap_or(ci), i, &mut restore)
                }));
                ran_with = Some(end);
                continue;
            }
        }
        // A release is imported before its migrations run and before it is switched to.
        if let ResourceId::Hook {
            hook: Hook::Migrate,
            app,
        }
        | ResourceId::Switch(app) = &c.id
            && let Some(k) = untested.iter().position(|(a, _)| a == app)
        {
            let (app, command) = untested.remove(k);
            ops.push_str(&import_test(app, command, &unmark));
        }
        let _ = writeln!(ops, "step {}", q(&c.id.to_string()));
        for op in &c.ops {
            ops.push_str(&op_script(op, c, ci, i, &mut restore));
        }
    }
    // Put back what the site reads, newest first, each only if its op ran; every step is
    // checked and a failed one named (UNRESTORED). Defined before the ops, so that a failing
    // op can call it.
    let _ = writeln!(
        s,
        "restore() {{\n  :\n{}  if [ -n \"${{mid_reload:-}}\" ]; then mid_reload=; reload_now || say UNRESTORED apache-reload; fi\n  say RESTORED\n}}\n\
         reload_now() {{ {ctl} -t >/dev/null 2>&1 </dev/null && {{ {reload}; }} >/dev/null 2>&1 9>&- </dev/null; }}\n\
         mid_reload=\nundo_on_fail=1",
        restore
            .iter()
            .rev()
            .map(|r| format!("  {r}\n"))
            .collect::<String>(),
        ctl = i.apache.ctl,
        reload = i.apache.reload,
    );
    s.push_str(&ops);
    // The code, venv and env of every app about to be switched must import as its daemon
    // user, and Django must allow its server names; else nothing is switched.
    for (app, command) in untested {
        s.push_str(&import_test(app, command, &unmark));
    }
    for h in &i.plan.handlers {
        match h {
            Handler::ConfigtestAndReload => {
                let _ = write!(
                    s,
                    "step configtest\n{test}undo_on_fail=\nstep reload\n{reload}rm -f {marker}\nrm -f \"$owed\"/*.touch\n",
                    test = configtest(i),
                    reload = graceful(i),
                );
            }
            Handler::TouchWsgi { app, path } => {
                let _ = writeln!(
                    s,
                    "step {}\nnolink {p}\ntouch {p} || fail touch\npaid {}",
                    q(&format!("touch:{app}")),
                    q(&format!("{app}.touch")),
                    p = q(path),
                );
            }
            // What cannot be removed now is left for the next apply (it plans it again).
            Handler::RemoveReleases { app, paths } => {
                let _ = writeln!(s, "step {}", q(&format!("prune:{app}")));
                for p in paths {
                    let _ = writeln!(
                        s,
                        "nolink {p}\nrm -rf -- {p} || say UNREMOVED {p}",
                        p = q(p)
                    );
                }
            }
        }
    }
    let _ = writeln!(
        s,
        "step log-offsets\n{{ {}}} </dev/null || true",
        i.record_offsets
    );
    let _ = writeln!(s, "boundary\nsay DONE");
    s
}

/// How many steps [`build`]'s script announces (`STEP` lines) when it runs to its end: one
/// per change with ops, per import test, per handler (a reload is two: its configtest and
/// itself), and the log offsets. The apply's progress shows `step k/n`.
pub fn step_count(plan: &Plan, import_tests: &[(String, String)]) -> usize {
    let handlers: usize = plan
        .handlers
        .iter()
        .map(|h| match h {
            Handler::ConfigtestAndReload => 2,
            Handler::TouchWsgi { .. } | Handler::RemoveReleases { .. } => 1,
        })
        .sum();
    plan.changes.iter().filter(|c| !c.ops.is_empty()).count() + import_tests.len() + handlers + 1
}

/// The import test of `app` (`doctor::live::import_command`): when it fails, or Django
/// refuses a server name, everything is put back and the script stops (exit 78).
fn import_test(app: &str, command: &str, unmark: &str) -> String {
    format!(
        "step {step}\n\
         out=$({{\n{command}}} 2>&1 </dev/null)\n\
         if ! printf '%s\\n' \"$out\" | grep -q '^django='; then restore; {unmark}; say IMPORT {app}; printf '%s\\n' \"$out\"; exit 78; fi\n\
         say DJANGO {app} \"$(printf '%s\\n' \"$out\" | sed -n 's/^django=//p' | tail -n 1)\"\n\
         case \"$out\" in *'\"refused\": []'*) ;; *) restore; {unmark}; say HOSTS {app}; exit 78;; esac\n",
        step = q(&format!("import:{app}")),
        app = q(app),
    )
}

/// Apache's configuration test: when it fails, everything is put back, a reload marker this
/// run wrote goes, and the script stops with Apache's message (exit 77).
fn configtest(i: &Inputs<'_>) -> String {
    format!(
        "if ! out=$({ctl} -t 2>&1 </dev/null); then restore; say CONFIGTEST; printf '%s\\n' \"$out\"; [ -z \"$own_reload\" ] || rm -f {marker}; exit 77; fi\n",
        ctl = i.apache.ctl,
        marker = q(i.reload_marker),
    )
}

/// The graceful reload, with the lock's descriptor closed (see [`ApacheControl`]).
fn graceful(i: &Inputs<'_>) -> String {
    format!(
        "out=$({{ {}; }} 2>&1 9>&- </dev/null) || fail reload \"$out\"\n",
        i.apache.reload
    )
}

/// What [`PRELUDE`]'s `fingerprint` prints for what the plan saw.
fn expected(b: &crate::plan::Fingerprint) -> String {
    b.printed()
}

fn op_script(
    op: &Op,
    c: &crate::plan::Change,
    ci: usize,
    i: &Inputs<'_>,
    restore: &mut Vec<String>,
) -> String {
    let n = i.nonce;
    match op {
        Op::CreateGroup { name } => format!(
            "getent group {g} >/dev/null || groupadd --system {g} </dev/null || fail group\n",
            g = q(name)
        ),
        Op::CreateUser { name, group, home } => format!(
            "getent passwd {u} >/dev/null || useradd --system --gid {g} --home-dir {h} --no-create-home --shell /usr/sbin/nologin {u} </dev/null || fail user\n",
            u = q(name),
            g = q(group),
            h = q(home)
        ),
        Op::MkDir {
            path,
            owner,
            group,
            mode,
        } => format!(
            "nolink {p}\nmkdir -p {p} && nolink {p} && chown -h {o} {p} && chmod {m} {p} || fail mkdir\n",
            p = q(path),
            o = q(&format!("{owner}:{group}")),
            m = q(mode)
        ),
        // The old crontab goes to the backup directory first; restore() puts it back.
        Op::Crontab { block } => {
            restore.push(format!(
                "[ -z \"${{cr_{ci}:-}}\" ] || undo crontab quiet restore_crontab \"$bk/crontab.{ci}\""
            ));
            let mut s = format!(
                "crontab -l > \"$bk/crontab.{ci}\" 2>/dev/null || : > \"$bk/crontab.{ci}\"\ncr_{ci}=1\nblk=\"$bk/cron-block.{ci}\"\n"
            );
            s.push_str(&heredoc(
                "cat > \"$blk\" || fail crontab",
                block.as_bytes(),
                n,
            ));
            let _ = writeln!(
                s,
                "ct=\"$bk/crontab-new.{ci}\"\n\
                 {{ awk -v b={b} -v e={e} '$0 == b {{ skip = 1 }} !skip {{ print }} $0 == e {{ skip = 0 }}' \"$bk/crontab.{ci}\" && cat \"$blk\"; }} > \"$ct\" || fail crontab\n\
                 out=$(crontab \"$ct\" 2>&1 </dev/null) || fail crontab \"$out\"",
                b = q(crate::desired::CRON_BEGIN),
                e = q(crate::desired::CRON_END),
            );
            s
        }
        Op::EnableUserUnit { unit } => format!(
            "XDG_RUNTIME_DIR=/run/user/$(id -u); export XDG_RUNTIME_DIR\n\
             out=$({{ systemctl --user daemon-reload && systemctl --user enable {u}; }} 2>&1 </dev/null) || fail supervision \"$out\"\n",
            u = q(unit)
        ),
        Op::InstallPackages { manager, names } => {
            let names: Vec<String> = names.iter().map(|n| q(n)).collect();
            let install = match manager {
                crate::resources::packages::Manager::Apt => format!(
                    "DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold {} </dev/null",
                    names.join(" ")
                ),
                crate::resources::packages::Manager::Dnf => {
                    format!("dnf install -y -q {} </dev/null", names.join(" "))
                }
            };
            format!(
                "out=$({install} 2>&1) || fail packages \"$(printf '%s\\n' \"$out\" | tail -n 20)\"\n"
            )
        }
        Op::Chmod { path, mode } => {
            let p = q(path);
            restore.push(format!(
                "[ -z \"${{m_{ci}:-}}\" ] || undo {p} chmod \"$m_{ci}\" {p}"
            ));
            format!(
                "nolink {p}\nm_{ci}=$(stat -c %a {p}) && chmod {} {p} || fail chmod\n",
                q(mode)
            )
        }
        Op::Chown { path, owner, group } => {
            let p = q(path);
            restore.push(format!(
                "[ -z \"${{o_{ci}:-}}\" ] || undo {p} chown -h \"$o_{ci}\" {p}"
            ));
            format!(
                "nolink {p}\no_{ci}=$(stat -c %u:%g {p}) && chown -h {} {p} || fail chown\n",
                q(&format!("{owner}:{group}"))
            )
        }
        Op::SyncSource {
            app,
            dest,
            owner,
            group,
            upload,
            delete,
            ..
        } => {
            let mut s = format!("nolink {}\n", q(dest));
            if !upload.is_empty() {
                let tar = i.tars.get(app).map(Vec::as_slice).unwrap_or(&[]);
                s.push_str(&heredoc(
                    &format!("tar -x -f - -C {} --no-same-owner || fail sync", q(dest)),
                    tar,
                    n,
                ));
                let _ = writeln!(
                    s,
                    "chown -R -h {} {} || fail sync",
                    q(&format!("{owner}:{group}")),
                    q(dest)
                );
            }
            for d in delete {
                let _ = writeln!(s, "rm -f -- {} || fail sync", q(&format!("{dest}/{d}")));
            }
            s
        }
        Op::CreateVenv { path, python } => format!("op_venv {} {}\n", q(python), q(path)),
        Op::PipInstall {
            venv,
            requirements_sha256,
            force,
        } => {
            let req = i.requirements.get(venv).map(String::as_str).unwrap_or("");
            // Every venv of the host downloads through one cache in wsgictl's state directory
            // (the account's own on a rootless host), whoever's HOME sudo left.
            with_data(
                &format!(
                    "op_pip {} {} {} {}",
                    q(venv),
                    q(requirements_sha256),
                    q(&format!("{}/{PIP_CACHE}", i.state_dir)),
                    if *force { 1 } else { 0 }
                ),
                req.as_bytes(),
                n,
            )
        }
        Op::WriteFile {
            path,
            owner,
            group,
            mode,
            ..
        } => {
            let content = i.contents.get(path).map(String::as_str).unwrap_or("");
            let p = q(path);
            let mut s = String::new();
            // A file of the release this run makes stays with it: the old site does not read
            // it, and a release left finished must keep its `.wsgi` and env file (the next
            // apply may switch to it as it is).
            let in_new_release = i.plan.changes.iter().flat_map(|c| &c.ops).any(|o| {
                matches!(o, Op::CreateRelease { dir, .. } if path.starts_with(&format!("{dir}/")))
            });
            // The previous version is kept in this run's backups; restore() puts it back (a
            // failed configtest or import test puts every written file back; a new file is
            // removed instead), unless the file is the new release's.
            let _ = writeln!(
                s,
                "nolink {p}\nif [ -e {p} ]; then cp -p {p} \"$bk/{ci}\" || fail backup; fi"
            );
            if !in_new_release {
                let _ = writeln!(s, "w_{ci}=1");
                restore.push(format!(
                    "[ -z \"${{w_{ci}:-}}\" ] || undo {p} put_back \"$bk/{ci}\" {p}"
                ));
            }
            let _ = writeln!(
                s,
                "d=$(dirname {p}); mkdir -p \"$d\" && tmp=$(mktemp \"$d/.wsgictl.XXXXXX\") || fail write"
            );
            s.push_str(&heredoc(
                "cat > \"$tmp\" || fail write",
                content.as_bytes(),
                n,
            ));
            let _ = writeln!(
                s,
                "chown {o} \"$tmp\" && chmod {m} \"$tmp\" && sync \"$tmp\" && mv -f \"$tmp\" {p} || {{ rm -f \"$tmp\"; fail write; }}",
                o = q(&format!("{owner}:{group}")),
                m = q(mode)
            );
            s
        }
        Op::GrantTraverse { path, user, acl } => {
            let p = q(path);
            if *acl {
                format!(
                    "nolink {p}\nsetfacl -m {} {p} || fail access\n",
                    q(&format!("u:{user}:x"))
                )
            } else {
                format!("nolink {p}\nchmod o+x {p} || fail access\n")
            }
        }
        Op::Manage {
            app,
            name,
            user,
            venv,
            src,
            env_file,
            settings,
            python_path,
            static_root,
            record,
        } => {
            let mut call = format!("op_manage {} {} {}", q(user), q(name), q(app));
            for v in [
                record.as_deref().unwrap_or(""),
                src,
                env_file,
                settings,
                python_path.as_deref().unwrap_or(src),
                &format!("{venv}/bin/python"),
            ] {
                call.push(' ');
                call.push_str(&q(v));
            }
            // collectstatic into the release's own static directory.
            if let Some(root) = static_root {
                call.push(' ');
                call.push_str(&q(root));
            }
            call.push('\n');
            call
        }
        Op::CreateRelease {
            app: _,
            dir,
            from,
            user,
            group,
            record,
        } => {
            let current = format!(
                "{}/current",
                std::path::Path::new(dir)
                    .parent()
                    .and_then(|p| p.parent())
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            );
            let from: Vec<&str> = match from {
                Some(ReleaseBase::Release { dir: base }) => vec!["release", base],
                Some(ReleaseBase::Legacy { src, static_dir }) => vec!["legacy", src, static_dir],
                Some(ReleaseBase::Adopted { static_dir }) => vec!["adopted", static_dir],
                None => vec!["none"],
            };
            let mut call = format!(
                "op_release {} {} {} {}",
                q(dir),
                q(&current),
                q(group),
                q(&format!("{user}:{group}"))
            );
            for a in from {
                call.push(' ');
                call.push_str(&q(a));
            }
            with_data(&call, record.as_bytes(), n)
        }
        Op::Switch {
            app: _,
            current,
            to,
            from: _,
            static_link,
        } => {
            let cur = q(current);
            let root = std::path::Path::new(current)
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let rec = q(&format!("{root}/{to}/.wsgictl-release"));
            let src = q(&format!("{root}/{to}/src"));
            let st = q(static_link);
            restore.push(format!(
                "[ -z \"${{st_{ci}:-}}\" ] || undo {st} static_back {st}"
            ));
            restore.push(format!(
                "[ -z \"${{sw_{ci}:-}}\" ] || undo {cur} switch_link \"$old_{ci}\" {cur}"
            ));
            format!(
                "[ -f {rec} ] || fail switch \"{to} has no record: it is not a complete release\"\n\
                 grep -qx prepared {rec} || {{ printf 'tree=%s\\nprepared\\n' \"$(tree_fp {src})\" >> {rec} && sync {rec}; }} || fail switch\n\
                 if [ -e {cur} ] && [ ! -L {cur} ]; then fail switch \"{current} is not a symbolic link: move it away\"; fi\n\
                 old_{ci}=$(readlink {cur} 2>/dev/null || true); sw_{ci}=1\n\
                 switch_link {to_q} {cur} || fail switch\n\
                 want={want}\n\
                 if [ \"$(readlink {st} 2>/dev/null)\" != \"$want\" ]; then\n\
                 \x20 mkdir -p \"$(dirname {st})\" && ln -sfn \"$want\" {st_new} || fail switch\n\
                 \x20 if [ -d {st} ] && [ ! -L {st} ]; then\n\
                 \x20   rm -rf {st_old} || fail switch\n\
                 \x20   if exchange {st_new} {st}; then mv {st_new} {st_old} || fail switch; else mv {st} {st_old} && mv -T {st_new} {st} || fail switch; fi\n\
                 \x20   st_{ci}=1\n\
                 \x20 else mv -T {st_new} {st} || fail switch; fi\n\
                 fi\n",
                to_q = q(to),
                want = q(&format!("{current}/static")),
                st_new = q(&format!("{static_link}.wsgictl-new")),
                st_old = q(&format!("{static_link}.wsgictl-old")),
            )
        }
        // A failure after it reloads again once everything is put back (`restore`).
        Op::ReloadApache => format!("{}mid_reload=1\n{}", configtest(i), graceful(i)),
        Op::RequestCertificate {
            app: _,
            lineage,
            names,
            email,
            directory,
            trust,
            webroot,
            http_port,
            deploy_hook,
            renew,
        } => {
            let ready = format!(
                "http://127.0.0.1:{http_port}/.well-known/acme-challenge/wsgictl-ready-{n}"
            );
            let mut call = String::from("op_certificate");
            for v in [
                lineage.as_str(),
                email,
                directory,
                webroot,
                deploy_hook,
                if *renew { "1" } else { "0" },
                trust.as_deref().unwrap_or(""),
                &ready,
            ]
            .into_iter()
            .chain(names.iter().map(String::as_str))
            {
                call.push(' ');
                call.push_str(&q(v));
            }
            call.push('\n');
            call
        }
        Op::CheckSettings {
            user,
            venv,
            python_path,
            expect,
        } => {
            let app = q(&expect.app);
            // The gather's pass for this one app: the same key, so the report it keeps is
            // the one the next plan finds.
            format!(
                "out=$({{\n{cmd}}} 2>&1)\n\
                 say SETTINGS {app} \"$(printf '%s\\n' \"$out\" | sed -n 's/^S\t0\t//p' | tail -n 1)\"\n\
                 case \"$out\" in *'\"error\": '*|*'\"severity\": \"error\"'*) restore; [ -z \"$own_reload\" ] || rm -f {marker}; say SETTINGSFAIL {app}; exit 78;; esac\n",
                cmd = crate::facts::settings::script([crate::facts::settings::data(
                    expect,
                    user,
                    venv,
                    python_path
                )
                .as_str()]),
                marker = q(i.reload_marker),
            )
        }
        Op::Retire { path, link, backup } => {
            let mut s = String::new();
            let b = q(backup);
            let _ = writeln!(
                s,
                "r_{ci}={b}; [ ! -e \"$r_{ci}\" ] && [ ! -L \"$r_{ci}\" ] || r_{ci}=\"$r_{ci}.$(date +%Y%m%dT%H%M%S)\"\n\
                 mkdir -p -m 0700 {top} \"$(dirname \"$r_{ci}\")\" && chmod 0700 {top} || fail retire",
                top = q(crate::desired::REPLACED_DIR),
            );
            if let Some(l) = link {
                let l = q(l);
                let _ = writeln!(
                    s,
                    "t_{ci}=$(readlink {l}); rm -f {l} || fail retire; rl_{ci}=1"
                );
                restore.push(format!(
                    "[ -z \"${{rl_{ci}:-}}\" ] || undo {l} ln -sfn \"$t_{ci}\" {l}"
                ));
            }
            if let Some(p) = path {
                let p = q(p);
                let _ = writeln!(s, "mv {p} \"$r_{ci}\" || fail retire; rp_{ci}=1");
                restore.push(format!(
                    "[ -z \"${{rp_{ci}:-}}\" ] || undo {p} mv \"$r_{ci}\" {p}"
                ));
            }
            s
        }
        Op::Enable {
            tool,
            name,
            confdir,
        } => {
            let undo = match tool {
                EnableTool::A2enmod => "a2dismod",
                EnableTool::A2enconf => "a2disconf",
                EnableTool::A2ensite => "a2dissite",
            };
            let link = q(c.id.path().unwrap_or(""));
            // A link that was there (pointing elsewhere) is put back as it was; a new one is
            // disabled again.
            restore.push(format!(
                "if [ -z \"${{e_{ci}:-}}\" ]; then :; elif [ -n \"$l_{ci}\" ]; then undo {link} relink \"$l_{ci}\" {link}; else undo {link} quiet env APACHE_CONFDIR={} {undo} -q -f {}; fi",
                q(confdir),
                q(name)
            ));
            // a2en* refuse to replace a link that points elsewhere: it goes first. They keep
            // their bookkeeping in /var/lib/apache2 whatever the instance: two instances'
            // applies at once race on its marker files, so they take turns.
            format!(
                "l_{ci}=; e_{ci}=1; if [ -L {link} ]; then l_{ci}=$(readlink {link}); rm -f {link} || fail enable; fi\n\
                 out=$(APACHE_CONFDIR={} flock -w 60 /run/wsgictl/a2en.lock {} -q {} 2>&1 </dev/null) || fail enable \"$out\"\n",
                q(confdir),
                tool.command(),
                q(name)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The start of the script of an empty plan, run with `sh` in a temporary directory: the
    /// holder is written into the lock as data, whatever it holds.
    #[test]
    fn the_prelude_takes_its_values_as_data() {
        let dir = tempfile::tempdir().unwrap();
        let d = |p: &str| format!("{}/{p}", dir.path().display());
        let planted = d("planted");
        let holder = format!("user=$(touch {planted}) host=a'b\"c\nWSGICTL_n0nce_VALUES pid=1");
        let plan = Plan {
            host: "h".into(),
            findings: Vec::new(),
            changes: Vec::new(),
            handlers: Vec::new(),
            planned_at: 0,
            rootless: None,
        };
        let text = build(&Inputs {
            plan: &plan,
            nonce: "n0nce",
            holder: &holder,
            lock_timeout_secs: 1,
            contents: &BTreeMap::new(),
            tars: &BTreeMap::new(),
            requirements: &BTreeMap::new(),
            apache: &ApacheControl {
                ctl: "true".into(),
                reload: "true".into(),
            },
            reload_marker: &d("state/reload"),
            state_dir: &d("state"),
            run_dir: &d("run"),
            lock: &d("run/apply.lock"),
            owed_dir: &d("state/owed"),
            backup_prefix: &d("state/backup."),
            abort_after: None,
            record_offsets: ":\n",
            import_tests: &[],
        });
        let o = std::process::Command::new("sh")
            .args(["-c", &text])
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.ends_with("WSGICTL n0nce DONE\n"), "{out}");
        let lock = std::fs::read_to_string(d("run/apply.lock")).unwrap();
        assert_eq!(lock, format!("{}\n", holder.replace('\n', " ")));
        assert!(!std::path::Path::new(&planted).exists());
    }
}
