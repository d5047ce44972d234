# shellcheck shell=sh
# The gather's pass over every source tree and every app's releases a plan looks at
# (`facts::trees`): one `find` lists the files of every tree and of every release's `src`,
# one `sha256sum` (through `find -exec … +`) reads the trees' files, one `find` reads the
# `current` and static links, whatever the number of apps and releases. The fingerprints are
# computed in Rust from the listing; nothing here hashes per tree.
#
# gather_trees < DATA
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
  while IFS="$tab" read -r kind a b; do
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
            while IFS= read -r l || [ -n "$l" ]; do echo "W$tab$i$tab$id$tab$l"; done <"$d/.wsgictl-release"
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
  set -f
  IFS=$nl
  # shellcheck disable=SC2086 # split on newlines only, globbing off
  {
    [ -z "$links" ] || find $links -maxdepth 0 -printf "K\t%p\t%y\t%l\n" 2>/dev/null
    [ -z "$listed" ] || find $listed -type f -printf "F\t%H\t%P %m %s %T@\n"
    [ -z "$hashed" ] || find $hashed -type f -exec sha256sum -- {} +
  }
  unset IFS
  set +f
}
