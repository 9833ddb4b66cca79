#!/usr/bin/env bash
# scripts/soak_cleanup_test.sh: shows that a soak leaves nothing running however it ends.
# Starts short soaks through scripts/soak.sh (as `make soak` does) and ends each one a
# different way once its emulator, relay and pump are up: SIGKILL to the soak itself,
# SIGTERM to the script, SIGINT to its whole process group (as Ctrl-C on `make soak`), or
# the run's own end. Then no process may
# carry the run's mark (LIVEHOOK_SOAK_RUN=soak-<script pid>). Needs target/debug/soak,
# relay and livehook (`make soak` builds them); not part of `make test` (a minute or two).
#
# SOAK_RUNNER=env runs the soak without scripts/soak.sh, marked the same way, and only the
# SIGKILL case: what a killed soak left before (its relay and pump), so it fails.
set -euo pipefail
# Each run in its own process group, as a terminal's foreground job (its signals not ignored).
set -m
cd "$(dirname "$0")/.."

runner=${SOAK_RUNNER:-scripts/soak.sh}
out=$(mktemp -d)
failed=0
mark=""
# This test leaves nothing either, however it ends.
trap 'if [ -n "$mark" ]; then kill -KILL $(marked "$mark") 2>/dev/null || true; fi; rm -rf "$out"' EXIT

# The pids carrying `mark`, found by processes that do not carry it.
marked() {
  grep -lsxz -- "LIVEHOOK_SOAK_RUN=$1" /proc/[0-9]*/environ | cut -d/ -f3 || true
}

# Whether a process carrying `mark` runs `what` (a word of its command line).
running() {
  local pid
  for pid in $(marked "$1"); do
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$2" && return 0
  done
  return 1
}

one() {
  local how=$1 deliveries=$2 wrapper soak
  if [ "$runner" = env ]; then
    # The mark by hand, as scripts/soak.sh would set it.
    bash -c 'export LIVEHOOK_SOAK_RUN=soak-$$; exec "$@"' soak \
      target/debug/soak --deliveries "$deliveries" --out "$out/$how" >"$out/$how.log" 2>&1 &
  else
    "$runner" target/debug/soak --deliveries "$deliveries" --out "$out/$how" \
      >"$out/$how.log" 2>&1 &
  fi
  wrapper=$!
  mark=soak-$wrapper
  for _ in $(seq 240); do
    running "$mark" moto_serial && running "$mark" relay && running "$mark" pump && break
    sleep 0.5
  done
  if ! running "$mark" relay || ! running "$mark" pump; then
    echo "FAIL $how: the run's relay and pump never started (see below)"
    cat "$out/$how.log"
    failed=1
    kill -KILL $(marked "$mark") 2>/dev/null || true
    return
  fi
  case $how in
    sigkill-soak)
      soak=$(for pid in $(marked "$mark"); do
        if [ "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -d' ' -f1)" = target/debug/soak ]; then
          echo "$pid"
        fi
      done)
      kill -KILL $soak
      ;;
    sigterm-script) kill -TERM "$wrapper" ;;
    sigint-group) kill -INT -- "-$wrapper" ;;
    to-the-end) ;;
  esac
  wait "$wrapper" || true
  local left
  left=$(marked "$mark")
  if [ -n "$left" ]; then
    echo "FAIL $how: left running:"
    for pid in $left; do
      echo "  $pid $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-120)"
    done
    kill -KILL $left 2>/dev/null || true
    failed=1
  else
    echo "ok   $how: nothing left running"
  fi
}

one sigkill-soak 400
if [ "$runner" != env ]; then
  one sigterm-script 400
  one sigint-group 400
  one to-the-end 16
fi
exit $failed
