#!/usr/bin/env bash
# wsgictl's test command: installs the Debian packages the suite needs when any is missing,
# then builds and runs every test (unit, fixtures, snapshots, real Apache configtest).
# Run it as root on Debian 12 (the Apache tests create the example apps' system accounts).
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/deps.sh

cargo build --locked
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --locked 2>&1 | tee "$log" || status=$?
# One total over every test binary, for people and CI alike.
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
