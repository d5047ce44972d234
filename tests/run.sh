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
cargo test --locked
