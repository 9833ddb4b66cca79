#!/usr/bin/env bash
# `make bench`: livehook's numbers, written to bench/results.json and bench/results.md.
#   1. per-event core cost (criterion) for every sample
#   2. cold start of every function's release bootstrap (runtime-bench cold)
#   3. warm throughput, latency and peak RSS against the emulator (runtime-bench warm)
#   4. bootstrap and zip sizes (cargo lambda build --release, x86_64)
#   5. AWS calls per new and per duplicate event, counted in the emulator's request log
# Nothing here asserts a time; it measures and reports.
#   COLD_RUNS=20 WARM_EVENTS=10000 WARM_PROVIDERS="lal bililive" bench/run.sh
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../scripts/lib.sh"
cd "$root"
out=bench/out
mkdir -p "$out"
cold_runs=${COLD_RUNS:-20}
warm_events=${WARM_EVENTS:-10000}
warm_providers=${WARM_PROVIDERS:-"lal bililive"}
functions="tencent aodianyun bililive lal apiserver"
trap 'stack_stop' EXIT

echo "bench: criterion (per-event core)…"
cargo bench -p livehook --bench core -- --noplot 2>&1 | tail -n 3
echo "bench: release build (cargo lambda build --release, x86_64)…"
cargo lambda build --release --x86-64 $(printf -- '--bin %s ' $functions) --output-format zip >"$out/build.log" 2>&1
# The zips above; the bare bootstraps for timing and their stripped size.
cargo lambda build --release --x86-64 $(printf -- '--bin %s ' $functions) >>"$out/build.log" 2>&1
cargo build --release -p livehook-bench >>"$out/build.log" 2>&1

port=$(free_port)
emulator_start "$port" "$out/emulator.log"
emulator_setup "http://127.0.0.1:$port" bench-tail
export LIVEHOOK_TABLE LIVEHOOK_TOPIC_ARN LIVEHOOK_TOKEN=bench-token LIVEHOOK_TENCENT_KEY=bench-tencent-key
export LIVEHOOK_REPLAY_WINDOW_SECONDS=0 AWS_ENDPOINT_URL="http://127.0.0.1:$port" RUST_LOG=warn
driver=target/release/runtime-bench

: >"$out/runs.jsonl"
for f in $functions; do
  echo "bench: cold start of $f ($cold_runs spawns)…"
  "$driver" cold --provider "$f" --runs "$cold_runs" -- "target/lambda/$f/bootstrap" | tee -a "$out/runs.jsonl"
done
for f in $warm_providers; do
  echo "bench: warm $f ($warm_events invocations against the emulator)…"
  "$driver" warm --provider "$f" --events "$warm_events" --emulator-log "$out/emulator.log" \
    -- "target/lambda/$f/bootstrap" | tee -a "$out/runs.jsonl"
done
"$root/.venv/bin/python" bench/report.py "$out/runs.jsonl" $functions
