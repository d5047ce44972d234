# shellcheck shell=sh
# shellcheck disable=SC2154 # wsgictl_uid comes from the prelude (AS_USER)
# Every app's Django settings check (`facts::settings`; the check itself is
# `settings_check`), for the gather and for apply. Loading Django costs each app tens of
# milliseconds, so a report is kept (root only, in its cache file) under a key over what
# it depends on, and printed again while the key holds: every file of the source as `find`
# lists it (path, mode, size, mtime; a new order only costs a new check), the sha256 of the
# venv's install marker, its `pyvenv.cfg`, the env file and the overlay modules, and what is
# asked (the JSON argument). The keys of all apps cost one `getent`, one `find`, one
# `sha256sum` over those files, one `awk` and one `sha256sum` over the keys' texts (in a
# 0700 temporary directory, removed at once), whatever the number of apps; Python runs only
# for an app whose key changed. A report with an error is never kept (an exception may quote
# a secret).
#
# gather_settings PROGRAM < DATA
#   PROGRAM: the check's Python text.
#   DATA: eight lines per app: the daemon user, the venv, the source, the env file, the
#   report's cache file, the daemon's python-path, the check's JSON argument (one line), the
#   overlay modules separated by `:` (or an empty line). No control characters.
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
  data=
  while IFS= read -r l; do data=$data$l$nl; done
  # The daemon users' passwd lines, once for all apps.
  set --
  while IFS= read -r u && IFS= read -r _ && IFS= read -r _ && IFS= read -r _ \
    && IFS= read -r _ && IFS= read -r _ && IFS= read -r _ && IFS= read -r _; do
    set -- "$@" "$u"
  done <<EOF
$data
EOF
  pw=
  [ $# -eq 0 ] || pw=$nl$(getent passwd "$@" 2>/dev/null)$nl
  # Which apps can be checked: their sources for `find`, their files for `sha256sum`, and
  # one line each for `awk` (number, source, argument, files).
  i=0
  live=
  srcs=
  apps=
  set --
  while IFS= read -r u && IFS= read -r venv && IFS= read -r src && IFS= read -r env \
    && IFS= read -r cache && IFS= read -r pp && IFS= read -r arg && IFS= read -r ov; do
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
            [ -f "$f" ] && [ -r "$f" ] && set -- "$@" "$f"
          done
          rest=$ov
          while [ -n "$rest" ]; do
            f=${rest%%:*}
            if [ "$f" = "$rest" ]; then rest=; else rest=${rest#*:}; fi
            line=$line$tab$f
            [ -f "$f" ] && [ -r "$f" ] && set -- "$@" "$f"
          done
          apps=$apps$line$nl
          ;;
        *) echo "S$tab$i${tab}absent" ;;
      esac
    fi
    i=$((i + 1))
  done <<EOF
$data
EOF
  [ -n "$live" ] || return 0
  keys=
  sums=
  [ $# -eq 0 ] || sums=$(sha256sum -- "$@" 2>/dev/null)
  if t=$(mktemp -d 2>/dev/null); then
    set --
    while IFS= read -r s; do [ -z "$s" ] || set -- "$@" "$s"; done <<EOF
$srcs
EOF
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
    keys=$(cd "$t" && sha256sum -- *)
    rm -rf "$t"
  fi
  # shellcheck disable=SC2086 # hex digests and numbered names: nothing to split or expand
  set -- $keys
  i=0
  while IFS= read -r u && IFS= read -r venv && IFS= read -r src && IFS= read -r env \
    && IFS= read -r cache && IFS= read -r pp && IFS= read -r arg && IFS= read -r ov; do
    case "$live " in
      *" $i "*)
        key=
        p=00000$i
        p=${p#"${p%??????}"}
        if [ $# -ge 2 ] && [ "$2" = "$p" ]; then key=$1; shift 2; fi
        kept=
        report=
        if [ -f "$cache" ] && [ ! -L "$cache" ]; then { IFS= read -r kept; IFS= read -r report; } < "$cache"; fi
        if [ -n "$key" ] && [ "$kept" = "$key" ]; then
          echo "S$tab$i$tab${report#settings=}"
        else
          out=$(cd "$src" && as_user "$u" env -i PATH=/usr/bin:/bin LANG=C.UTF-8 HOME="$src" PYTHONPATH="$pp" timeout 120 "$venv/bin/python" -c "$prog" "$arg" 2>&1 </dev/null | grep '^settings=' | tail -n 1)
          echo "S$tab$i$tab${out#settings=}"
          case "$out" in
            *'"error": '*) ;;
            settings=*)
              [ -z "$key" ] || (umask 077; mkdir -p "${cache%/*}" && printf '%s\n%s\n' "$key" "$out" > "$cache.$$" && mv -f "$cache.$$" "$cache") 2>/dev/null
              ;;
          esac
        fi
        ;;
    esac
    i=$((i + 1))
  done <<EOF
$data
EOF
}
