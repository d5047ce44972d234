# shellcheck shell=sh
# The gather's Apache probe (`facts::apache`, parsed by `facts::parse::apache`): which
# Apache, how it is configured, whether it runs. Apache parses its configuration once, for
# every dump at the same time (-t with DUMP_INCLUDES, DUMP_VHOSTS, DUMP_RUN_CFG and
# DUMP_MODULES: what -S, -M and -t -D DUMP_INCLUDES print), not once per question; one `awk`
# reads that dump and one the included files.
#
# Apache's answer is kept in CACHE under what it depends on besides the files' text: the
# variables of its environment that can change it (PATH, APACHE_*, and every `${NAME}` the
# files name; no other, so no login's secret is written down), its command line, and one
# `stat` (device, inode, size, mtime, ctime, mode, owner) of its binary, `envvars`, every
# included file and its directory, every directory an `Include` pattern reads, and every
# file `LoadModule`, `LoadFile`, mod_ssl's file directives and `<IfFile>` name. While that
# holds, one `stat` and one `cat` stand for Apache's run, its two `awk`s and two `grep`s;
# whether it runs and whether its user can enter the run directory are asked every time.
# Kept only from a dump Apache gave, with every one of those paths' ctime more than two
# seconds older than the dump (a change during the dump is never taken for the state), and
# not when an `Include` or a file directive holds a variable, or a wildcard in a directory,
# or the module was found outside the configuration.
#
# $1: the configuration directory from the manifest, or empty for the layout's default.
# $2: CACHE, only read and written in a directory this account owns (wsgictl's state
#     directory), through a file named by this shell's PID and `mv`; empty for none.
# Needs `test_as`, `state_file` and `wsgictl_uid` (the gather's prelude).
# Prints `key=value` lines: layout, confdir, version, user, group, run_dir, run_dir_denied,
# running, module (one each), wsgi_load, listen, daemon, vhost (PORT NAME FILE), wsgi_so,
# wsgi_python; `layout=none` alone without Apache.
confdir=$1
cache=$2
nl='
'
: "${wsgictl_uid:=$(id -u)}"
if command -v apache2ctl >/dev/null 2>&1; then
  layout=debian; [ -n "$confdir" ] || confdir=/etc/apache2
  APACHE_CONFDIR=$confdir; export APACHE_CONFDIR
  # shellcheck disable=SC1091
  [ -r "$confdir/envvars" ] && . "$confdir/envvars"
  pidfile=${APACHE_PID_FILE:-/run/apache2/apache2.pid}
  rundir=${APACHE_RUN_DIR:-/run/apache2}
  # What `apache2ctl ARGS` runs, called directly: apache2ctl is a shell script that would
  # also create the run and lock directories on the way (a plan changes nothing on the host)
  # and costs a shell and an `id` each time. Its arguments are split as apache2ctl splits
  # them (the directory is `[A-Za-z0-9/._-]` only, the manifest's `confdir` rule).
  ctl=${APACHE_HTTPD:-/usr/sbin/apache2}
  args=${APACHE_ARGUMENTS:-}
  [ "$confdir" = /etc/apache2 ] || args="-d $confdir $args"
elif command -v httpd >/dev/null 2>&1; then
  layout=rhel; ctl=httpd; args=; [ -n "$confdir" ] || confdir=/etc/httpd
  pidfile=/run/httpd/httpd.pid
  rundir=/run/httpd
else
  echo layout=none; exit 0
fi
echo "layout=$layout"
echo "confdir=$confdir"
set -f
# shellcheck disable=SC2086 # split as apache2ctl splits them
set -- $args
set +f
echo "run_dir=$rundir"
args="$*"
state_file "$cache" || cache=

# apache_key PATHS: the key of Apache's answer (see above), PATHS one per line, `$NAME` for
# a variable the files name; no empty line (the kept key is read back without them).
apache_key() {
  k_=
  p_=
  v_=" "
  set -f
  IFS=$nl
  for l_ in $1; do
    case $l_ in '$'*) v_="$v_${l_#?} " ;; *) p_=$p_$l_$nl ;; esac
  done
  for l_ in $(export -p); do
    n_=${l_#export }
    n_=${n_%%=*}
    case $l_ in
      "export APACHE_"* | "export PATH="*) k_=$k_$l_$nl ;;
      "export "*) case $v_ in *" $n_ "*) k_=$k_$l_$nl ;; esac ;;
    esac
  done
  # shellcheck disable=SC2086 # split on newlines only, globbing off
  set -- $p_
  unset IFS
  set +f
  printf '%s%s\n' "$k_" "$ctl $args"
  stat -L -c '%Z %d:%i:%s:%y:%z:%a:%u:%g %n' -- "$@" 2>&1
}

# key_path PATH: PATH joins the key's paths (`kpaths`), once.
key_path() {
  case $nl$kpaths in *"$nl$1$nl"*) ;; *) kpaths=$kpaths$1$nl ;; esac
}

# The kept answer, split by a walk over its lines: dash's `${x#*pattern}` is quadratic in
# the length of x.
body=
if [ -n "$cache" ] && [ -f "$cache" ]; then
  c_=$(cat -- "$cache" 2>/dev/null) || c_=
  part=0
  kpaths=
  kbody=
  kkey=
  set -f
  IFS=$nl
  for l in $c_; do
    case $part$l in
      "0wsgictl-apache 1") part=p ;;
      0*) break ;;
      p@@body) part=b ;;
      p*) kpaths=$kpaths$l$nl ;;
      b@@key) part=k ;;
      b*) kbody=$kbody$l$nl ;;
      *) kkey=$kkey$l$nl ;;
    esac
  done
  unset IFS
  set +f
  if [ "$part" = k ] && [ -n "$kbody" ] && [ "$(apache_key "$kpaths")" = "${kkey%"$nl"}" ]; then
    body=${kbody%"$nl"}
  fi
fi

au=
if [ -n "$body" ]; then
  printf '%s\n' "$body"
  set -f
  IFS=$nl
  for l in $body; do
    case $l in user=*) au=${l#user=} ;; esac
  done
  unset IFS
  set +f
else
  keep=${cache:+yes}
  # The version as `-v` prints it, which is one string in the binary (`Apache/2.4.62
  # (Debian)`: AP_SERVER_BASEVERSION " (" PLATFORM ")"), read there: every run of Apache
  # ends with a 10 ms sleep. `-v` itself where the binary does not hold it.
  bin=$ctl
  case $bin in */*) ;; *) bin=$(command -v "$bin") ;; esac
  v=$(grep -a -o -m 1 'Apache/[0-9][0-9.]* ([^)]*)' "$bin" 2>/dev/null)
  v=${v%%"$nl"*}
  if [ -z "$v" ]; then
    v=$("$ctl" "$@" -v 2>/dev/null | while IFS= read -r l; do
      case $l in 'Server version: '*) echo "${l#Server version: }" ;; esac
    done)
  fi
  [ -z "$v" ] || body="version=$v$nl"
  # Sections of the dump, by their headings; `files=` lines are the included files (the
  # main one too), one per line; `now=` when the dump began, `root=` its ServerRoot.
  dump=$("$ctl" "$@" -t -D DUMP_INCLUDES -D DUMP_VHOSTS -D DUMP_RUN_CFG -D DUMP_MODULES 2>/dev/null | awk '
    function file(x) { sub(/^\(/, "", x); sub(/:[0-9]*\)$/, "", x); return x }
    BEGIN { srand(); print "now=" srand() }
    /^Included configuration files:/ { s = "inc"; next }
    /^VirtualHost configuration:/ { s = "vh"; next }
    /^Loaded Modules:/ { s = "mod"; next }
    /^ServerRoot: / { s = "cfg"; r = $2; gsub(/"/, "", r); print "root=" r; next }
    s == "inc" && $1 ~ /^\([0-9*]*\)$/ { sub(/^ *\([0-9*]*\) /, ""); print "file=" $0; next }
    s == "vh" && $1 == "port" && $3 == "namevhost" { port = $2; f = file($5); print "vhost=" port " " $4 " " f; next }
    s == "vh" && $1 == "alias" && port != "" { print "vhost=" port " " $2 " " f; next }
    s == "vh" && $1 ~ /:[0-9]+$/ && $2 != "is" && NF >= 3 { p = $1; sub(/.*:/, "", p); print "vhost=" p " " $2 " " file($3); next }
    s == "cfg" && $1 == "User:" && match($2, /^name="[^"]*"/) { print "user=" substr($2, 7, RLENGTH - 7); next }
    s == "cfg" && $1 == "Group:" && match($2, /^name="[^"]*"/) { print "group=" substr($2, 7, RLENGTH - 7); next }
    s == "mod" && $1 ~ /^[a-z0-9_]+$/ && $2 ~ /^\(/ { print "module=" $1 }')
  # Split in memory (`read` would take a byte per system call from a pipe).
  # The files become arguments once: `set -- "$@" X` in a loop copies every argument each
  # time. The key's paths gather the files and their directories, each once.
  files=
  now=0
  root=$confdir
  kpaths=$bin$nl$confdir/envvars$nl$confdir$nl
  set -f
  IFS=$nl
  for l in $dump; do
    case $l in
      file=*)
        f=${l#file=}
        if [ -r "$f" ]; then files=$files$f$nl; fi
        key_path "$f"
        key_path "${f%/*}"
        ;;
      now=*) now=${l#now=} ;;
      root=*) root=${l#root=} ;;
      user=*) au=${l#user=}; body=$body$l$nl ;;
      ?*) body=$body$l$nl ;;
    esac
  done
  if [ -z "$files" ]; then
    # No dump (a configuration Apache refuses): every *.conf below the directory, as
    # written; not kept.
    keep=
    # shellcheck disable=SC2044 # split on newlines only, globbing off
    for f in $(find -L "$confdir" -name '*.conf' 2>/dev/null); do
      if [ -r "$f" ]; then files=$files$f$nl; fi
    done
  fi
  # shellcheck disable=SC2086 # split on newlines only, globbing off
  set -- $files
  unset IFS
  set +f
  # The enabled module's file, from its LoadModule line (`module_so=`, not printed); found
  # below among every *.load and *wsgi*.conf when it is not enabled. `k=` lines are the
  # key's paths the files name, `nocache=` one it cannot hold.
  found=
  [ $# -eq 0 ] || found=$(awk -v root="$root" '
    function arg(x) { gsub(/^"|"$/, "", x); return x }
    function key(x) {
      if (x == "") return
      if (x ~ /[$]/) { print "nocache=" FILENAME; return }
      if (x !~ /^\//) x = root "/" x
      print "k=" x
    }
    FNR == 1 { skip = FILENAME ~ /\/(sites|conf|mods)-available\//; own = FILENAME ~ /\/(00-)?wsgictl\.conf$/ || FILENAME ~ /\/wsgictl-.*\.conf$/ }
    { d = tolower($1) }
    d == "include" || d == "includeoptional" {
      p = arg($2); n = split(p, c, "/")
      if (c[n] ~ /[*?[]/) sub(/\/[^\/]*$/, "", p)
      if (p ~ /[*?[]/) print "nocache=" FILENAME; else key(p)
    }
    d == "loadmodule" { key(arg($3)) }
    d == "loadfile" { for (i = 2; i <= NF; i++) key(arg($i)) }
    d ~ /^sslcertificate(key|chain)?file$/ || d ~ /^sslca(certificate|revocation)(file|path)$/ { key(arg($2)) }
    d == "<iffile" { p = $2; sub(/>$/, "", p); p = arg(p); sub(/^!/, "", p); key(p) }
    /[$][{]/ { t = $0; while (match(t, /[$][{][A-Za-z_][A-Za-z0-9_]*[}]/)) { print "k=$" substr(t, RSTART + 2, RLENGTH - 3); t = substr(t, RSTART + RLENGTH) } }
    skip { next }
    d == "loadmodule" && $2 == "wsgi_module" { print "wsgi_load=" FILENAME; if (!so++) { m = $3; gsub(/"/, "", m); print "module_so=" m } }
    own { next }
    d == "listen" { print "listen=" $2 " " FILENAME }
    d == "wsgidaemonprocess" { print "daemon=" $2 " " FILENAME }' "$@")
  so=
  set -f
  IFS=$nl
  for l in $found; do
    case $l in
      module_so=*) so=${l#module_so=} ;;
      k=*) key_path "${l#k=}" ;;
      nocache=*) keep= ;;
      ?*) body=$body$l$nl ;;
    esac
  done
  unset IFS
  set +f
  if [ -z "$so" ]; then
    keep=
    so=$(find -L "$confdir" \( -name '*.load' -o -name '*wsgi*.conf' \) -exec sed -n 's/^[[:space:]]*LoadModule[[:space:]]\{1,\}wsgi_module[[:space:]]\{1,\}//p' {} + 2>/dev/null | head -n 1)
  fi
  case "$so" in /*) ;; ?*) so=$confdir/$so;; esac
  if [ -n "$so" ]; then
    body=${body}wsgi_so=$so$nl
    # The libpython it needs, as its dynamic section names it (what ldd would resolve).
    py=$(grep -a -o -m 1 'libpython[0-9]*\.[0-9]*' "$so" 2>/dev/null)
    py=${py%%"$nl"*}
    [ -z "$py" ] || body=${body}wsgi_python=${py#libpython}$nl
  fi
  body=${body%"$nl"}
  printf '%s\n' "$body"
  if [ -n "$keep" ] && [ -n "$body" ]; then
    key=$(apache_key "$kpaths")
    # Every path's ctime (the first field; a missing path's line has none) two seconds
    # older than the dump.
    set -f
    IFS=$nl
    for l in $key; do
      z=${l%% *}
      case $z in '' | *[!0-9]*) ;; *) [ $((z + 2)) -lt "$now" ] || keep= ;; esac
    done
    unset IFS
    set +f
    if [ -n "$keep" ]; then
      (
        umask 077
        printf 'wsgictl-apache 1\n%s@@body\n%s\n@@key\n%s\n' "$kpaths" "$body" "$key" >"$cache.new.$$" &&
          mv -f "$cache.new.$$" "$cache"
      ) 2>/dev/null || rm -f "$cache.new.$$"
    fi
  fi
fi
if [ -d "$rundir" ] && [ -n "$au" ] && [ "$wsgictl_uid" = 0 ] && ! test_as "$au" -x "$rundir" 2>/dev/null; then
  echo "run_dir_denied=$(stat -c '%A %U %G' "$rundir")"
fi
pid=
[ -r "$pidfile" ] && IFS= read -r pid < "$pidfile"
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo running=yes; else echo running=no; fi
