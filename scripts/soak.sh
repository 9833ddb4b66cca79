#!/usr/bin/env bash
# scripts/soak.sh SOAK [ARGS...]: runs the soak (`make soak`) so that nothing it starts
# outlives it. Every process of the run carries LIVEHOOK_SOAK_RUN=<run> in its environment
# (the soak, its emulator, relay and pump inherit it); however the run ends (the soak finishes
# or fails, is killed even by SIGKILL, or this script is interrupted or terminated) whatever
# still carries the mark is killed, and then nothing may: the last line says so, or names
# what is left and the exit status is 1. The mark is `soak-<this script's pid>`
# (scripts/soak_cleanup_test.sh looks for it).
set -uo pipefail

run=soak-$$
export LIVEHOOK_SOAK_RUN=$run

# The pids whose environment carries the mark: read by processes without it (the
# subshell forgets it before grep runs), so the scan never finds itself.
marked() {
  (
    unset LIVEHOOK_SOAK_RUN
    grep -lsxz -- "LIVEHOOK_SOAK_RUN=$run" /proc/[0-9]*/environ | cut -d/ -f3
  )
}

# The command lines of `pids`, for the message.
named() {
  local pid
  for pid in "$@"; do
    printf '  %s %s\n' "$pid" "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-120)"
  done
}

status=0
soak=""
finish() {
  trap - EXIT INT TERM HUP
  local left
  left=$(marked)
  if [ -n "$left" ] && [ "$status" -lt 128 ]; then
    # The soak ended on its own: what it stopped may take a moment to go.
    for _ in 1 2 3 4 5 6; do
      sleep 0.5
      left=$(marked)
      [ -z "$left" ] && break
    done
  fi
  if [ -n "$left" ]; then
    echo "soak: stopping what the run left running:" >&2
    named $left >&2
    kill -KILL $left 2>/dev/null
    [ -n "$soak" ] && wait "$soak" 2>/dev/null
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      left=$(marked)
      [ -z "$left" ] && break
      sleep 0.5
    done
  fi
  if [ -n "$left" ]; then
    echo "soak: still running after SIGKILL:" >&2
    named $left >&2
    exit 1
  fi
  echo "soak: nothing left running (run $run)" >&2
  exit "$status"
}
trap finish EXIT
trap 'status=130; exit' INT
trap 'status=143; exit' TERM
trap 'status=129; exit' HUP

"$@" &
soak=$!
wait "$soak"
status=$?
