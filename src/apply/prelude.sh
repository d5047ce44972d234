# shellcheck shell=sh
# The apply script's start (`apply::script`): the shell's settings, the helpers every step
# uses, and `apply_start`, which makes wsgictl's private directories, takes the host lock
# (holder written inside), clears what killed runs left and makes this run's backup
# directory. Its values come as data, one per line, read by `apply_values`:
#
# apply_values < VALUES
#   VALUES, in this order: the nonce of the `WSGICTL <nonce> WORD` report lines; wsgictl's
#   state directory; the lock's directory; the owed-step markers' directory; the lock file;
#   seconds to wait for the lock; the holder line; the backup directories' prefix (each run's
#   is PREFIX + 6 random characters); the pending-reload marker; the step number after which
#   to stop as if killed (-1: none) and the step id (#none: none), a test facility.
# apply_start
set -u
umask 022
LC_ALL=C; export LC_ALL
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; export PATH
apply_values() {
  IFS= read -r nonce
  IFS= read -r state_dir
  IFS= read -r run_dir
  IFS= read -r owed_dir
  IFS= read -r lock_path
  IFS= read -r lock_timeout
  IFS= read -r holder
  IFS= read -r backups
  IFS= read -r marker
  IFS= read -r abort_n
  IFS= read -r abort_id
}
say() { echo "WSGICTL $nonce $*"; }
# A step that fails while the ops run puts back what the site reads first (restore), and a
# reload marker only this run wrote goes with it.
fail() {
  if [ -n "${undo_on_fail:-}" ]; then undo_on_fail=; restore; [ -z "${own_reload:-}" ] || rm -f "$marker"; fi
  say FAILED "$1"; shift; [ $# -gt 0 ] && printf '%s\n' "$@"; exit 1
}
# wsgictl's own directories: 0700 and owned by whoever applies (root, or a rootless host's
# account), never through a link someone else could have planted.
me=$(id -un)
private_dir() {
  mkdir -p "$1" 2>/dev/null
  if [ -L "$1" ] || [ ! -d "$1" ] || [ "$(stat -c %u "$1")" != "$(id -u)" ]; then fail state "$1 is not a directory owned by $me; remove it and run apply again"; fi
  chmod 0700 "$1" || fail state
}
boundary() { if [ "$n" = "$abort_n" ] || [ "$last" = "$abort_id" ]; then say ABORTED "$last"; kill -9 $$; fi; }
step() { boundary; n=$((n + 1)); last=$1; say STEP "$1"; }
fingerprint() {
  if [ -L "$1" ]; then echo "symlink to $(readlink "$1")";
  elif [ ! -e "$1" ]; then echo missing;
  elif [ -d "$1" ]; then find "$1" -maxdepth 0 -printf 'dir %m %u:%g\n';
  else echo "file $(sha256sum < "$1" | cut -d ' ' -f 1) $(find "$1" -maxdepth 0 -printf '%m %u:%g')"; fi
}
account_fp() { if getent passwd "$1" >/dev/null; then echo present; else echo missing; fi; }
group_fp() { if getent group "$1" >/dev/null; then echo present; else echo missing; fi; }
# stale_by CHECK WHAT SEEN: the plan saw SEEN; refuse when CHECK WHAT says otherwise now.
stale_by() { got=$("$1" "$2"); [ "$got" = "$3" ] || { say STALE "$2"; echo "expected: $3"; echo "found:    $got"; exit 76; }; }
stale() { stale_by fingerprint "$1" "$2"; }
# A path apply changes the owner or mode of is never followed through a symbolic link.
nolink() { if [ -L "$1" ]; then say STALE "$1"; echo "expected: not a symbolic link"; echo "found:    symlink to $(readlink "$1")"; exit 76; fi; }
owe() { : > "$owed/$1" || fail marker; }
paid() { rm -f "$owed/$1"; }
# One restore step: what it puts back (for the message), then the command.
undo() { what=$1; shift; "$@" || say UNRESTORED "$what"; }
quiet() { "$@" >/dev/null 2>&1; }
put_back() { if [ -e "$1" ]; then mv -f "$1" "$2"; else rm -f "$2"; fi; }
# An empty saved crontab was no crontab at all.
restore_crontab() { if [ -s "$1" ]; then crontab "$1"; else crontab -r; fi; }
relink() { if [ -n "$1" ]; then ln -sfn "$1" "$2"; else rm -f "$2"; fi; }
# Point link $2 at $1 atomically: a new link renamed over the old one (never a moment without).
switch_link() { if [ -n "$1" ]; then ln -sfn "$1" "$2.wsgictl-new" && mv -T "$2.wsgictl-new" "$2"; else rm -f "$2"; fi; }
# Swap two paths in one step (renameat2 RENAME_EXCHANGE, through the host's Python): a
# directory replaced by a link is never missing. Fails where the kernel or Python cannot.
exchange() { command -v python3 >/dev/null 2>&1 && python3 -I -c 'import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
sys.exit(0 if libc.renameat2(-100, sys.argv[1].encode(), -100, sys.argv[2].encode(), 2) == 0 else 1)' "$1" "$2" </dev/null 2>/dev/null; }
# The static directory of a host deployed before releases was put aside as $1.wsgictl-old.
static_back() { rm -f "$1" && mv "$1.wsgictl-old" "$1"; }
# Never run as root a program another account controls (preflight said so; checked again).
trusted() { u=$(untrusted "$1"); [ -z "$u" ] || fail "$2" "not running $1 as $me: $u (path, owner, mode) is not $me's alone"; }
apply_start() {
  private_dir "$state_dir"
  private_dir "$run_dir"
  owed=$owed_dir
  private_dir "$owed"
  lock=$lock_path
  [ -L "$lock" ] && fail lock "$lock is a symbolic link"
  umask 077
  exec 9>>"$lock" || fail lock
  umask 022
  chmod 0600 "$lock" || fail lock
  if ! flock -w "$lock_timeout" 9; then say LOCKED; cat "$lock"; exit 75; fi
  printf '%s\n' "$holder" > "$lock"
  # Backups of runs that were killed (old env files among them): nobody restores them now.
  rm -rf "$backups"*
  bk=$(mktemp -d "$backups"XXXXXX) || fail backup
  trap 'rm -rf "$bk"' EXIT
  n=0; last=
}
