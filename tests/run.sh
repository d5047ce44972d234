#!/usr/bin/env bash
# wsgictl's test command: installs the Debian packages the suite needs when any is missing,
# then builds and runs every test (unit, fixtures, snapshots, real Apache configtest).
# Run it as root on Debian 12 (the Apache tests create the example apps' system accounts).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(apache2 libapache2-mod-wsgi-py3 openssh-server sudo acl python3-venv curl
          build-essential pkg-config libssl-dev zlib1g-dev)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    echo "tests/run.sh: installing ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cargo build --locked
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --locked 2>&1 | tee "$log" || status=$?
# One total over every test binary, for people and CI alike.
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
