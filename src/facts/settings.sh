# shellcheck shell=sh
# shellcheck disable=SC2154 # wsgictl_uid comes from the prelude (AS_USER)
# Every app's Django settings check (`facts::settings`; the check itself is
# `settings_check`), for the gather and for apply. Loading Django costs each app tens of
# milliseconds, so a report is kept (root only, in its cache file) under a key over what
# it depends on, and printed again while the key holds: every file of the source as `find`
# lists it (path, mode, size, mtime; a new order only costs a new check), the sha256 of the
# venv's install marker, its `pyvenv.cfg`, the env file and the overlay modules, and what is
# asked (the JSON argument). The keys of all apps cost one `getent`, one `find`, one
# `sha256sum` over those files, one `awk` and one `sha256sum` over the keys' texts (in the
# gather's 0700 temporary directory, `$wsgictl_bg`, or in one of their own, removed at once,
# when there is none), and one `awk` that reads the kept reports,
# whatever the number of apps; Python runs only for an app whose key changed. A report with
# an error is never kept (an exception may quote a secret). Lists are split in memory, not
# read with `read` (a byte per system call from a pipe).
#
# gather_settings PROGRAM DATA
#   PROGRAM: the check's Python text.
#   DATA: one line per app, its fields separated by tabs: the daemon user, the venv, the
#   source, the env file, the report's cache file, the daemon's python-path, the check's
#   JSON argument, the overlay modules separated by `:` (or nothing). No other control
#   characters.
# Prints one line per app, I being its number (from 0):
#   S<TAB>I<TAB>skip      this account cannot run the check as the daemon user
#   S<TAB>I<TAB>absent    no venv python, source or daemon user yet
#   S<TAB>I<TAB>REPORT    what the check printed after `settings=` (JSON)
# Needs `can_be` and `as_user` (the prelude).
gather_settings() {
  prog=$1
  tab='	'
  nl='
'
  data=$2
  set -f
  IFS=$nl
  # The daemon users' passwd lines, once for all apps. Lists grow as text and become
  # arguments once (`set -- "$@" X` in a loop copies every argument each time).
  users=
  for r in $data; do users=$users${r%%"$tab"*}$nl; done
  # shellcheck disable=SC2086 # split on newlines only, globbing off
  set -- $users
  pw=
  [ $# -eq 0 ] || pw=$nl$(getent passwd "$@" 2>/dev/null)$nl
  # Which apps can be checked: their sources for `find`, their files for `sha256sum`, one
  # line each for the keys' `awk` (number, source, argument, files) and for the kept
  # reports' (number, cache file: a regular file, not a link, or nothing).
  i=0
  live=
  srcs=
  apps=
  caches=
  files=
  for r in $data; do
    settings_fields "$r"
    if ! can_be "$u"; then
      echo "S$tab$i${tab}skip"
    elif [ ! -x "$venv/bin/python" ] || [ ! -d "$src" ]; then
      echo "S$tab$i${tab}absent"
    else
      case $pw in
        *"$nl$u:"*)
          live="$live $i"
          srcs=$srcs$src$nl
          line=$i$tab$src$tab$arg
          for f in "$venv/.wsgictl-requirements" "$venv/pyvenv.cfg" "$env"; do
            line=$line$tab$f
            if [ -f "$f" ] && [ -r "$f" ]; then files=$files$f$nl; fi
          done
          rest=$ov
          while [ -n "$rest" ]; do
            f=${rest%%:*}
            if [ "$f" = "$rest" ]; then rest=; else rest=${rest#*:}; fi
            line=$line$tab$f
            if [ -f "$f" ] && [ -r "$f" ]; then files=$files$f$nl; fi
          done
          apps=$apps$line$nl
          if [ -f "$cache" ] && [ ! -L "$cache" ]; then caches=$caches$i$tab$cache$nl; fi
          ;;
        *) echo "S$tab$i${tab}absent" ;;
      esac
    fi
    i=$((i + 1))
  done
  # shellcheck disable=SC2086 # split on newlines only, globbing off
  set -- $files
  unset IFS
  set +f
  [ -n "$live" ] || return 0
  sums=
  [ $# -eq 0 ] || sums=$(sha256sum -- "$@" 2>/dev/null)
  # I<TAB>hit<TAB>REPORT when the kept report's key holds, else I<TAB>miss<TAB>KEY.
  verdicts=
  # The keys' files are named by six digits: the gather's lanes' frames there are one.
  own_t=
  if own_dir "${wsgictl_bg:-}"; then t=$wsgictl_bg
  elif t=$(mktemp -d 2>/dev/null); then own_t=$t
  else t=; fi
  if [ -n "$t" ]; then
    set -f
    IFS=$nl
    # shellcheck disable=SC2086 # split on newlines only: paths hold no control character
    set -- $srcs
    unset IFS
    set +f
    # Each key's text in its own file, named by the app's number (zero-padded, so that the
    # files sort in the apps' order): the source's listing, the files' sums by name (`-`
    # for one that is missing), the argument.
    find "$@" -type f -printf '%H\t%P %m %s %T@\n' 2>/dev/null \
      | WSGICTL_SUMS=$sums WSGICTL_APPS=$apps WSGICTL_DIR=$t awk -F '\t' '
        function printed(f,   o, k, c) {
          if (index(f, "\\") == 0) return f
          o = ""
          for (k = 1; k <= length(f); k++) { c = substr(f, k, 1); o = o c; if (c == "\\") o = o c }
          return o
        }
        BEGIN {
          apps = split(ENVIRON["WSGICTL_APPS"], a, "\n")
          for (k = 1; k <= apps; k++) if (split(a[k], x, "\t") >= 2) src[x[2]] = 1
        }
        # A name holding a newline goes on in the lines after its first, with its tree.
        ($1 in src) && index($0, "\t") { cur = $1; listing[cur] = listing[cur] substr($0, length($1) + 2) "\n"; next }
        { listing[cur] = listing[cur] $0 "\n" }
        END {
          n = split(ENVIRON["WSGICTL_SUMS"], s, "\n")
          for (k = 1; k <= n; k++) {
            if (substr(s[k], 1, 1) == "\\") sum[substr(s[k], 68)] = s[k]
            else sum[substr(s[k], 67)] = s[k]
          }
          for (k = 1; k <= apps; k++) {
            if (a[k] == "") continue
            m = split(a[k], x, "\t")
            out = ENVIRON["WSGICTL_DIR"] "/" sprintf("%06d", x[1])
            printf "%s", listing[x[2]] > out
            for (j = 4; j <= m; j++) {
              p = printed(x[j])
              if (p in sum) print sum[p] > out; else print "- " x[j] > out
            }
            printf "%s", x[3] > out
            close(out)
          }
        }'
    verdicts=$(cd "$t" && sha256sum -- [0-9][0-9][0-9][0-9][0-9][0-9] | WSGICTL_CACHES=$caches awk '
      { i = $2 + 0; key[i] = $1; order[++apps] = i }
      END {
        n = split(ENVIRON["WSGICTL_CACHES"], c, "\n")
        for (k = 1; k <= n; k++) {
          if (split(c[k], x, "\t") != 2) continue
          i = x[1] + 0
          kept = ""; got = ""
          if ((getline kept < x[2]) > 0 && (getline got < x[2]) > 0 && (i in key) && kept == key[i]) report[i] = got
          close(x[2])
        }
        for (k = 1; k <= apps; k++) {
          i = order[k]
          if (i in report) print i "\thit\t" report[i]; else print i "\tmiss\t" key[i]
        }
      }')
    [ -z "$own_t" ] || rm -rf "$own_t"
  fi
  # One verdict line per app in `live`, in its order; each taken off the front as its app
  # comes (`${verdicts#*…}` would cost dash a match against every prefix of all of them: 7 s
  # for 50 apps).
  i=0
  set -f
  IFS=$nl
  # shellcheck disable=SC2086 # split on newlines only: verdicts hold no other control character
  set -- $verdicts
  for r in $data; do
    case "$live " in
      *" $i "*)
        v=
        case ${1-} in "$i$tab"*) v=${1#"$i$tab"}; shift ;; esac
        case $v in
          hit"$tab"*)
            report=${v#hit"$tab"}
            echo "S$tab$i$tab${report#settings=}"
            ;;
          *)
            key=
            case $v in miss"$tab"*) key=${v#miss"$tab"} ;; esac
            settings_fields "$r"
            out=$(cd "$src" && as_user "$u" env -i PATH=/usr/bin:/bin LANG=C.UTF-8 HOME="$src" PYTHONPATH="$pp" timeout 120 "$venv/bin/python" -c "$prog" "$arg" 2>&1 </dev/null | grep '^settings=' | tail -n 1)
            echo "S$tab$i$tab${out#settings=}"
            case "$out" in
              *'"error": '*) ;;
              settings=*)
                [ -z "$key" ] || (umask 077; mkdir -p "${cache%/*}" && printf '%s\n%s\n' "$key" "$out" > "$cache.$$" && mv -f "$cache.$$" "$cache") 2>/dev/null
                ;;
            esac
            ;;
        esac
        ;;
    esac
    i=$((i + 1))
  done
  unset IFS
  set +f
}

# settings_fields LINE: one app's fields (u, venv, src, env, cache, pp, arg, ov) from its
# line of DATA.
settings_fields() {
  r_=$1
  u=${r_%%"$tab"*}; r_=${r_#*"$tab"}
  venv=${r_%%"$tab"*}; r_=${r_#*"$tab"}
  src=${r_%%"$tab"*}; r_=${r_#*"$tab"}
  env=${r_%%"$tab"*}; r_=${r_#*"$tab"}
  cache=${r_%%"$tab"*}; r_=${r_#*"$tab"}
  pp=${r_%%"$tab"*}; r_=${r_#*"$tab"}
  arg=${r_%%"$tab"*}
  ov=${r_#*"$tab"}
}
