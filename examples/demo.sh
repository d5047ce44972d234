#!/usr/bin/env bash
# The demo deploy: on a Debian 12 machine, as root, start a throwaway local target and deploy
# examples/single-app to it with `wsgictl apply`, exactly as to a remote host:
#   - sshd on 127.0.0.1:2222 with its own host key, pinned in a demo known_hosts;
#   - an account `wsgictl` with passwordless sudo, reached with a demo key;
#   - an Apache instance /etc/apache2-wsgictl-lab (Debian multi-instance) with mod_wsgi.
# Everything of the demo's own lives in /var/lib/wsgictl-demo; the app in /srv/blog.
# Prints the URL and the page's HTTP status; exits non-zero unless it is 200.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "demo.sh: run as root (it starts sshd and creates accounts)" >&2; exit 1; }

bash tests/deps.sh
cargo build --release --locked -q
wsgictl=$PWD/target/release/wsgictl

demo=/var/lib/wsgictl-demo
mkdir -p "$demo/home/.ssh" /run/sshd
chmod 700 "$demo/home/.ssh"
[ -f "$demo/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C wsgictl-demo-host -f "$demo/host_ed25519"
[ -f "$demo/home/.ssh/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C wsgictl-demo -f "$demo/home/.ssh/id_ed25519"
cp "$demo/home/.ssh/id_ed25519.pub" "$demo/authorized_keys"
echo "[127.0.0.1]:2222 $(cut -d ' ' -f 1,2 "$demo/host_ed25519.pub")" > "$demo/home/.ssh/known_hosts"

# The account wsgictl connects as, with passwordless sudo.
getent passwd wsgictl >/dev/null || useradd --create-home --shell /bin/sh wsgictl
usermod -p '*' wsgictl
echo 'wsgictl ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/wsgictl-demo
chmod 0440 /etc/sudoers.d/wsgictl-demo

# sshd on loopback, restarted if a previous demo left one.
if [ -f "$demo/sshd.pid" ]; then kill "$(cat "$demo/sshd.pid")" 2>/dev/null || true; sleep 0.2; fi
cat > "$demo/sshd_config" <<CONF
Port 2222
ListenAddress 127.0.0.1
HostKey $demo/host_ed25519
PidFile $demo/sshd.pid
AuthorizedKeysFile $demo/authorized_keys
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowUsers wsgictl
PermitRootLogin no
CONF
/usr/sbin/sshd -f "$demo/sshd_config"

# A Debian Apache instance of its own: no sites, no Listen lines (wsgictl writes them).
conf=/etc/apache2-wsgictl-lab
if [ ! -d "$conf" ]; then
    cp -a /etc/apache2 "$conf"
    rm -f "$conf"/sites-enabled/*
    echo "# Listen lines come from wsgictl's host-wide file" > "$conf/ports.conf"
fi
mkdir -p /var/log/apache2-wsgictl-lab

HOME=$demo/home "$wsgictl" apply --yes -f examples/single-app/site.kdl
url=http://127.0.0.1:8080/
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 -H 'Host: blog.example.com' "$url") || true
echo "demo: $url (Host: blog.example.com) → HTTP $code"
[ "$code" = 200 ]
# And ask the doctor: it requests the site, reads the logs since this apply, says healthy.
HOME=$demo/home "$wsgictl" doctor -f examples/single-app/site.kdl
