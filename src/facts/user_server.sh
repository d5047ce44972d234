# shellcheck shell=sh
# The rootless probe (facts/user_server.rs): $1 is the account's server root. Prints
# `name=value` lines; nothing here needs root or changes anything.
sr=$1
u=$(id -un)
echo "account=$u"
echo "group=$(id -gn)"
uid=$(id -u)
echo "uid=$uid"
home=$(getent passwd "$u" | cut -d: -f6)
echo "home=${home:-$HOME}"
echo "server_root=$sr"
httpd=
for b in /usr/sbin/apache2 /usr/sbin/httpd; do
  if [ -x "$b" ]; then httpd=$b; break; fi
done
if [ -n "$httpd" ]; then
  echo "httpd=$httpd"
  "$httpd" -v 2>/dev/null | sed -n 's/^Server version: /version=/p'
fi
for d in /usr/lib/apache2/modules /usr/lib64/httpd/modules /usr/lib/httpd/modules; do
  [ -d "$d" ] || continue
  echo "modules_dir=$d"
  for so in "$d"/mod_*.so; do
    [ -e "$so" ] || continue
    m=${so##*/mod_}
    m=${m%.so}
    case "$m" in wsgi_python3) m=wsgi;; esac
    echo "module=${m}_module"
  done
  for so in "$d/mod_wsgi.so" "$d/mod_wsgi_python3.so"; do
    [ -e "$so" ] || continue
    echo "wsgi_so=$so"
    ldd "$so" 2>/dev/null | sed -n 's/.*libpython\([0-9]*\.[0-9]*\).*/wsgi_python=\1/p' | head -n 1
    break
  done
  break
done
r=$(command -v rotatelogs 2>/dev/null) && echo "rotatelogs=$r"
pid=
if [ -r "$sr/run/httpd.pid" ]; then
  pid=$(cat "$sr/run/httpd.pid" 2>/dev/null)
  case "$pid" in ''|*[!0-9]*) pid=;; esac
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo "pid=$pid"; else pid=; fi
fi
# Every listening TCP socket; the pids ss can name are the account's own processes.
ss -ltnpH 2>/dev/null | awk '{
  who = "-"; s = $0
  while (match(s, /pid=[0-9]+/)) { p = substr(s, RSTART + 4, RLENGTH - 4); who = (who == "-") ? p : who "," p; s = substr(s, RSTART + RLENGTH) }
  print "listen=" $4 " " who
}'
if [ -d /run/systemd/system ]; then echo systemd=yes; else echo systemd=no; fi
if [ -S "/run/user/$uid/systemd/private" ]; then
  echo user_manager=yes
  if XDG_RUNTIME_DIR=/run/user/$uid systemctl --user is-enabled --quiet wsgictl-apache.service 2>/dev/null; then echo unit_enabled=yes; fi
fi
if [ -e "/var/lib/systemd/linger/$u" ]; then echo linger=yes
elif [ "$(loginctl show-user "$u" -p Linger --value 2>/dev/null)" = yes ]; then echo linger=yes; fi
if ! command -v crontab >/dev/null 2>&1; then echo crontab=missing
elif out=$(crontab -l 2>&1 </dev/null); then
  echo crontab=yes
  printf 'crontab_text='; printf '%s\n' "$out" | base64 -w 0; echo
else
  case "$out" in
    "no crontab for"*) echo crontab=yes; echo crontab_text=;;
    *) echo crontab=no; printf 'crontab_error=%s\n' "$(printf '%s' "$out" | head -n 1)";;
  esac
fi
for c in cron crond; do
  if pgrep -x "$c" >/dev/null 2>&1; then echo cron_running=yes; break; fi
done
if findmnt -no OPTIONS -T "${home:-$HOME}" 2>/dev/null | tr ',' '\n' | grep -qx noexec; then echo noexec=yes; else echo noexec=no; fi
if command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1; then echo cc=yes; else echo cc=no; fi
if command -v apxs >/dev/null 2>&1 || command -v apxs2 >/dev/null 2>&1; then echo apxs=yes; else echo apxs=no; fi
exit 0
