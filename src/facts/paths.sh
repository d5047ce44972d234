# shellcheck shell=sh
# The gather's pass over every path a plan looks at (`facts::paths`): one `find`, one `awk`,
# one `sha256sum` over the files whose content may have changed, one `getfacl` over the
# directories, whatever the number of paths. Parsed in Rust; nothing here reformats output.
#
# gather_paths CACHE DATA
#   DATA: one line per path, `WANT<TAB>PATH` (WANT: the sha256 the plan expects there, or -).
#   CACHE: where this pass keeps the sha256 of each file it read (`KEY<TAB>SHA<TAB>PATH`, KEY
#   being inode, size, mtime and ctime), or empty for none. A file whose KEY is unchanged is
#   not read again. The cache is only read and written in a directory this account owns
#   (wsgictl's state directory), through a file named by this shell's PID and `mv` (two
#   gathers at once never mix their lines), and a file changed in the last two seconds is
#   not kept in it. Needs `state_file` (the gather's prelude).
# Prints:
#   P<TAB>TYPE<TAB>MODE<TAB>OWNER<TAB>GROUP<TAB>KEY<TAB>PATH<TAB>LINK   what exists (find's %y…)
#   S<TAB>SHA<TAB>PATH                                                 each regular file
#   \SHA  NAME, sha256sum's escaped form (a backslash in the name), as it prints it
#   getfacl's blocks between ACL-BEGIN and ACL-END                     directories with ACLs
#   C<TAB>PATH<TAB>BASE64                                              files whose sha is not WANT
gather_paths() {
  cache=$1
  nl='
'
  tab='	'
  state_file "$cache" || cache=
  wants=$nl
  # The data (an argument: no `cat` to read it) and every list below are split in memory
  # (IFS a newline, globbing off): `read` takes a byte per system call from a pipe, 8000 of
  # them for a hundred paths. Lists grow as text and become arguments once: `set -- "$@" X`
  # copies every argument each time (60 ms for 460 paths).
  data=$2
  paths=
  set -f
  IFS=$nl
  for l in $data; do
    want=${l%%"$tab"*}
    p=${l#*"$tab"}
    case $p in /*) ;; *) continue ;; esac
    paths=$paths$p$nl
    wants=$wants$want$tab$p$nl
  done
  # shellcheck disable=SC2086 # split on newlines only, globbing off
  set -- $paths
  unset IFS
  set +f
  [ $# -gt 0 ] || return 0
  meta=$(find "$@" -maxdepth 0 -printf 'P\t%y\t%m\t%u\t%g\t%i:%s:%T@:%C@\t%p\t%l\n' 2>/dev/null)
  [ -n "$meta" ] || return 0
  printf '%s\n' "$meta"
  # S: the cache's sha still holds; H: the file must be read; D: a directory. With the KEY.
  sorted=$(printf '%s\n' "$meta" | awk -F "$tab" -v cache="$cache" '
    BEGIN { if (cache != "") while ((getline l < cache) > 0) { split(l, a, "\t"); key[a[3]] = a[1]; sum[a[3]] = a[2] } }
    $1 != "P" { next }
    $2 == "d" { print "D\t-\t-\t" $7 }
    $2 == "f" && ($7 in key) && key[$7] == $6 { print "S\t" $6 "\t" sum[$7] "\t" $7; next }
    $2 == "f" { print "H\t" $6 "\t-\t" $7 }')
  shas=
  tohash=
  dirs=
  set -f
  IFS=$nl
  for l in $sorted; do
    kind=${l%%"$tab"*}
    p=${l#*"$tab"*"$tab"}
    sha=${p%%"$tab"*}
    p=${p#*"$tab"}
    case $kind in
      S) shas=$shas$sha$tab$p$nl ;;
      H) tohash=$tohash$p$nl ;;
      D) dirs=$dirs$p$nl ;;
    esac
  done
  unset IFS
  set +f
  if [ -n "$tohash" ]; then
    set -f
    IFS=$nl
    # shellcheck disable=SC2086 # split on newlines only: paths hold no control character
    set -- $tohash
    set +f
    sums=$(sha256sum -- "$@" 2>/dev/null)
    set -f
    IFS=$nl
    for l in $sums; do
      sha=${l%% *}
      p=${l#*  }
      case $sha in
        \\*) printf '%s\n' "$l" ;;
        ?*) shas=$shas$sha$tab$p$nl ;;
      esac
    done
    unset IFS
    set +f
    if [ -n "$cache" ]; then
      (
        umask 077
        printf '%s\n%s' "$sorted" "$shas" | awk -F "$tab" -v cache="$cache" -v out="$cache.new.$$" '
          BEGIN { srand(); now = srand(); while ((getline l < cache) > 0) { split(l, a, "\t"); kept[a[3]] = l } }
          NF == 4 { key[$4] = $2; next }
          NF == 2 && ($2 in key) {
            split(key[$2], k, ":"); c = k[4]; sub(/\..*/, "", c)
            if (c + 2 < now) kept[$2] = key[$2] "\t" $1 "\t" $2; else delete kept[$2]
          }
          END { printf "" > out; for (p in kept) print kept[p] > out; close(out) }' && mv -f "$cache.new.$$" "$cache" || rm -f "$cache.new.$$"
      )
    fi
  fi
  set -f
  IFS=$nl
  for l in $shas; do printf 'S\t%s\n' "$l"; done
  if [ -n "$dirs" ] && command -v getfacl >/dev/null 2>&1; then
    # shellcheck disable=SC2086 # as above
    set -- $dirs
    echo ACL-BEGIN
    getfacl --absolute-names --skip-base -- "$@" 2>/dev/null
    echo ACL-END
  fi
  for l in $shas; do
    case $wants in
      *"$nl$l$nl"*) ;;
      *) p=${l#*"$tab"}; printf 'C\t%s\t' "$p"; base64 -w 0 <"$p"; echo ;;
    esac
  done
  unset IFS
  set +f
}
