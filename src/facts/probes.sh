# shellcheck shell=sh
# shellcheck disable=SC2154 # wsgictl_uid comes from the gather's prelude (AS_USER)
# The gather's small probes (`facts::script`), one function each, its values its positional
# arguments. Each runs in its own frame's subshell, so `exit` ends only that probe. The
# bigger passes are files of their own (paths, venvs, trees, settings, apache, user_server).

# state_file FILE: whether the passes may read and write FILE, one of their caches in
# wsgictl's state directory: FILE is named, its directory is a real directory (not a link)
# this account owns, and FILE itself is not a link. Nobody else can then plant or swap what
# a pass trusts, or make it write through a link.
state_file() {
  [ -n "$1" ] && own_dir "${1%/*}" && [ ! -L "$1" ]
}

# The system: distribution, the account the gather runs as, the tools the plan relies on.
probe_system() {
  # shellcheck disable=SC1091 # the host's own file
  . /etc/os-release 2>/dev/null
  echo "os_id=${ID:-unknown}"
  echo "os_like=${ID_LIKE:-}"
  echo "os_version=${VERSION_ID:-}"
  echo "uid=$wsgictl_uid"
  if command -v setfacl >/dev/null 2>&1; then echo acl=yes; else echo acl=no; fi
  if command -v certbot >/dev/null 2>&1; then echo certbot=yes; else echo certbot=no; fi
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then echo systemd=yes; else echo systemd=no; fi
  if command -v getenforce >/dev/null 2>&1; then echo "selinux=$(getenforce 2>/dev/null || echo absent)"; else echo selinux=absent; fi
}

# probe_accounts USERS GROUPS: for the names in USERS and GROUPS (one per line), every
# account's passwd line and groups and every group's line, from one `getent passwd`, one
# `getent group` and one `id -Gn` for all of them (one `id` per account where it takes only
# one, coreutils before 8.31). Prints `A<TAB>NAME<TAB>LINE`, `N<TAB>NAME<TAB>GROUPS` and
# `G<TAB>NAME<TAB>LINE`; a name without its line does not exist (`facts::accounts`).
probe_accounts() {
  nl='
'
  set -f
  IFS=$nl
  found=
  # shellcheck disable=SC2086 # split on newlines only, globbing off
  [ -z "$1" ] || for l in $(getent passwd $1 2>/dev/null); do
    n=${l%%:*}
    printf 'A\t%s\t%s\n' "$n" "$l"
    found=$found$n$nl
  done
  # shellcheck disable=SC2086 # as above
  [ -z "$2" ] || for l in $(getent group $2 2>/dev/null); do printf 'G\t%s\t%s\n' "${l%%:*}" "$l"; done
  [ -n "$found" ] || return 0
  # One line per account, in their order, when `id` takes them all and finds each.
  # shellcheck disable=SC2086 # as above
  ids=$(id -Gn $found 2>/dev/null) || ids=
  # shellcheck disable=SC2086 # as above
  set -- $ids
  k=0
  for n in $found; do k=$((k + 1)); done
  [ "$#" = "$k" ] || ids=
  for n in $found; do
    if [ -n "$ids" ]; then
      g=$1
      shift
    else
      g=$(id -Gn "$n" 2>/dev/null)
    fi
    printf 'N\t%s\t%s\n' "$n" "$g"
  done
}

# probe_reach USER PATH: `ok` when USER can reach PATH, else `deny MODE:OWNER:GROUP DIR` for
# the first directory on the way (as given, then with links resolved) USER cannot traverse.
# Only root can ask as another account (`skip` otherwise); an account that does not exist is
# asked about as nobody (`as=nobody`).
probe_reach() {
  u=$1
  p=$2
  [ "$wsgictl_uid" = 0 ] || { echo skip; exit 0; }
  ids_of "$u" || { u=nobody; echo as=nobody; }
  if test_as "$u" -x "$p" 2>/dev/null; then echo ok; exit 0; fi
  r=$(readlink -f "$p" 2>/dev/null); [ -n "$r" ] || r=$p
  for w in "$p" "$r"; do
    cur=; rest=${w#/}
    while [ -n "$rest" ]; do
      c=${rest%%/*}
      if [ "$c" = "$rest" ]; then rest=; else rest=${rest#*/}; fi
      cur=$cur/$c
      if ! test_as "$u" -x "$cur" 2>/dev/null; then echo "deny $(stat -c '%A:%U:%G' "$cur" 2>/dev/null || echo missing) $cur"; exit 0; fi
    done
  done
  echo "deny $(stat -c '%A:%U:%G' "$p" 2>/dev/null || echo missing) $p"
}

# probe_leftovers RUN_DIR LOCK PREFIX: remove the backup directories (PREFIX + 6 characters)
# killed applies left, when no apply holds LOCK: `removed=N`, or `busy`; `skip` for an
# account that cannot own the shared run directory. Where there is none (the usual case),
# `removed=0` from the shell's own glob: no lock to take, no program started (apply's
# prelude keeps the run directory 0700 itself).
probe_leftovers() {
  run=$1
  if [ "$wsgictl_uid" != 0 ] && [ "$run" = /run/wsgictl ]; then echo skip; exit 0; fi
  n=0
  for d in "$3"* /var/lib/wsgictl/backup.??????; do
    if [ -d "$d" ] && [ ! -L "$d" ]; then n=1; break; fi
  done
  if [ "$n" = 0 ]; then echo removed=0; exit 0; fi
  if [ "$wsgictl_uid" = 0 ]; then { [ -d "$run" ] || mkdir -p "$run"; } && chmod 0700 "$run"
  elif [ ! -d "$run" ]; then echo removed=0; exit 0; fi
  if [ -L "$run" ] || [ ! -O "$run" ] || [ -L "$2" ]; then echo busy; exit 0; fi
  umask 077
  exec 9>>"$2"
  flock -n 9 || { echo busy; exit 0; }
  n=0
  for d in "$3"* /var/lib/wsgictl/backup.??????; do
    [ -d "$d" ] && [ ! -L "$d" ] || continue
    rm -rf "$d" && n=$((n + 1))
  done
  echo "removed=$n"
}

# probe_health ATTEMPTS EXPECT CURL_ARGS...: `status=CODE` of the app's health request, asked
# again a second apart (up to ATTEMPTS times) until it is 2xx or 3xx and holds EXPECT (when
# not empty), then `expect=found|missing`. A daemon a switch or touch is replacing may answer
# the first request or two the old way.
probe_health() {
  attempts=$1
  want=$2
  shift 2
  b=$(mktemp) || exit 1
  k=0
  while :; do
    code=$(curl -s -o "$b" -w '%{http_code}' --max-time 20 "$@" </dev/null)
    found=yes
    [ -z "$want" ] || grep -qF -- "$want" "$b" || found=no
    case "$code" in 2??|3??) [ "$found" = yes ] && break;; esac
    k=$((k + 1)); [ "$k" -ge "$attempts" ] && break; sleep 1
  done
  echo "status=$code"
  [ -z "$want" ] || echo "expect=$( [ "$found" = yes ] && echo found || echo missing)"
  rm -f "$b"
  exit 0
}
