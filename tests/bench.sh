#!/usr/bin/env bash
# The benchmark: first apply, no-op plan and no-op apply against the lab (real sshd, a
# running Apache instance, Django from PyPI) for 1, 5, 10 and 50 apps on one host, and the
# programs the no-op gather starts, as a Markdown table of wall time and exec channels.
# Root, Debian 12. Sizes can be narrowed:
#   WSGICTL_BENCH_APPS=1,10 tests/bench.sh
# With WSGICTL_BENCH_PEERS=1, also the peers' table: the same no-op change detection by
# ansible-playbook --check --diff and pyinfra --dry (installed from PyPI into a throwaway
# venv under target/) against 5 converged apps (WSGICTL_BENCH_PEER_APPS), in the same run.
# With --rtt [MS] (default 20), every no-op plan is also measured through a delay proxy the
# benchmark starts on loopback (MS round trip): a column of each table.
#   WSGICTL_BENCH_PEERS=1 tests/bench.sh --rtt
set -euo pipefail
if [ "${1:-}" = --rtt ]; then
    export WSGICTL_BENCH_RTT_MS=${2:-20}
fi
cd "$(dirname "$0")/.."
bash tests/deps.sh
out=$(mktemp)
trap 'rm -f "$out"' EXIT
run() {
    if cargo test --release --locked --test integration "$1" -- --ignored --nocapture --test-threads 1 > "$out" 2>&1; then
        grep '^|' "$out"
    else
        cat "$out" >&2
        exit 1
    fi
}
run bench_apply_and_plan
if [ "${WSGICTL_BENCH_PEERS:-}" = 1 ]; then
    peers=$PWD/target/bench-peers
    if [ ! -x "$peers/bin/pyinfra" ] || [ ! -x "$peers/bin/ansible-playbook" ]; then
        rm -rf "$peers"
        python3 -m venv "$peers"
        "$peers/bin/pip" install -q ansible-core pyinfra
    fi
    echo
    WSGICTL_BENCH_PEERS_BIN=$peers/bin run bench_peers
fi
