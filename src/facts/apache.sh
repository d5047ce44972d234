# shellcheck shell=sh
# The gather's Apache probe (`facts::apache`, parsed by `facts::parse::apache`): which
# Apache, how it is configured, whether it runs. Apache parses its configuration once, for
# every dump at the same time (-t with DUMP_INCLUDES, DUMP_VHOSTS, DUMP_RUN_CFG and
# DUMP_MODULES: what -S, -M and -t -D DUMP_INCLUDES print), not once per question; one `awk`
# reads that dump and one the included files.
#
# $1: the configuration directory from the manifest, or empty for the layout's default.
# Needs `test_as` and `wsgictl_uid` (the gather's prelude).
# Prints `key=value` lines: layout, confdir, version, user, group, run_dir, run_dir_denied,
# running, module (one each), wsgi_load, listen, daemon, vhost (PORT NAME FILE), wsgi_so,
# wsgi_python; `layout=none` alone without Apache.
confdir=$1
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
# The version as `-v` prints it, which is one string in the binary (`Apache/2.4.62
# (Debian)`: AP_SERVER_BASEVERSION " (" PLATFORM ")"), read there: every run of Apache ends
# with a 10 ms sleep. `-v` itself where the binary does not hold it.
bin=$ctl
case $bin in */*) ;; *) bin=$(command -v "$bin") ;; esac
v=$(grep -a -o -m 1 'Apache/[0-9][0-9.]* ([^)]*)' "$bin" 2>/dev/null)
v=${v%%"$nl"*}
if [ -n "$v" ]; then
  echo "version=$v"
else
  "$ctl" "$@" -v 2>/dev/null | while IFS= read -r l; do
    case $l in 'Server version: '*) echo "version=${l#Server version: }" ;; esac
  done
fi
echo "run_dir=$rundir"
# Sections of the dump, by their headings; `files=` lines are the included files (the main
# one too), one per line.
dump=$("$ctl" "$@" -t -D DUMP_INCLUDES -D DUMP_VHOSTS -D DUMP_RUN_CFG -D DUMP_MODULES 2>/dev/null | awk '
  function file(x) { sub(/^\(/, "", x); sub(/:[0-9]*\)$/, "", x); return x }
  /^Included configuration files:/ { s = "inc"; next }
  /^VirtualHost configuration:/ { s = "vh"; next }
  /^Loaded Modules:/ { s = "mod"; next }
  /^ServerRoot: / { s = "cfg"; next }
  s == "inc" && $1 ~ /^\([0-9*]*\)$/ { sub(/^ *\([0-9*]*\) /, ""); print "file=" $0; next }
  s == "vh" && $1 == "port" && $3 == "namevhost" { port = $2; f = file($5); print "vhost=" port " " $4 " " f; next }
  s == "vh" && $1 == "alias" && port != "" { print "vhost=" port " " $2 " " f; next }
  s == "vh" && $1 ~ /:[0-9]+$/ && $2 != "is" && NF >= 3 { p = $1; sub(/.*:/, "", p); print "vhost=" p " " $2 " " file($3); next }
  s == "cfg" && $1 == "User:" && match($2, /^name="[^"]*"/) { print "user=" substr($2, 7, RLENGTH - 7); next }
  s == "cfg" && $1 == "Group:" && match($2, /^name="[^"]*"/) { print "group=" substr($2, 7, RLENGTH - 7); next }
  s == "mod" && $1 ~ /^[a-z0-9_]+$/ && $2 ~ /^\(/ { print "module=" $1 }')
# Split in memory (`read` would take a byte per system call from a pipe).
# The files become arguments once: `set -- "$@" X` in a loop copies every argument each time.
au=
files=
set -f
IFS=$nl
for l in $dump; do
  case $l in
    file=*) f=${l#file=}; if [ -r "$f" ]; then files=$files$f$nl; fi ;;
    user=*) au=${l#user=}; printf '%s\n' "$l" ;;
    ?*) printf '%s\n' "$l" ;;
  esac
done
if [ -z "$files" ]; then
  # No dump (a configuration Apache refuses): every *.conf below the directory, as written.
  # shellcheck disable=SC2044 # split on newlines only, globbing off
  for f in $(find -L "$confdir" -name '*.conf' 2>/dev/null); do
    if [ -r "$f" ]; then files=$files$f$nl; fi
  done
fi
# shellcheck disable=SC2086 # split on newlines only, globbing off
set -- $files
unset IFS
set +f
if [ -d "$rundir" ] && [ -n "$au" ] && [ "$wsgictl_uid" = 0 ] && ! test_as "$au" -x "$rundir" 2>/dev/null; then
  echo "run_dir_denied=$(stat -c '%A %U %G' "$rundir")"
fi
pid=
[ -r "$pidfile" ] && IFS= read -r pid < "$pidfile"
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo running=yes; else echo running=no; fi
# The enabled module's file, from its LoadModule line (`module_so=`, not printed); found
# below among every *.load and *wsgi*.conf when it is not enabled.
found=
[ $# -eq 0 ] || found=$(awk '
  FNR == 1 { skip = FILENAME ~ /\/(sites|conf|mods)-available\//; own = FILENAME ~ /\/(00-)?wsgictl\.conf$/ || FILENAME ~ /\/wsgictl-.*\.conf$/ }
  skip { next }
  tolower($1) == "loadmodule" && $2 == "wsgi_module" { print "wsgi_load=" FILENAME; if (!so++) { m = $3; gsub(/"/, "", m); print "module_so=" m } }
  own { next }
  tolower($1) == "listen" { print "listen=" $2 " " FILENAME }
  tolower($1) == "wsgidaemonprocess" { print "daemon=" $2 " " FILENAME }' "$@")
so=
set -f
IFS=$nl
for l in $found; do
  case $l in
    module_so=*) so=${l#module_so=} ;;
    ?*) printf '%s\n' "$l" ;;
  esac
done
unset IFS
set +f
[ -n "$so" ] || so=$(find -L "$confdir" \( -name '*.load' -o -name '*wsgi*.conf' \) -exec sed -n 's/^[[:space:]]*LoadModule[[:space:]]\{1,\}wsgi_module[[:space:]]\{1,\}//p' {} + 2>/dev/null | head -n 1)
case "$so" in /*) ;; ?*) so=$confdir/$so;; esac
if [ -n "$so" ]; then
  echo "wsgi_so=$so"
  # The libpython it needs, as its dynamic section names it (what ldd would resolve).
  py=$(grep -a -o -m 1 'libpython[0-9]*\.[0-9]*' "$so" 2>/dev/null)
  py=${py%%"$nl"*}
  [ -z "$py" ] || echo "wsgi_python=${py#libpython}"
fi
