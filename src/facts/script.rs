//! The gather script: probes → one POSIX `sh` script (pure; snapshot-tested).
//!
//! Stage: gather. Each probe runs in a subshell (an `exit` in one cannot end the script),
//! framed by `WSGICTL <nonce> BEGIN <n>` and `WSGICTL <nonce> END <n> <status>` lines, in any
//! order: Apache's and the interpreters' frames run in the background beside the others. Its
//! stderr is merged into the frame; file contents and listings travel as base64, so no byte of
//! them can look like a frame line. Every value is quoted by `crate::shell`.

use super::Probe;
use crate::shell::quote;

/// GNU coreutils and findutils are assumed (Debian, RHEL and their derivatives). The umask is
/// the usual 022, not a tighter one: the gather calls Apache's binary itself, not
/// `apache2ctl` (which creates the instance's run directory, where mod_wsgi's sockets live,
/// the first time it runs), but should anything it starts create a directory, a 0700 one
/// would lock Apache's children out of every daemon process (ERRORS.md
/// `socket-dir-not-accessible`).
const PRELUDE: &str = "\
export LC_ALL=C
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
umask 022
";

/// The kernel's last PID (the last field of /proc/loadavg, which `read` can read a byte at a
/// time, unlike /proc/sys/kernel/ns_last_pid), before the probes and after them: how many
/// processes (every fork, subshells too) the host started meanwhile. `frame::split` reads the
/// `PIDS` line.
const PIDS_BEFORE: &str =
    "wsgictl_pid0=; { read -r _ _ _ _ wsgictl_pid0 </proc/loadavg; } 2>/dev/null\n";

fn prelude() -> String {
    format!("{PRELUDE}{PIDS_BEFORE}{AS_USER}{UNTRUSTED}{PROBES}")
}

/// `site_digest VENV`: the sha256 of what the venv's site-packages holds, two levels deep
/// (packages, their modules and sub-packages, `*.dist-info`), bytecode left out. Cheap enough
/// for every gather; apply records it after each install, so a package removed or replaced by
/// hand shows as drift. Shared by the gather's venv probe and apply's pip step.
pub const SITE_DIGEST: &str = "\
site_digest() {
  for sp in \"$1\"/lib/python*/site-packages; do
    [ -d \"$sp\" ] || continue
    (cd \"$sp\" && s=$(find . -maxdepth 2 ! -name __pycache__ ! -name '*.pyc' | LC_ALL=C sort | sha256sum) && echo \"${s%% *}\")
    return
  done
  echo none
}
";

/// `as_user USER CMD...`: run CMD as USER: directly when the script already runs as USER (a
/// rootless host), through `runuser` as root; `can_be USER`: whether this script can. The
/// account's effective uid is read from `/proc/self/status` by the shell itself (no program
/// started: `root` for 0, `id -un` for another); without /proc, from one `id`
/// (`uid=0(root) gid=…`).
///
/// `ids_of USER`: whether USER exists (one `getent passwd`), keeping its uid and primary group
/// for `test_as USER ARGS...`, which answers `test ARGS` with USER's credentials as Apache and
/// mod_wsgi's daemons take them: its uid, its primary group and the groups initgroups(3)
/// gives it, through `setpriv` (util-linux). That is exactly what a permission check needs,
/// at half of `runuser`'s cost (no PAM session, which could also add groups the daemons never
/// get); `runuser` where there is no `setpriv`.
pub const AS_USER: &str = r#"wsgictl_uid=
if [ -r /proc/self/status ]; then
  while read -r k_ _ e_ _; do case $k_ in Uid:) wsgictl_uid=$e_; break ;; esac; done </proc/self/status
fi
case $wsgictl_uid in
  0) wsgictl_user=root ;;
  '' | *[!0-9]*)
    wsgictl_id=$(LC_ALL=C id); wsgictl_uid=${wsgictl_id#uid=}; wsgictl_uid=${wsgictl_uid%%[!0-9]*}
    case $wsgictl_id in "uid=$wsgictl_uid("*) wsgictl_user=${wsgictl_id#*\(}; wsgictl_user=${wsgictl_user%%\)*} ;; *) wsgictl_user=$(id -un 2>/dev/null) ;; esac ;;
  *) wsgictl_user=$(id -un 2>/dev/null) ;;
esac
as_user() { u_=$1; shift; if [ "$wsgictl_user" = "$u_" ]; then "$@"; else runuser -u "$u_" -- "$@"; fi; }
can_be() { [ "$wsgictl_uid" = 0 ] || [ "$wsgictl_user" = "$1" ]; }
ids_of() {
  [ "$ta_u" != "$1" ] || return 0
  ta_u=; ta_id=; e_=$(getent passwd "$1" 2>/dev/null) && [ -n "$e_" ] || return 1
  ta_u=$1; e_=${e_#*:}; e_=${e_#*:}; ta_uid=${e_%%:*}; e_=${e_#*:}; ta_gid=${e_%%:*}
  case $ta_uid in ''|*[!0-9]*) return 0 ;; esac
  case $ta_gid in ''|*[!0-9]*) return 0 ;; esac
  if command -v setpriv >/dev/null 2>&1; then ta_id=y; fi
}
test_as() {
  u_=$1; shift
  if [ "$wsgictl_user" = "$u_" ]; then test "$@"; return; fi
  ids_of "$u_" || return 1
  if [ -n "$ta_id" ]; then setpriv --reuid="$ta_uid" --regid="$ta_gid" --init-groups -- test "$@"; else runuser -u "$u_" -- test "$@"; fi
}
"#;

/// `untrusted PATH`: the first file or directory on the way to PATH (as given, then with
/// every link resolved) that an account other than root (and the account the script runs as)
/// owns, or that group or others may write, as `path owner mode`; nothing when they alone
/// control all of it. The gather runs as root (or as a rootless host's account): an
/// interpreter someone else controls is never run, only reported. Both ways are walked by one
/// `stat` and one `awk` (the first offender of the first way, else of the second).
///
/// `own_dir DIR`: DIR is named and is a real directory (not a link) this account owns, so
/// nobody else can plant or swap what lies in it (the passes' caches, the settings pass's
/// key files).
pub const UNTRUSTED: &str = r#"own_dir() {
  [ -n "$1" ] && [ -d "$1" ] && [ ! -L "$1" ] && [ -O "$1" ]
}
untrusted() {
  target=$1
  real=$(readlink -f -- "$target" 2>/dev/null)
  [ "$real" != "$target" ] || real=
  set --
  for w in "$target" "$real"; do
    [ -n "$w" ] || continue
    cur=$w
    while [ -n "$cur" ]; do
      set -- "$@" "$cur"
      case "$cur" in */*) cur=${cur%/*};; *) cur=;; esac
    done
    set -- "$@" /
  done
  [ $# -gt 0 ] || return 0
  stat -c '%u|%a|%U|%F|%n' -- "$@" 2>/dev/null | awk -F '|' -v me="${wsgictl_uid:-$(id -u)}" '
    { w = ($2 ~ /[2367].$/ || $2 ~ /[2367]$/) }
    $4 == "symbolic link" || $2 ~ /^[1357]...$/ { w = 0 }
    ($1 != 0 && $1 != me) || w { print $5, $3, $2; exit }'
}
"#;

/// Fingerprints the gather prints (`fp=`) and apply recomputes under the lock, so a plan's
/// `before` can pin what it saw of a source tree (every file's path, mode, size and mtime) and
/// of a venv (the sha256 of its markers, and its site-packages digest; computed by
/// `venvs::fingerprint` in the gather). Needs [`SITE_DIGEST`].
pub const FINGERPRINTS: &str = "\
tree_fp() {
  if [ -d \"$1\" ] && [ ! -L \"$1\" ]; then (cd \"$1\" && s=$(find . -type f -printf '%P %m %s %T@\\n' | LC_ALL=C sort | sha256sum) && echo \"${s%% *}\")
  else echo missing; fi
}
venv_fp() {
  if [ -d \"$1\" ] && [ ! -L \"$1\" ]; then
    vd=${2:-$(site_digest \"$1\")}
    r=-; c=-
    if [ -f \"$1/.wsgictl-requirements\" ] && [ -r \"$1/.wsgictl-requirements\" ]; then r=$(sha256sum < \"$1/.wsgictl-requirements\"); r=${r%% *}; fi
    if [ -f \"$1/pyvenv.cfg\" ] && [ -r \"$1/pyvenv.cfg\" ]; then c=$(sha256sum < \"$1/pyvenv.cfg\"); c=${c%% *}; fi
    s=$(printf 'requirements %s\\npyvenv.cfg %s\\nsite-packages %s\\n' \"$r\" \"$c\" \"$vd\" | sha256sum)
    echo \"${s%% *}\"
  else echo missing; fi
}
";

/// The small probes, one function each (`probe_system`, `probe_accounts`, …).
const PROBES: &str = include_str!("probes.sh");

/// The passes that answer every probe of their kind in the frame of the first of them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    Paths,
    Venvs,
    Trees,
    Accounts,
    Settings,
}

fn pass_of(p: &Probe) -> Option<Pass> {
    Some(match p {
        Probe::Path { .. } => Pass::Paths,
        Probe::Venv { .. } | Probe::Interpreter { .. } => Pass::Venvs,
        Probe::Tree { .. } | Probe::Releases { .. } => Pass::Trees,
        Probe::Account { .. } | Probe::Group { .. } => Pass::Accounts,
        Probe::Settings { .. } => Pass::Settings,
        _ => return None,
    })
}

/// Whether each of `probes` is the first of its pass, whose frame answers them all (`paths`,
/// `venvs`, `trees`, `accounts`, `settings`): what `build` writes and `parse::facts` reads.
/// `false` for the rest of a pass and for a probe with a frame of its own.
pub(crate) fn first_of_pass(probes: &[Probe]) -> Vec<bool> {
    let mut seen = Vec::new();
    probes
        .iter()
        .map(|p| match pass_of(p) {
            Some(k) if !seen.contains(&k) => {
                seen.push(k);
                true
            }
            _ => false,
        })
        .collect()
}

/// The whole script for `probes`, framed with `nonce`.
pub fn build(probes: &[Probe], nonce: &str) -> String {
    // The transport sends it as one group read whole before it runs (`transport::framed`):
    // no probe can read the rest of the script.
    let mut s = prelude();
    let first = first_of_pass(probes);
    let cache = probes.iter().find_map(|p| match p {
        Probe::SumsCache { file } => Some(file.as_str()),
        _ => None,
    });
    // The venvs pass and the Apache probe keep their answers in the same state directory.
    let state_dir = cache.and_then(|c| c.rsplit_once('/')).map(|(dir, _)| dir);
    let pythons = state_dir.map(|dir| format!("{dir}/{}", super::venvs::CACHE));
    // Each probe's frame text; `None` for one a pass answers in the frame of the first.
    let text = |i: usize| -> Option<String> {
        let p = &probes[i];
        Some(match p {
            Probe::Path { .. } if first[i] => {
                super::paths::script(&super::paths::wanted(probes), cache)
            }
            Probe::Venv { .. } | Probe::Interpreter { .. } if first[i] => super::venvs::script(
                &super::venvs::wanted(probes),
                &super::venvs::interpreters(probes),
                pythons.as_deref(),
            ),
            Probe::Tree { .. } | Probe::Releases { .. } if first[i] => {
                super::trees::script(&super::trees::wanted(probes))
            }
            Probe::Settings { .. } if first[i] => {
                let wanted = super::settings::wanted(probes);
                super::settings::script(wanted.iter().map(|(_, d)| d.as_str()))
            }
            Probe::Account { .. } | Probe::Group { .. } if first[i] => {
                let (users, groups) = super::accounts::wanted(probes);
                super::accounts::script(&users, &groups)
            }
            Probe::Account { .. }
            | Probe::Group { .. }
            | Probe::Path { .. }
            | Probe::SumsCache { .. }
            | Probe::Venv { .. }
            | Probe::Interpreter { .. }
            | Probe::Tree { .. }
            | Probe::Releases { .. }
            | Probe::Settings { .. } => return None,
            _ => body(p, state_dir),
        })
    };
    // Apache parsing its configuration is the gather's longest probe and needs nothing the
    // others do: it runs in the background from the start, beside the rest, in a lane of
    // its own (its frame kept in a temporary directory, 0700, gone once read), and its frame
    // comes last. Each run of Apache ends with a 10 ms sleep (`destroy_and_exit_process` in
    // its main.c), which the other lanes' work fills. A second lane takes the reach checks
    // (a `runuser` each), the leftovers sweep, and the source trees' and settings passes,
    // which the others do not need either: measured on 5 apps, that evens out the three
    // lanes. Where no temporary directory can be made, both run in line instead.
    let lane = |apache: bool| -> Vec<usize> {
        probes
            .iter()
            .enumerate()
            .filter(|&(i, p)| match p {
                Probe::Apache { .. } | Probe::UserApache { .. } => apache,
                Probe::Reach { .. } | Probe::Leftovers { .. } => !apache,
                Probe::Tree { .. } | Probe::Releases { .. } | Probe::Settings { .. } => {
                    !apache && first[i]
                }
                _ => false,
            })
            .map(|(i, _)| i)
            .collect()
    };
    let lanes: Vec<Vec<usize>> = [lane(true), lane(false)]
        .into_iter()
        .filter(|l| !l.is_empty())
        .collect();
    let early: Vec<usize> = lanes.iter().flatten().copied().collect();
    if !lanes.is_empty() {
        for (k, l) in lanes.iter().enumerate() {
            s.push_str(&format!("wsgictl_early{k}() {{\n"));
            for &i in l {
                if let Some(t) = text(i) {
                    s.push_str(&frame(i, &t, nonce));
                }
            }
            s.push_str("}\n");
        }
        s.push_str(
            "wsgictl_bg=$(mktemp -d 2>/dev/null) || wsgictl_bg=\nif [ -n \"$wsgictl_bg\" ]; then\n",
        );
        for k in 0..lanes.len() {
            s.push_str(&format!(
                "  wsgictl_early{k} > \"$wsgictl_bg/{k}\" 2>&1 </dev/null & wsgictl_bg{k}=$!\n"
            ));
        }
        s.push_str("fi\n");
    }
    for i in 0..probes.len() {
        if early.contains(&i) {
            continue;
        }
        if let Some(t) = text(i) {
            s.push_str(&frame(i, &t, nonce));
        }
    }
    if !lanes.is_empty() {
        let waits: Vec<String> = (0..lanes.len())
            .map(|k| format!("\"$wsgictl_bg{k}\""))
            .collect();
        let files: Vec<String> = (0..lanes.len())
            .map(|k| format!("\"$wsgictl_bg/{k}\""))
            .collect();
        let inline: Vec<String> = (0..lanes.len())
            .map(|k| format!("wsgictl_early{k}"))
            .collect();
        s.push_str(&format!(
            "if [ -n \"$wsgictl_bg\" ]; then wait {}; cat {}; rm -rf \"$wsgictl_bg\"; else {}; fi\n",
            waits.join(" "),
            files.join(" "),
            inline.join("; ")
        ));
    }
    s.push_str(&format!(
        "wsgictl_pid1=; wsgictl_pidmax=0; {{ read -r _ _ _ _ wsgictl_pid1 </proc/loadavg; }} 2>/dev/null\n\
         [ \"${{wsgictl_pid1:-0}}\" -ge \"${{wsgictl_pid0:-0}}\" ] || wsgictl_pidmax=$(cat /proc/sys/kernel/pid_max)\n\
         echo \"WSGICTL {nonce} PIDS $wsgictl_pid0 $wsgictl_pid1 $wsgictl_pidmax\"\n"
    ));
    s
}

/// Probe `i`'s frame: its `text` in a subshell (an `exit` ends only the probe), stderr merged.
fn frame(i: usize, text: &str, nonce: &str) -> String {
    format!(
        "echo 'WSGICTL {nonce} BEGIN {i}'\n(\n{text}) 2>&1\necho \"WSGICTL {nonce} END {i} $?\"\n"
    )
}

fn q(s: &str) -> String {
    // Manifest values were refused at load time if they held NUL; nothing else can fail.
    quote(s).expect("probe values hold no NUL").into_owned()
}

/// Probe `p`'s text; `state_dir` is where the passes keep their caches (none without one).
fn body(p: &Probe, state_dir: Option<&str>) -> String {
    match p {
        Probe::System => "probe_system\n".to_string(),
        Probe::Apache { confdir } => super::apache::script(
            confdir.as_deref(),
            state_dir
                .map(|d| super::apache::cache(d, confdir.as_deref()))
                .as_deref(),
        ),
        Probe::UserApache { server_root } => super::user_server::script(server_root),
        // Answered together by `paths`, in `build`.
        Probe::Path { .. } | Probe::SumsCache { .. } => String::new(),
        Probe::Reach { user, path } => format!("probe_reach {} {}\n", q(user), q(path)),
        Probe::Leftovers {
            lock,
            prefix,
            run_dir,
        } => format!("probe_leftovers {} {} {}\n", q(run_dir), q(lock), q(prefix)),
        Probe::Health {
            target,
            expect,
            attempts,
            ..
        } => format!(
            "probe_health {attempts} {} {target}\n",
            q(expect.as_deref().unwrap_or(""))
        ),
        Probe::Certificate { cert, key } => super::cert::script(cert, key),
        // Answered together by `settings`, in `build`.
        Probe::Settings { .. } => String::new(),
        Probe::RecordOffsets { script } => format!("{{ {script}}} </dev/null\n"),
        // Answered together by `accounts`, `venvs` and `trees`, in `build`.
        Probe::Account { .. }
        | Probe::Group { .. }
        | Probe::Venv { .. }
        | Probe::Interpreter { .. }
        | Probe::Tree { .. }
        | Probe::Releases { .. } => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    /// The prelude's account is this process's, as `id` tells it, read without `id` when
    /// /proc is there.
    #[test]
    fn the_prelude_knows_its_account_as_id_does() {
        let id = |a: &str| {
            let o = std::process::Command::new("id").arg(a).output().unwrap();
            String::from_utf8(o.stdout).unwrap().trim().to_string()
        };
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{}printf '%s %s' \"$wsgictl_uid\" \"$wsgictl_user\"",
                super::AS_USER
            ))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{} {}", id("-u"), id("-un"))
        );
    }

    /// `untrusted PATH` run by `sh` as this account, with the prelude's `id`.
    fn untrusted(path: &std::path::Path) -> String {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{}{}untrusted \"$1\"",
                super::AS_USER,
                super::UNTRUSTED
            ))
            .arg("sh")
            .arg(path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn untrusted_walks_the_path_then_where_its_links_lead() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for (sub, mode) in [("clean", 0o755), ("open", 0o777)] {
            std::fs::create_dir(d.join(sub)).unwrap();
            std::fs::set_permissions(d.join(sub), std::fs::Permissions::from_mode(mode)).unwrap();
        }
        for f in ["clean/python", "open/python"] {
            std::fs::write(d.join(f), "").unwrap();
        }
        std::os::unix::fs::symlink("../open/python", d.join("clean/link")).unwrap();
        let open = d.join("open");
        assert_eq!(untrusted(&d.join("clean/python")), "");
        let me = String::from_utf8(
            std::process::Command::new("id")
                .arg("-un")
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        let want = format!("{} {} 777\n", open.display(), me.trim());
        assert_eq!(untrusted(&d.join("open/python")), want, "on the way");
        assert_eq!(
            untrusted(&d.join("clean/link")),
            want,
            "where the link leads"
        );
    }
}
