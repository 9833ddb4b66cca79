#!/usr/bin/env bash
# Where one warm event's CPU goes: a bootstrap (release profile, unstripped:
# symbols and .eh_frame for DWARF unwinding) under warm load, sampled with
# perf's software clock, each sample's stack put in one category by
# bench/profile.py. Writes bench/out/profile/{perf-TARGET.data,TARGET.md}.
#   PROFILE_TARGET=handler PROFILE_EVENTS=600 bench/profile.sh
#     the bililive handler, Bililive FileClosed deliveries (every 5th a duplicate)
#   PROFILE_TARGET=relay PROFILE_BATCH=10 PROFILE_EVENTS=600 bench/profile.sh
#     the relay, fed the records a (stripped, unprofiled) handler run wrote
#   PROFILE_TARGET=admission [PROFILE_STREAM_KEYS=off] PROFILE_EVENTS=800 bench/profile.sh
#     the srs function admitting SRS on_publish deliveries by their stream key
#     (make bench's admission/srs rows); with PROFILE_STREAM_KEYS=off the same
#     deliveries, their key unchecked (one PutItem each): the A/B of the check
# Needs `perf` (Debian's linux-perf).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../scripts/lib.sh"
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$root"
out=bench/out/profile
mkdir -p "$out"
target=${PROFILE_TARGET:-handler}
events=${PROFILE_EVENTS:-600}
batch=${PROFILE_BATCH:-10}
name=$target
[ "$target" = admission ] && [ "${PROFILE_STREAM_KEYS:-publish}" = off ] && name=admission-off
trap 'stack_stop' EXIT
command -v perf >/dev/null || { echo "perf is missing: apt-get install -y linux-perf" >&2; exit 1; }

driver_build "$out/build.log"
driver=target/release/runtime-bench
# Same code and profile as the deployed bootstraps, only not stripped.
case $target in
  admission) bins=(--bin srs) ;;
  *) bins=(--bin bililive --bin relay) ;;
esac
CARGO_PROFILE_RELEASE_STRIP=false cargo lambda build --release --x86-64 "${bins[@]}" \
  --lambda-dir "$out/lambda" >>"$out/build.log" 2>&1

port=$(free_port)
bench_emulator "$port" "$out/emulator.log"
perf=(perf record -q -e cpu-clock -F 4000 --call-graph dwarf,32768 -o "$out/perf-$name.data" --)
case $target in
  handler)
    "$driver" warm --provider bililive --event FileClosed --events "$events" --duplicate-every 5 \
      -- "${perf[@]}" "$out/lambda/bililive/bootstrap" | tee "$out/warm-$name.json"
    ;;
  relay)
    # Its records: every delivery a new event, written by the handler unprofiled.
    "$driver" warm --provider bililive --event FileClosed --events "$events" --duplicate-every 0 \
      -- "$out/lambda/bililive/bootstrap" >/dev/null
    "$driver" relay --batch-size "$batch" --events "$events" --provider bililive --type recording.file_closed \
      --emulator "http://127.0.0.1:$port" -- "${perf[@]}" "$out/lambda/relay/bootstrap" | tee "$out/warm-$name.json"
    ;;
  admission)
    LIVEHOOK_STREAM_KEYS=${PROFILE_STREAM_KEYS:-publish} "$driver" warm --provider srs --events "$events" \
      --duplicate-every 5 --emulator "http://127.0.0.1:$port" \
      --stream bench-admitted --stream-key livehook/bench-admitted --query-field param \
      -- "${perf[@]}" "$out/lambda/srs/bootstrap" | tee "$out/warm-$name.json"
    ;;
  *)
    echo "PROFILE_TARGET is handler, relay or admission, not $target" >&2
    exit 2
    ;;
esac
perf script -i "$out/perf-$name.data" -F comm,tid,ip,sym,dso --no-inline 2>/dev/null \
  | "$root/.venv/bin/python" bench/profile.py "$events" >"$out/$name.md"
cat "$out/$name.md"
