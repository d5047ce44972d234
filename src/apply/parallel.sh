# shellcheck shell=sh
# shellcheck disable=SC2154 # bk (the run's backup directory) and fail come from the prelude
# Jobs of the apply script that run side by side, at most one per core of the host: the
# venvs of different apps. A job is a function; it runs in a subshell with its output in
# "$bk/par.K.log", and `fail` there writes the step it was in, the failure's word and message
# to "$bk/par.K.failed" instead of stopping the run. Once every job has ended, the script
# announces the steps of the jobs that succeeded, then those of the ones that did not up to
# where each failed, and fails there as it would have run them one by one.
par_max=$(nproc 2>/dev/null) || par_max=1
[ "$par_max" -ge 1 ] 2>/dev/null || par_max=1
par_n=0
par_q=
par_at=
# par_start K FUNCTION: run job K in the background once a core is free.
par_start() {
  par_k=$1
  (
    fail() { { printf '%s\n' "$par_at" "$@"; } > "$bk/par.$par_k.failed"; exit 1; }
    "$2"
  ) > "$bk/par.$1.log" 2>&1 </dev/null &
  par_q="$par_q $1:$!"
  par_n=$((par_n + 1))
  [ "$par_n" -lt "$par_max" ] || par_reap
}
# Wait for the oldest running job and keep its exit status.
par_reap() {
  # shellcheck disable=SC2086 # the queue is words "K:PID"
  set -- $par_q
  par_e=$1
  shift
  par_q="$*"
  wait "${par_e#*:}"
  echo $? > "$bk/par.${par_e%%:*}.rc"
  par_n=$((par_n - 1))
}
par_all() { while [ "$par_n" -gt 0 ]; do par_reap; done; }
par_ok() { [ "$(cat "$bk/par.$1.rc")" = 0 ]; }
# par_ended K: a job that stopped without `fail` (a stale path: `nolink` exits 76) stops the
# run as it would have, with what it printed.
par_ended() {
  par_rc=$(cat "$bk/par.$1.rc")
  if [ "$par_rc" != 0 ] && [ ! -e "$bk/par.$1.failed" ]; then cat "$bk/par.$1.log"; exit "$par_rc"; fi
}
# par_check K STEP: fail as job K did, when it failed in STEP.
par_check() {
  par_f="$bk/par.$1.failed"
  [ -e "$par_f" ] && [ "$(head -n 1 "$par_f")" = "$2" ] || return 0
  par_what=$(sed -n 2p "$par_f")
  par_rest=$(tail -n +3 "$par_f")
  if [ -n "$par_rest" ]; then fail "$par_what" "$par_rest"; else fail "$par_what"; fi
}
