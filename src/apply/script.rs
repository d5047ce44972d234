//! The apply script: a plan → one POSIX `sh` script for one exec (pure; snapshot-tested).
//!
//! Stage: apply. In order: take the host lock (`flock`, holder written inside), re-check every
//! `before` fingerprint under it, write the pending-reload marker, run the ops in plan order,
//! then the handlers. Data (file contents, the source tar, requirements) travels inside the
//! script as base64 heredocs on stdin, so nothing secret is ever in a command line. Files are
//! written atomically (temp file in the same directory, owner and mode set, fsync, `mv -f`);
//! Apache files are backed up first, so a failed configtest can put every one back before
//! anything is reloaded. The script reports through `WSGICTL <nonce> <WORD> …` lines that
//! [`super::outcome`] reads.

use crate::desired::EnableTool;
use crate::plan::{Handler, Op, Plan};
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
    /// The lock file: one apply at a time per Apache instance.
    pub lock: &'a str,
    /// Test-only: stop right after the step with this id, as if killed.
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

/// A heredoc that feeds `data` (base64-encoded) to `command`'s stdin.
fn heredoc(command: &str, data: &[u8], nonce: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    let mut body = String::new();
    for chunk in b64.as_bytes().chunks(76) {
        body.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        body.push('\n');
    }
    format!("base64 -d <<'WSGICTL_{nonce}_DATA' | {command}\n{body}WSGICTL_{nonce}_DATA\n")
}

pub fn build(i: &Inputs<'_>) -> String {
    let n = i.nonce;
    let mut s = String::new();
    let _ = write!(
        s,
        "\
set -u
umask 022
LC_ALL=C; export LC_ALL
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; export PATH
say() {{ echo \"WSGICTL {n} $*\"; }}
fail() {{ say FAILED \"$1\"; shift; [ $# -gt 0 ] && printf '%s\\n' \"$@\"; exit 1; }}
mkdir -p /run/lock /var/lib/wsgictl || fail lock
lock={lock}
exec 9>>\"$lock\"
if ! flock -w {timeout} 9; then say LOCKED; cat \"$lock\"; exit 75; fi
printf '%s\\n' {holder} > \"$lock\"
fingerprint() {{
  if [ -L \"$1\" ] || [ ! -e \"$1\" ]; then echo missing;
  elif [ -d \"$1\" ]; then stat -c 'dir %a %U:%G' \"$1\";
  else echo \"file $(sha256sum < \"$1\" | cut -d ' ' -f 1) $(stat -c '%a %U:%G' \"$1\")\"; fi
}}
stale() {{ got=$(fingerprint \"$1\"); [ \"$got\" = \"$2\" ] || {{ say STALE \"$1\"; echo \"expected: $2\"; echo \"found:    $got\"; exit 76; }}; }}
",
        timeout = i.lock_timeout_secs,
        holder = q(i.holder),
        lock = q(i.lock),
    );

    // Staleness, under the lock.
    for c in &i.plan.changes {
        if let Some(b) = &c.before {
            let path = c.id.path().unwrap_or("");
            let path = match c.ops.first() {
                Some(
                    Op::WriteFile { path, .. }
                    | Op::Chmod { path, .. }
                    | Op::Chown { path, .. }
                    | Op::MkDir { path, .. },
                ) => path.as_str(),
                _ => path,
            };
            let expected = match (b.exists, &b.sha256) {
                (false, _) => "missing".to_string(),
                (true, Some(sha)) => format!(
                    "file {sha} {} {}",
                    b.mode.as_deref().unwrap_or("").trim_start_matches('0'),
                    b.owner.as_deref().unwrap_or("")
                ),
                (true, None) => format!(
                    "dir {} {}",
                    b.mode.as_deref().unwrap_or("").trim_start_matches('0'),
                    b.owner.as_deref().unwrap_or("")
                ),
            };
            let _ = writeln!(s, "stale {} {}", q(path), q(&expected));
        }
    }

    let reloads = i.plan.handlers.contains(&Handler::ConfigtestAndReload);
    let _ = writeln!(
        s,
        "bk=$(mktemp -d /var/lib/wsgictl/backup.XXXXXX) || fail backup"
    );
    if reloads {
        let _ = writeln!(s, "touch {} || fail marker", q(i.reload_marker));
    }
    let mut restore: Vec<String> = Vec::new();

    for (ci, c) in i.plan.changes.iter().enumerate() {
        if c.ops.is_empty() {
            continue;
        }
        let _ = writeln!(s, "say STEP {}", q(&c.id.to_string()));
        for op in &c.ops {
            s.push_str(&op_script(op, ci, i, &mut restore));
        }
        if i.abort_after == Some(c.id.to_string().as_str()) {
            let _ = writeln!(s, "say ABORTED {}; kill -9 $$", q(&c.id.to_string()));
        }
    }

    // Handlers.
    let _ = writeln!(
        s,
        "restore() {{\n  :\n{}}}",
        restore
            .iter()
            .rev()
            .map(|r| format!("  {r}\n"))
            .collect::<String>()
    );
    // The code, venv and env of every app about to be switched must import as its daemon
    // user, and Django must allow its server names; else nothing is switched.
    for (app, command) in i.import_tests {
        let _ = write!(
            s,
            "say STEP {step}\n\
             out=$({{\n{command}}} 2>&1)\n\
             if ! printf '%s\\n' \"$out\" | grep -q '^django='; then restore; rm -f {marker}; say IMPORT {app}; printf '%s\\n' \"$out\"; exit 78; fi\n\
             say DJANGO {app} \"$(printf '%s\\n' \"$out\" | sed -n 's/^django=//p' | tail -n 1)\"\n\
             case \"$out\" in *'\"refused\": []'*) ;; *) restore; rm -f {marker}; say HOSTS {app}; exit 78;; esac\n",
            step = q(&format!("import:{app}")),
            app = q(app),
            marker = q(i.reload_marker),
        );
    }
    for h in &i.plan.handlers {
        match h {
            Handler::ConfigtestAndReload => {
                let _ = write!(
                    s,
                    "say STEP configtest\n\
                     if ! out=$({ctl} -t 2>&1); then restore; say CONFIGTEST; printf '%s\\n' \"$out\"; rm -f {marker}; exit 77; fi\n\
                     say STEP reload\n\
                     out=$({{ {reload}; }} 2>&1 9>&-) || fail reload \"$out\"\n\
                     rm -f {marker}\n",
                    ctl = i.apache.ctl,
                    reload = i.apache.reload,
                    marker = q(i.reload_marker),
                );
            }
            Handler::TouchWsgi { app, path } => {
                let _ = writeln!(
                    s,
                    "say STEP {}\ntouch {} || fail touch",
                    q(&format!("touch:{app}")),
                    q(path)
                );
            }
        }
    }
    let _ = writeln!(s, "say STEP log-offsets\n{{ {}}} || true", i.record_offsets);
    let _ = writeln!(s, "rm -rf \"$bk\"\nsay DONE");
    s
}

fn op_script(op: &Op, ci: usize, i: &Inputs<'_>, restore: &mut Vec<String>) -> String {
    let n = i.nonce;
    match op {
        Op::CreateGroup { name } => format!(
            "getent group {g} >/dev/null || groupadd --system {g} || fail group\n",
            g = q(name)
        ),
        Op::CreateUser { name, group, home } => format!(
            "getent passwd {u} >/dev/null || useradd --system --gid {g} --home-dir {h} --no-create-home --shell /usr/sbin/nologin {u} || fail user\n",
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
            "mkdir -p {p} && chown {o} {p} && chmod {m} {p} || fail mkdir\n",
            p = q(path),
            o = q(&format!("{owner}:{group}")),
            m = q(mode)
        ),
        Op::InstallPackages { manager, names } => {
            let names: Vec<String> = names.iter().map(|n| q(n)).collect();
            let install = match manager {
                crate::resources::packages::Manager::Apt => format!(
                    "DEBIAN_FRONTEND=noninteractive apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q {}",
                    names.join(" ")
                ),
                crate::resources::packages::Manager::Dnf => {
                    format!("dnf install -y -q {}", names.join(" "))
                }
            };
            format!(
                "out=$({install} 2>&1) || fail packages \"$(printf '%s\\n' \"$out\" | tail -n 20)\"\n"
            )
        }
        Op::Chmod { path, mode } => format!("chmod {} {} || fail chmod\n", q(mode), q(path)),
        Op::Chown { path, owner, group } => format!(
            "chown {} {} || fail chown\n",
            q(&format!("{owner}:{group}")),
            q(path)
        ),
        Op::SyncSource {
            app,
            dest,
            owner,
            group,
            upload,
            delete,
        } => {
            let mut s = String::new();
            if !upload.is_empty() {
                let tar = i.tars.get(app).map(Vec::as_slice).unwrap_or(&[]);
                s.push_str(&heredoc(
                    &format!("tar -x -f - -C {} --no-same-owner || fail sync", q(dest)),
                    tar,
                    n,
                ));
                let _ = writeln!(
                    s,
                    "chown -R {} {} || fail sync",
                    q(&format!("{owner}:{group}")),
                    q(dest)
                );
            }
            for d in delete {
                let _ = writeln!(s, "rm -f -- {} || fail sync", q(&format!("{dest}/{d}")));
            }
            s
        }
        Op::CreateVenv { path, python } => format!(
            "rm -rf {p} && out=$({py} -m venv {p} 2>&1) || fail venv \"$out\"\n",
            p = q(path),
            py = q(python)
        ),
        Op::PipInstall {
            venv,
            requirements_sha256,
        } => {
            let req = i.requirements.get(venv).map(String::as_str).unwrap_or("");
            format!(
                "req=$(mktemp) || fail pip\n{}out=$({pip} install --disable-pip-version-check --no-input -r \"$req\" 2>&1) || {{ rm -f \"$req\"; fail pip \"$out\"; }}\nrm -f \"$req\"\nprintf '%s\\n' {sha} > {marker} || fail pip\n",
                heredoc("cat > \"$req\"", req.as_bytes(), n),
                pip = q(&format!("{venv}/bin/pip")),
                sha = q(requirements_sha256),
                marker = q(&format!("{venv}/.wsgictl-requirements")),
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
            {
                // Keep the previous version for restore() (a failed configtest or import
                // test puts every written file back); a new file is removed instead.
                let _ = writeln!(
                    s,
                    "if [ -e {p} ]; then cp -p {p} \"$bk/{ci}\" || fail backup; fi"
                );
                restore.push(format!(
                    "if [ -e \"$bk/{ci}\" ]; then mv -f \"$bk/{ci}\" {p}; else rm -f {p}; fi"
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
            if *acl {
                format!(
                    "setfacl -m {} {} || fail access\n",
                    q(&format!("u:{user}:x")),
                    q(path)
                )
            } else {
                format!("chmod o+x {} || fail access\n", q(path))
            }
        }
        Op::Manage {
            name,
            user,
            venv,
            src,
            env_file,
            settings,
            ..
        } => {
            let inner = format!(
                "cd {src} && set -a && . {env} && set +a && DJANGO_SETTINGS_MODULE={settings} exec {py} manage.py {name} --noinput",
                src = q(src),
                env = q(env_file),
                settings = q(settings),
                py = q(&format!("{venv}/bin/python")),
                name = q(name)
            );
            format!(
                "out=$(runuser -u {} -- sh -c {} 2>&1) || fail {} \"$out\"\n",
                q(user),
                q(&inner),
                q(&format!("manage.py {name}"))
            )
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
            restore.push(format!(
                "APACHE_CONFDIR={} {undo} -q -f {} >/dev/null 2>&1",
                q(confdir),
                q(name)
            ));
            // a2en* keep their bookkeeping in /var/lib/apache2 whatever the instance: two
            // instances' applies at once race on its marker files, so they take turns.
            format!(
                "out=$(APACHE_CONFDIR={} flock -w 60 /run/lock/wsgictl-a2en.lock {} -q {} 2>&1) || fail enable \"$out\"\n",
                q(confdir),
                tool.command(),
                q(name)
            )
        }
    }
}
