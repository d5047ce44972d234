# shellcheck shell=sh
# The gather's pass over every source tree and every app's releases a plan looks at
# (`facts::trees`): one `find` lists the files of every tree and of every release's `src`,
# one `sha256sum` (through `find -exec … +`) reads the trees' files, one `find` reads the
# `current` and static links, whatever the number of apps and releases. The fingerprints are
# computed in Rust from the listing; nothing here hashes per tree. One `awk` reads every
# release's record (dash's `read` takes a byte per system call: a millisecond per kilobyte).
#
# gather_trees DATA
#   DATA: `T<TAB>DIR` (a tree: its files, modes and sha256s) or `R<TAB>ROOT<TAB>STATIC` (an
#   app's releases below ROOT, and its static link), one per line; I below is the line's
#   number (from 0).
# Prints:
#   T<TAB>I<TAB>dir|missing           whether the tree is a real directory (not a link)
#   X<TAB>I<TAB>ROOT<TAB>STATIC       the releases' app root and static link
#   G<TAB>I                           ROOT/src is a real directory (code from before releases)
#   W<TAB>I<TAB>ID<TAB>LINE           a line of release ID's record (.wsgictl-release)
#   P<TAB>I<TAB>ID                    a release directory without a record
#   S<TAB>I<TAB>ID<TAB>dir|missing<TAB>DIR  release ID's code (listed below when a dir)
#   K<TAB>PATH<TAB>TYPE<TAB>TARGET    find's %y and %l of each `current` and static path
#   F<TAB>DIR<TAB>REL MODE SIZE MTIME each regular file below a tree or release code
#   SHA  NAME                         sha256sum's own lines, for the trees' files
gather_trees() {
  nl='
'
  tab='	'
  n=0
  listed=
  hashed=
  links=
  records=
  set -f
  IFS=$nl
  # shellcheck disable=SC2086 # split on newlines only, globbing off
  set -- $1
  unset IFS
  set +f
  for line in "$@"; do
    kind=${line%%"$tab"*}
    a=${line#*"$tab"}
    b=
    case $a in *"$tab"*) b=${a#*"$tab"}; a=${a%%"$tab"*} ;; esac
    i=$n
    n=$((n + 1))
    case $kind in
      T)
        if [ -d "$a" ] && [ ! -L "$a" ]; then
          echo "T$tab$i${tab}dir"
          case $nl$listed in *"$nl$a$nl"*) ;; *) listed=$listed$a$nl ;; esac
          case $nl$hashed in *"$nl$a$nl"*) ;; *) hashed=$hashed$a$nl ;; esac
        else
          echo "T$tab$i${tab}missing"
        fi
        ;;
      R)
        echo "X$tab$i$tab$a$tab$b"
        for l in "$a/current" "$b"; do
          if [ -e "$l" ] || [ -L "$l" ]; then links=$links$l$nl; fi
        done
        if [ -d "$a/src" ] && [ ! -L "$a/src" ]; then echo "G$tab$i"; fi
        for d in "$a"/releases/*; do
          if [ ! -d "$d" ] || [ -L "$d" ]; then continue; fi
          id=${d##*/}
          if [ -f "$d/.wsgictl-release" ]; then
            records=$records$i$nl$d/.wsgictl-release$nl
            if [ -d "$d/src" ] && [ ! -L "$d/src" ]; then
              echo "S$tab$i$tab$id${tab}dir$tab$d/src"
              case $nl$listed in *"$nl$d/src$nl"*) ;; *) listed=$listed$d/src$nl ;; esac
            else
              echo "S$tab$i$tab$id${tab}missing$tab$d/src"
            fi
          else
            echo "P$tab$i$tab$id"
          fi
        done
        ;;
    esac
  done
  # Each record's lines as `W` lines: its app's number and its path, two arguments each; an
  # unreadable one gives none, and the rest are still read.
  set -f
  IFS=$nl
  # shellcheck disable=SC2086 # split on newlines only, globbing off
  [ -z "$records" ] || awk '
    BEGIN {
      for (k = 1; k + 1 < ARGC; k += 2) {
        f = ARGV[k + 1]; id = f; sub(/\/\.wsgictl-release$/, "", id); sub(/.*\//, "", id)
        while ((getline l < f) > 0) print "W\t" ARGV[k] "\t" id "\t" l
        close(f)
      }
    }' $records
  # shellcheck disable=SC2086 # as above
  {
    [ -z "$links" ] || find $links -maxdepth 0 -printf "K\t%p\t%y\t%l\n" 2>/dev/null
    [ -z "$listed" ] || find $listed -type f -printf "F\t%H\t%P %m %s %T@\n"
    [ -z "$hashed" ] || find $hashed -type f -exec sha256sum -- {} +
  }
  unset IFS
  set +f
}
