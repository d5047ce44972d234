# shellcheck shell=sh
# wsgictl import, round trip 1 (src/import/remote.rs): what Apache says of its own
# configuration, then every file it reads. Set before this by the caller: nonce, confdir.
# Frames: 1 DUMP_INCLUDES, 2 DUMP_RUN_CFG, 3 -M, 4 -S, 5 envvars; 101… one file each (its path, its
# real path, then its bytes in base64).
# shellcheck disable=SC2154 # nonce and confdir are set by the caller
frame() { printf 'WSGICTL %s BEGIN %s\n' "$nonce" "$1"; }
end() { printf 'WSGICTL %s END %s %s\n' "$nonce" "$1" "$2"; }
if command -v apache2ctl >/dev/null 2>&1; then
  [ -n "$confdir" ] || confdir=/etc/apache2
  APACHE_CONFDIR=$confdir
  export APACHE_CONFDIR
  ctl() { apache2ctl "$@"; }
elif command -v httpd >/dev/null 2>&1; then
  if [ -n "$confdir" ] && [ "$confdir" != /etc/httpd ]; then
    ctl() { httpd -d "$confdir" "$@"; }
  else
    ctl() { httpd "$@"; }
  fi
else
  frame 0
  echo "neither apache2ctl nor httpd is installed"
  end 0 1
  exit 0
fi
frame 1; ctl -t -D DUMP_INCLUDES 2>&1 </dev/null; end 1 $?
frame 2; ctl -t -D DUMP_RUN_CFG 2>&1 </dev/null; end 2 $?
frame 3; ctl -M 2>&1 </dev/null; end 3 $?
frame 4; ctl -S 2>&1 </dev/null; end 4 $?
# Apache expands ${NAME} from its environment too: Debian's envvars sets APACHE_*.
frame 5
# shellcheck disable=SC1091 # the host's own envvars
if [ -r "$confdir/envvars" ]; then (. "$confdir/envvars" >/dev/null 2>&1; env) | grep '^APACHE_[A-Z_]*='; fi
end 5 0
ctl -t -D DUMP_INCLUDES 2>/dev/null </dev/null | sed -n 's/^ *([^)]*) //p' | {
  n=100
  while IFS= read -r f; do
    n=$((n + 1))
    frame "$n"
    printf '%s\n%s\n' "$f" "$(readlink -f "$f")"
    base64 < "$f"
    end "$n" $?
  done
}
