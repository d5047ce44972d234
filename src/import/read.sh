# shellcheck shell=sh
# wsgictl import, round trip 2 (src/import/remote.rs): the files the vhosts point at. Set
# before this by the caller: nonce, reader (the .wsgi reader's Python); after it, a loop that
# calls `answer KIND PATH` for each request. Each answer is one frame, its first line the
# request.
#   wsgi     the .wsgi read with the host's python3 (ast: never run)
#   project  a project directory: manage.py (read like a .wsgi), its settings packages
#   venv     pyvenv.cfg, the real interpreter, who controls it, the installed distributions
#            (never run)
#   dir      the scripts in a WSGIScriptAlias directory, each read like a .wsgi
#   htaccess every .htaccess below a DocumentRoot (three levels), in base64
#   exists   whether the path exists
# shellcheck disable=SC2154 # nonce and reader are set by the caller
frame() { printf 'WSGICTL %s BEGIN %s\n' "$nonce" "$1"; }
end() { printf 'WSGICTL %s END %s %s\n' "$nonce" "$1" "$2"; }
n=0
answer() {
  kind=$1
  path=$2
  n=$((n + 1))
  frame "$n"
  printf '%s %s\n' "$kind" "$path"
  case $kind in
    wsgi) python3 -I -c "$reader" "$path" </dev/null 2>&1 | grep '^wsgi=' | tail -n 1 ;;
    project)
      if [ -f "$path/manage.py" ]; then
        echo manage=yes
        python3 -I -c "$reader" "$path/manage.py" </dev/null 2>&1 | grep '^wsgi=' | tail -n 1
      fi
      for s in "$path"/*/settings.py "$path"/*/settings/__init__.py; do
        [ -f "$s" ] && echo "settings=${s#"$path"/}"
      done
      find "$path" -maxdepth 2 -name '*.sqlite3' -type f -printf 'sqlite=%P\n' 2>/dev/null
      grep -ls 'django.db.backends.sqlite3' "$path"/*/settings.py "$path"/*/settings/*.py |
        while IFS= read -r f; do echo "sqlite_settings=${f#"$path"/}"; done
      ;;
    venv)
      # pyvenv.cfg, or a virtualenv of before it (bin/python and site-packages only).
      if [ -f "$path/pyvenv.cfg" ] || [ -e "$path/bin/python" ]; then
        [ -f "$path/pyvenv.cfg" ] && sed 's/^/cfg=/' "$path/pyvenv.cfg"
        echo "python=$(readlink -f "$path/bin/python")"
        u=$(untrusted "$path/bin/python")
        [ -z "$u" ] || echo "untrusted=$u"
        for d in "$path"/lib/python*/site-packages/*.dist-info; do
          [ -d "$d" ] && echo "dist=${d##*/}"
        done
      fi
      ;;
    dir)
      for f in "$path"/*.wsgi "$path"/*.py; do
        [ -f "$f" ] || continue
        echo "entry=${f##*/}"
        python3 -I -c "$reader" "$f" </dev/null 2>&1 | grep '^wsgi=' | tail -n 1
      done
      ;;
    htaccess)
      find "$path" -maxdepth 3 -name .htaccess -type f 2>/dev/null | while IFS= read -r f; do
        echo "file=$f"
        base64 < "$f"
        echo "end="
      done
      ;;
    exists) if [ -e "$path" ]; then echo yes; else echo no; fi ;;
  esac
  end "$n" $?
}
