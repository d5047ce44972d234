#!/usr/bin/env bash
# Installs the Debian packages wsgictl's tests and demo need, when any is missing.
set -euo pipefail
packages=(apache2 libapache2-mod-wsgi-py3 openssh-server sudo acl python3-venv curl openssl certbot pebble cron shellcheck
          build-essential pkg-config libssl-dev zlib1g-dev)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    echo "installing: ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
