#!/usr/bin/env bash
# The benchmark: first apply, no-op plan and no-op apply against the lab (real sshd, a
# running Apache instance, Django from PyPI) for 1, 5, 10 and 50 apps on one host, as a
# Markdown table of wall time and exec channels. Root, Debian 12. Sizes can be narrowed:
#   WSGICTL_BENCH_APPS=1,10 tests/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/deps.sh
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if cargo test --release --locked --test integration bench_apply_and_plan -- --ignored --nocapture --test-threads 1 > "$out" 2>&1; then
    grep '^|' "$out"
else
    cat "$out" >&2
    exit 1
fi
