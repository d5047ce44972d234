# shellcheck shell=sh
# The gather's pass over every venv and interpreter a plan looks at (`facts::venvs`): one
# `find` over all the venvs' site-packages, one `sha256sum` over their
# `.wsgictl-requirements` and `pyvenv.cfg`, one `realpath`, one `stat` and one `awk` for the
# trust walk of all their pythons and the interpreters, and one run of each distinct Python
# binary (a venv's python is most often the interpreter it was made with), whatever the
# number of venvs. Digests and fingerprints are computed in Rust from what this prints;
# nothing here hashes per venv. A binary's answer is kept in CACHE under its device, inode,
# size, mtime and ctime (what the trust walk's `stat` reads anyway), with the standard
# library directory it found: while the key holds, the binary is not run again, and whether
# it can make a venv is read from that directory as it is now (two `test -f`). Kept only
# from a run that succeeded, for a binary with no `pyvenv.cfg` beside or above it (a venv's
# own copy, whose library the file names) and whose ctime is more than two seconds old.
# The venvs' `pyvenv.cfg` and `.wsgictl-requirements` are read by that `awk` too (dash's
# `read` takes a byte per system call: a millisecond per kilobyte).
#
# gather_venvs CACHE VENVS [PYTHON...]
#   CACHE: the answers' file (`1<TAB>BINARY<TAB>KEY<TAB>VERSION<TAB>STDLIB` lines), only
#   read and written in a directory this account owns (wsgictl's state directory), through
#   a file named by this shell's PID and `mv`; empty for none.
#   PYTHON: the interpreters asked about (absolute paths), K being their place (from 0).
#   VENVS: one venv directory per line (absolute, no control characters).
# Prints, for interpreter K:
#   I<TAB>K<TAB>version=3.11.2  and  I<TAB>K<TAB>venv=yes|no  (whether its standard library
#                               holds `ensurepip` and `venv`: Debian ships them apart)
#   I<TAB>K<TAB>missing         nothing there runs
#   I<TAB>K<TAB>untrusted=PATH OWNER MODE  what another account controls on the way to it
# and, I being the venv's line number (from 0):
#   V<TAB>I<TAB>DIR             the venv the next lines are about
#   F<TAB>I<TAB>dir|missing     whether it is a real directory (not a link)
#   D<TAB>I<TAB>SP              the site-packages directory of its digest (`none`: none)
#   H<TAB>I<TAB>HOME            `home` in its pyvenv.cfg
#   M<TAB>I<TAB>LINE            the first line of its .wsgictl-requirements
#   R<TAB>I<TAB>DIGEST          the `installed=` line there
#   U<TAB>I<TAB>PATH OWNER MODE what an account other than root (or this one) controls on
#                               the way to bin/python, which is then not run
#   Y<TAB>I<TAB>TEXT            bin/python's version (3.11.2), or the first line it printed
#   L<TAB>SP<TAB>RELPATH        each site-packages entry two levels deep, bytecode left out
#   SHA  NAME                   sha256sum's own lines (`\SHA  NAME` for an escaped name)
# A venv without U or Y lines has no bin/python it could run.
# Needs `wsgictl_uid` and `state_file` (the gather's prelude).
gather_venvs() {
  nl='
'
  tab='	'
  : "${wsgictl_uid:=$(id -u)}"
  cache=$1
  venvs=$2
  shift 2
  state_file "$cache" || cache=
  n=0
  sps=
  files=
  pythons=
  pypaths=
  ipythons=
  ipaths=
  k=0
  for p in "$@"; do
    ipythons=$ipythons"p$k$tab$p$nl"
    ipaths=$ipaths$p$nl
    k=$((k + 1))
  done
  # The lines the trust walk's `awk` reads for H, M and R: number, tag, file.
  vfiles=
  set -f
  IFS=$nl
  # shellcheck disable=SC2086 # split on newlines only, globbing off
  for v in $venvs; do
    unset IFS
    set +f
    i=$n
    n=$((n + 1))
    echo "V$tab$i$tab$v"
    if [ -d "$v" ] && [ ! -L "$v" ]; then echo "F$tab$i${tab}dir"; else echo "F$tab$i${tab}missing"; fi
    sp=none
    for s in "$v"/lib/python*/site-packages; do
      [ -d "$s" ] || continue
      sp=$s
      sps=$sps$s$nl
      break
    done
    echo "D$tab$i$tab$sp"
    for f in "$v/.wsgictl-requirements" "$v/pyvenv.cfg"; do
      if [ -f "$f" ] && [ -r "$f" ]; then files=$files$f$nl; fi
    done
    [ -e "$v/bin/python" ] || continue
    pythons=$pythons$i$tab$v/bin/python$nl
    pypaths=$pypaths$v/bin/python$nl
    if [ -r "$v/pyvenv.cfg" ]; then vfiles=$vfiles$i${tab}H$tab$v/pyvenv.cfg$nl; fi
    if [ -r "$v/.wsgictl-requirements" ]; then
      vfiles=$vfiles$i${tab}M$tab$v/.wsgictl-requirements$nl
    fi
  done
  set -f
  IFS=$nl
  # shellcheck disable=SC2086 # split on newlines only, globbing off
  {
    # As `site_digest` lists them: `find .` in each site-packages.
    [ -z "$sps" ] || find $sps -maxdepth 2 ! -name __pycache__ ! -name '*.pyc' -printf "L\t%H\t%P\n"
    [ -z "$files" ] || sha256sum -- $files 2>/dev/null
  }
  unset IFS
  set +f
  # The interpreters join the venvs' pythons: one trust walk, one run of each binary.
  pythons=$pythons$ipythons
  pypaths=$pypaths$ipaths
  [ -n "$pythons" ] || return 0
  # The trust walk of every python at once: as given, then with its links resolved, each
  # path and the directories above it, in one `stat`; the first someone else controls.
  # Lists are split in memory and become arguments once (`set -- "$@" X` in a loop copies
  # every argument each time: quadratic).
  set -f
  IFS=$nl
  # shellcheck disable=SC2086 # split on newlines only, globbing off
  set -- $pypaths
  resolved=$(realpath -m -- "$@")
  # shellcheck disable=SC2086 # as above; each python's resolved path, in its order
  set -- $resolved
  chains=
  walk=
  for l in $pythons; do
    i=${l%%"$tab"*}
    p=${l#*"$tab"}
    r=${1-}
    [ $# -eq 0 ] || shift
    chain="C$tab$i"
    for w in "$p" "$r"; do
      cur=$w
      while [ -n "$cur" ]; do
        walk=$walk$cur$nl
        chain=$chain$tab$cur
        case "$cur" in */*) cur=${cur%/*} ;; *) cur= ;; esac
      done
      chain=$chain$tab/
    done
    chains=$chains$chain$tab$r$nl
  done
  # shellcheck disable=SC2086 # as above
  set -- $walk
  unset IFS
  set +f
  # Each line: number, resolved binary, python, what is untrusted, the binary's key (or -),
  # its kept version and library (or - -), and 1 when its ctime is old enough to keep; and
  # first the H, M and R lines of the files in `vfiles` (an unreadable one gives none).
  verdicts=$({ stat --printf "S\t%u\t%a\t%U\t%F\t%d:%i:%s:%Y:%Z\t%n\n" -- "$@" / 2>/dev/null; printf '%s' "$chains"; } | wsgictl_vf=$vfiles awk -F "$tab" -v me="$wsgictl_uid" -v cache="$cache" '
    BEGIN {
      nf = split(ENVIRON["wsgictl_vf"], vf, "\n")
      for (j = 1; j <= nf; j++) {
        if (split(vf[j], e, "\t") != 3) continue
        first = 1
        while ((getline l < e[3]) > 0) {
          if (e[2] == "H" && l ~ /^home ?=/) { sub(/^[^=]*=/, "", l); sub(/^ /, "", l); print "H\t" e[1] "\t" l }
          if (e[2] == "M") {
            if (first) print "M\t" e[1] "\t" l
            if (l ~ /^installed=/) print "R\t" e[1] "\t" substr(l, 11)
          }
          first = 0
        }
        close(e[3])
      }
      srand(); now = srand()
      if (cache != "") while ((getline l < cache) > 0) if (split(l, a, "\t") == 5 && a[1] == "1") { ck[a[2]] = a[3]; cv[a[2]] = a[4]; cl[a[2]] = a[5] }
    }
    $1 == "S" {
      w = ($3 ~ /[2367].$/ || $3 ~ /[2367]$/)
      if ($5 == "symbolic link" || $3 ~ /^[1357]...$/) w = 0
      if (($2 != 0 && $2 != me) || w) bad[$7] = $7 " " $4 " " $3
      if ($5 == "regular file") key[$7] = $6
      next
    }
    $1 == "C" {
      v = ""
      for (k = 3; k < NF; k++) if ($k in bad) { v = bad[$k]; break }
      r = $NF; kr = "-"; ver = "-"; lib = "-"; old = 0
      if (r in key) { kr = key[r]; split(kr, t, ":"); old = t[5] + 2 < now }
      if (kr != "-" && (r in ck) && ck[r] == kr) { ver = cv[r]; lib = cl[r] }
      print $2 "\t" r "\t" $3 "\t" v "\t" kr "\t" ver "\t" lib "\t" old
    }')
  # Each distinct binary runs once, without site and the PYTHON* variables (-E -S: a third
  # of its start-up, and nothing here needs them); every venv and interpreter that resolves
  # to it shares its answer. The packages a venv needs are looked for in the standard
  # library's directory, not imported (importing ensurepip costs more than starting Python).
  prog='import os, sys
print("version=%d.%d.%d" % sys.version_info[:3])
try:
    d = os.path.dirname(os.__file__)
    ok = all(os.path.isfile(os.path.join(d, m, "__init__.py")) for m in ("ensurepip", "venv"))
    print("stdlib=" + d)
except BaseException:
    ok = False
print("venv=yes" if ok else "venv=no")'
  ran=$nl
  new=
  set -f
  IFS=$nl
  for l in $verdicts; do
    case $l in [HMR]"$tab"*) printf '%s\n' "$l"; continue ;; esac
    i=${l%%"$tab"*}
    l=${l#*"$tab"}
    r=${l%%"$tab"*}
    l=${l#*"$tab"}
    p=${l%%"$tab"*}
    l=${l#*"$tab"}
    u=${l%%"$tab"*}
    l=${l#*"$tab"}
    key=${l%%"$tab"*}
    l=${l#*"$tab"}
    kv=${l%%"$tab"*}
    l=${l#*"$tab"}
    kl=${l%%"$tab"*}
    old=${l#*"$tab"}
    [ -n "$i" ] || continue
    if [ -n "$u" ]; then
      case $i in
        p*) echo "I$tab${i#p}${tab}untrusted=$u" ;;
        *) echo "U$tab$i$tab$u"; echo "Y$tab$i${tab}not run as root" ;;
      esac
      continue
    fi
    if [ ! -x "$p" ]; then
      case $i in p*) echo "I$tab${i#p}${tab}missing" ;; esac
      continue
    fi
    # Its answer: the version (empty when it did not run), venv=, and the first line it
    # printed (what a venv shows when it does not run).
    case $ran in
      *"$nl$r$tab"*) e=${ran#*"$nl$r$tab"}; e=${e%%"$nl"*} ;;
      *)
        # A venv's own copy of a binary finds its library through the pyvenv.cfg beside or
        # above it: never kept.
        own=
        if [ -e "${r%/*}/pyvenv.cfg" ] || [ -e "${r%/*/*}/pyvenv.cfg" ]; then own=y; fi
        if [ "$kv" != - ] && [ -z "$own" ]; then
          ver=$kv
          vv=no
          if [ -f "$kl/ensurepip/__init__.py" ] && [ -f "$kl/venv/__init__.py" ]; then vv=yes; fi
          e=$ver$tab$vv${tab}version=$ver
        else
          st=0
          out=$("$p" -E -S -c "$prog" 2>&1 </dev/null) || st=$?
          ver=
          vv=no
          lib=
          for o in $out; do
            case $o in
              version=*) [ -n "$ver" ] || ver=${o#version=} ;;
              stdlib=/*) [ -n "$lib" ] || lib=${o#stdlib=} ;;
              venv=yes) vv=yes ;;
            esac
          done
          [ "$st" = 0 ] || ver=
          e=$ver$tab$vv$tab${out%%"$nl"*}
          case $ver$lib in *"$tab"*) lib= ;; esac
          if [ -n "$ver" ] && [ -n "$lib" ] && [ "$key" != - ] && [ "$old" = 1 ] && [ -z "$own" ]; then
            new=$new"1$tab$r$tab$key$tab$ver$tab$lib$nl"
          fi
        fi
        ran=$ran$r$tab$e$nl
        ;;
    esac
    ver=${e%%"$tab"*}
    e=${e#*"$tab"}
    vv=${e%%"$tab"*}
    first=${e#*"$tab"}
    case $i in
      p*)
        if [ -n "$ver" ]; then
          echo "I$tab${i#p}${tab}version=$ver"
          echo "I$tab${i#p}${tab}venv=$vv"
        else
          echo "I$tab${i#p}${tab}missing"
        fi
        ;;
      *) echo "Y$tab$i$tab${ver:-$first}" ;;
    esac
  done
  unset IFS
  set +f
  # The new answers join those kept for other binaries (another manifest's interpreters).
  if [ -n "$new" ] && [ -n "$cache" ]; then
    (
      umask 077
      printf '%s' "$new" | awk -F "$tab" -v cache="$cache" -v out="$cache.new.$$" '
        BEGIN { while ((getline l < cache) > 0) if (split(l, a, "\t") == 5 && a[1] == "1") kept[a[2]] = l }
        { kept[$2] = $0 }
        END { printf "" > out; for (r in kept) print kept[r] > out; close(out) }' && mv -f "$cache.new.$$" "$cache"
    ) 2>/dev/null || rm -f "$cache.new.$$"
  fi
}
