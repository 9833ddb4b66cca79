#!/usr/bin/env bash
# Instructions per warm delivery (valgrind's callgrind: nearly deterministic, so a
# change's effect shows without the shared machine's noise), per function.
#   CALLGRIND_DIR=target/lambda CALLGRIND_BINS="bililive srs naive-bililive" \
#     CALLGRIND_OUT=bench/out/callgrind bench/callgrind.sh
# `admission` among CALLGRIND_BINS is the srs function on make bench's
# admission deliveries (each presenting its stream key, LIVEHOOK_STREAM_KEYS=publish).
# Each function runs twice under callgrind, CALLGRIND_FEW and CALLGRIND_MANY
# deliveries (its synthetic ones, every 5th a duplicate; the naive one-call
# handler on Bililive FileClosed, as make bench); the difference over the
# extra deliveries is one delivery's instructions, init and the first calls
# excluded. Ids, nonces and hash seeds still vary (about 0.3 % run to run;
# a larger CALLGRIND_MANY narrows it). valgrind's CPU has no SHA-NI, so
# SHA-256 counts software rounds the machine does not run. Needs the driver
# (bench/lib.sh driver_build) and the bootstraps in CALLGRIND_DIR.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../scripts/lib.sh"
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$root"
dir=${CALLGRIND_DIR:-target/lambda}
few=${CALLGRIND_FEW:-20}
many=${CALLGRIND_MANY:-120}
out=${CALLGRIND_OUT:-bench/out/callgrind}
mkdir -p "$out"
trap 'stack_stop' EXIT
command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install -y valgrind" >&2; exit 1; }
driver=target/release/runtime-bench
port=$(free_port)
bench_emulator "$port" "$out/emulator.log"
total() { awk '/^(summary|totals):/ {print $2; exit}' "$1"; }
for bin in ${CALLGRIND_BINS:-bililive srs nginx lal zlmediakit naive-bililive}; do
  function=$bin
  env=()
  case $bin in
    naive-*) args=(--provider bililive --event FileClosed) && env=(NAIVE_CALLS=1) ;;
    admission)
      function=srs
      args=(--provider srs --stream bench-admitted --stream-key livehook/bench-admitted --query-field param)
      env=(LIVEHOOK_STREAM_KEYS=publish)
      ;;
    *) args=(--provider "$bin") ;;
  esac
  for n in "$few" "$many"; do
    "$driver" warm "${args[@]}" --events "$n" --duplicate-every 5 -- env "${env[@]}" \
      valgrind --tool=callgrind --callgrind-out-file="$out/$bin-$n.out" "$dir/$function/bootstrap" \
      >"$out/$bin-$n.json" 2>"$out/$bin-$n.log"
  done
  a=$(total "$out/$bin-$few.out")
  b=$(total "$out/$bin-$many.out")
  echo "$bin $(((b - a) / (many - few))) instructions per delivery"
done
