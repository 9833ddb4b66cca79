#!/usr/bin/env bash
# `make bench`: livehook (handler + relay) side by side with three baselines,
# in one run, against one keep-alive emulator; written to bench/results.json
# and bench/results.md.
#   1. per-event core cost (criterion) for every sample (only with BENCH_CRITERION=1)
#   2. release builds (cargo lambda, x86_64), once: every provider's function,
#      the relay, the naive Rust baselines (bench/naive: NAIVE_CALLS=3 or 1);
#      the Python peer's venv (bench/python/)
#   3. in ROUNDS interleaved rounds, so that a drift of the shared machine's
#      load favours no label: cold starts of every function and baseline
#      (runtime-bench cold, COLD_RUNS spread over the rounds; the relay's with
#      its first batch, in every round too); then the paired blocks
#      (runtime-bench paired): every provider of the registry on its
#      synthetic deliveries (PROVIDER_EVENTS a round), the livehook handler
#      and the srs function admitting publishes by stream key
#      (LIVEHOOK_STREAM_KEYS=publish, the key in the table, `?key=` in each
#      on_publish's `param`) on the Bililive FileClosed and SRS deliveries
#      (WARM_EVENTS/ROUNDS a round each), and a second naive one-call
#      process as a control, all spawned first and kept warm, sent in
#      blocks of PAIR_BLOCK (100) deliveries in turn, with a block of
#      PAIR_REFERENCE_BLOCK (50) of the naive one-call handler before, between
#      and after them (every block, on both sides, starts with PAIR_REWARM (5)
#      deliveries that are not measured: the first delivery after a pause
#      costs ~0.2 ms more CPU, which the naive side's shorter blocks would pay
#      twice as often per delivery); then, one after another, the naive handler with three
#      calls, Python, livehook with the X-Ray header (warm CPU per event,
#      latency, peak RSS, AWS calls: runtime-bench warm); then the relay
#      (runtime-bench relay) fed with the records the handler wrote, read
#      from the table's stream, 1 and 10 per invocation.
#      A ratio to the naive one-call handler (CPU, p50) is formed from the
#      pairs: each block of a function against the two naive blocks around
#      it (a naive block thus serves both its neighbours). bench/report.py
#      divides the function's CPU summed over all its blocks per delivery by
#      the naive's summed over those bracketing blocks per delivery (the
#      headline, what the goals judge), and shows the spread of the per-pair
#      ratios; a p50 ratio is the function's p50 over the naive's p50 of its
#      bracketing blocks (each round's, averaged over the rounds as every p50).
#      The naive one-call row is all its blocks pooled.
# Nothing here asserts a time; it measures and reports. Counts:
#   COLD_RUNS=15 WARM_EVENTS=3000 ROUNDS=3 PROVIDER_EVENTS=300 DUPLICATE_EVERY=5 \
#   PAIR_BLOCK=100 PAIR_REFERENCE_BLOCK=50 PAIR_REWARM=5 bench/run.sh
# (COLD_RUNS and WARM_EVENTS in all, over the rounds; PROVIDER_EVENTS per round.)
# A narrow run while iterating: PROVIDERS="srs" (the per-provider rows of
# those only; PROVIDERS= none), LABELS="naive-1call admission" (those of the
# side-by-side labels only: livehook naive-3call naive-1call admission python
# livehook+xray relay control; the relay is fed the livehook handler's
# records, so it needs livehook; the naive one-call handler runs whenever a
# provider, livehook, admission or the control does, as their pair);
# BENCH_BUILT=1 skips the builds and measures those in target/. Every warm result carries the emulator's own time in its
# invocations (scripts/moto_timing.py) and the latency less it.
# (about 8.5 minutes at ROUNDS=6 once built, on 2 shared cores; the release builds take 15–25 minutes the first time)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../scripts/lib.sh"
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$root"
out=bench/out
mkdir -p "$out"
cold_runs=${COLD_RUNS:-15}
warm_events=${WARM_EVENTS:-3000}
provider_events=${PROVIDER_EVENTS:-300}
duplicate_every=${DUPLICATE_EVERY:-5}
# The baselines implement the Bililive contract; they get its FileClosed sample.
baseline_provider=bililive
baseline_event=FileClosed
# The canonical type of that sample: the relay is fed the handler's records of it.
baseline_type=recording.file_closed
trap 'stack_stop' EXIT

export BENCH_CRITERION=${BENCH_CRITERION:-0}
if [ "$BENCH_CRITERION" != 0 ]; then
  echo "bench: criterion (per-event core)…"
  cargo bench -p livehook --bench core -- --noplot 2>&1 | tail -n 3
fi
# BENCH_BUILT=1: measure the builds already in target/release and
# target/lambda (bootstrap and bootstrap.zip of every function), built as below.
built=${BENCH_BUILT:-0}
if [ "$built" = 1 ]; then
  echo "bench: BENCH_BUILT=1, the release builds as they are"
else
  echo "bench: release builds (cargo lambda build --release, x86_64)…"
  driver_build "$out/build.log"
fi
driver=target/release/runtime-bench
if [ -n "${PROVIDERS+set}" ]; then
  read -ra providers <<<"$PROVIDERS"
else
  mapfile -t providers < <("$driver" providers)
fi
labels=" ${LABELS:-livehook naive-3call naive-1call admission python livehook+xray relay control} "
wants() { [[ $labels == *" $1 "* ]]; }
# The naive one-call handler is the pair of every provider, livehook,
# admission and the control: it runs whenever one of them does.
if [ "${#providers[@]}" -gt 0 ] || wants livehook || wants admission || wants control; then
  labels+="naive-1call "
fi
if wants relay && ! wants livehook; then
  echo "bench: the relay is fed the livehook handler's records: LABELS needs livehook with relay" >&2
  exit 1
fi
# Admission with stream keys: SRS on_publish, the client's query in `param`.
admission_provider=srs
# One build of every bootstrap: the functions and the naive baselines (a
# package of its own, so nothing of the bench driver is unified into them).
# (Those of the labels run.)
wanted=("${providers[@]}")
if wants livehook || wants livehook+xray; then wanted+=("$baseline_provider"); fi
if wants admission; then wanted+=("$admission_provider"); fi
if wants relay; then wanted+=(relay); fi
if wants naive-1call || wants naive-3call || wants control; then wanted+=(naive-bililive); fi
mapfile -t bins < <(printf '%s\n' "${wanted[@]}" | sort -u)
if [ "$built" != 1 ]; then
  cargo lambda build --release --x86-64 $(printf -- '--bin %s ' "${bins[@]}") --output-format zip >>"$out/build.log" 2>&1
  # The zips above; the bare bootstraps for timing.
  cargo lambda build --release --x86-64 $(printf -- '--bin %s ' "${bins[@]}") >>"$out/build.log" 2>&1
fi
for bin in "${bins[@]}"; do
  [ -x "target/lambda/$bin/bootstrap" ] && [ -f "target/lambda/$bin/bootstrap.zip" ] \
    || { echo "bench: target/lambda/$bin/bootstrap or its zip is missing" >&2; exit 1; }
done
handler=target/lambda/$baseline_provider/bootstrap
# Peak RSS of every function under hostile bodies, the shipped
# builds: fresh processes, nothing reaches AWS.
echo "bench: hostile bodies (peak RSS per function)…"
rm -f "$out/hostile.md"
target/release/hostile --bin-dir target/lambda --out "$out/hostile.md" >>"$out/build.log" 2>&1
relay=target/lambda/relay/bootstrap
naive=target/lambda/naive-bililive/bootstrap

pyvenv=bench/.venv-python
if wants python; then
  echo "bench: Python peer venv (bench/python/requirements.txt)…"
  if [ ! -x "$pyvenv/bin/python" ] || [ bench/python/requirements.txt -nt "$pyvenv/.installed" ]; then
    python3 -m venv "$pyvenv"
    "$pyvenv/bin/pip" install --quiet --disable-pip-version-check -r bench/python/requirements.txt
    touch "$pyvenv/.installed"
  fi
  # Its deployment package: the handler and Powertools (the Lambda Python
  # runtime brings boto3; awslambdaric is the runtime's own client).
  "$pyvenv/bin/python" bench/python/package.py "$pyvenv" "$out/python.zip"
fi
python_peer=("$pyvenv/bin/python" -m awslambdaric handler.handler)

port=$(free_port)
bench_emulator "$port" "$out/emulator.log"
emulator="http://127.0.0.1:$port"
# The Python runtime finds the handler module here.
export LAMBDA_TASK_ROOT="$root/bench/python" PYTHONPATH="$root/bench/python" POWERTOOLS_LOG_LEVEL=INFO

: >"$out/runs.jsonl"
size() { # size LABEL ZIP: the deployment size, for the report
  printf '{"mode":"size","label":"%s","zip_bytes":%s}\n' "$1" "$(stat -c %s "$2")" >>"$out/runs.jsonl"
}
for p in "${providers[@]}"; do size "$p" "target/lambda/$p/bootstrap.zip"; done
if wants livehook; then size livehook "target/lambda/$baseline_provider/bootstrap.zip"; fi
if wants relay; then size relay target/lambda/relay/bootstrap.zip; fi
if wants naive-3call; then size naive-3call target/lambda/naive-bililive/bootstrap.zip; fi
if wants naive-1call; then size naive-1call target/lambda/naive-bililive/bootstrap.zip; fi
if wants control; then size control/naive-1call target/lambda/naive-bililive/bootstrap.zip; fi
if wants python; then size python "$out/python.zip"; fi
# Each round's share of the cold starts (the report pools a label's spawns).
rounds=${ROUNDS:-3}
cold_per_round=$(((cold_runs + rounds - 1) / rounds))
cold() { # cold LABEL COMMAND…
  local label=$1
  shift
  echo "bench: cold start of $label, round $round/$rounds ($cold_per_round spawns)…"
  "$driver" cold --provider "$baseline_provider" --event "$baseline_event" --label "$label" --runs "$cold_per_round" \
    -- "$@" | tee -a "$out/runs.jsonl"
}
warm() { # warm EVENTS ARGS… -- COMMAND…
  local events=$1
  shift
  "$driver" warm --events "$events" --duplicate-every "$duplicate_every" \
    --emulator "$emulator" "$@" | tee -a "$out/runs.jsonl"
}

per_round=$((warm_events / rounds))
# The new events of a round's handler run: the records the relay is fed.
relay_events=$((duplicate_every > 0 ? per_round - per_round / duplicate_every : per_round))
side() { # side LABEL [ARGS…] -- COMMAND…
  local label=$1
  shift
  echo "bench: warm $label, round $round/$rounds ($per_round $baseline_provider $baseline_event invocations)…"
  warm "$per_round" --provider "$baseline_provider" --event "$baseline_event" --label "$label" "$@"
}
pair_block=${PAIR_BLOCK:-100}
pair_reference_block=${PAIR_REFERENCE_BLOCK:-50}
pair_rewarm=${PAIR_REWARM:-5}
# The deliveries of one block of naive one-call (the reference) and of the
# Bililive FileClosed labels (each as `runtime-bench warm` arguments).
reference_spec="--provider $baseline_provider --event $baseline_event --label naive-1call -- env NAIVE_CALLS=1 $naive"
baseline_spec="--provider $baseline_provider --event $baseline_event"
paired() { # this round's paired blocks: every provider, livehook, admission, the control
  local subjects=()
  for p in "${providers[@]}"; do
    subjects+=(--subject "--events $provider_events --provider $p -- target/lambda/$p/bootstrap")
  done
  if wants livehook; then subjects+=(--subject "--events $per_round $baseline_spec --label livehook -- $handler"); fi
  # The srs function admitting each publish by its stream key.
  if wants admission; then
    subjects+=(--subject "--events $per_round --provider $admission_provider --label admission/$admission_provider
      --stream bench-admitted --stream-key livehook/bench-admitted --query-field param
      -- env LIVEHOOK_STREAM_KEYS=publish target/lambda/$admission_provider/bootstrap")
  fi
  # A second naive one-call process paired with the first: how far a
  # paired ratio strays when the code is the same.
  if wants control; then
    subjects+=(--subject "--events $per_round $baseline_spec --label control/naive-1call -- env NAIVE_CALLS=1 $naive")
  fi
  if [ "${#subjects[@]}" -eq 0 ]; then
    if wants naive-1call; then NAIVE_CALLS=1 side naive-1call -- "$naive"; fi
    return
  fi
  echo "bench: paired blocks, round $round/$rounds: $((${#subjects[@]} / 2)) functions in blocks of $pair_block," \
    "each between two blocks of $pair_reference_block of naive one-call…"
  "$driver" paired --block "$pair_block" --reference-block "$pair_reference_block" --rewarm "$pair_rewarm" \
    --duplicate-every "$duplicate_every" --emulator "$emulator" --rotate "$round" \
    --reference "$reference_spec" "${subjects[@]}" | tee -a "$out/runs.jsonl"
}
relay_side() { # relay_side BATCH [ARGS…]: the relay on the last records the handler wrote
  local batch=$1
  shift
  echo "bench: relay, batch $batch, round $round/$rounds ($relay_events stream records)…"
  "$driver" relay --label "relay/b$batch" --batch-size "$batch" --events "$relay_events" \
    --provider "$baseline_provider" --type "$baseline_type" --emulator "$emulator" "$@" -- "$relay" \
    | tee -a "$out/runs.jsonl"
}
for round in $(seq "$rounds"); do
  # Cold starts first: the naive handler's beside every provider's, so that
  # an init goal is read against the same moment's machine.
  for p in "${providers[@]}"; do
    echo "bench: cold start of $p, round $round/$rounds ($cold_per_round spawns)…"
    "$driver" cold --provider "$p" --runs "$cold_per_round" -- "target/lambda/$p/bootstrap" | tee -a "$out/runs.jsonl"
  done
  if wants livehook; then cold livehook "$handler"; fi
  if wants naive-3call; then cold naive-3call "$naive"; fi
  if wants naive-1call; then NAIVE_CALLS=1 cold naive-1call "$naive"; fi
  if wants python; then cold python "${python_peer[@]}"; fi
  paired
  if wants naive-3call; then side naive-3call -- "$naive"; fi
  if wants python; then side python -- "${python_peer[@]}"; fi
  if wants livehook+xray; then side livehook+xray --xray -- "$handler"; fi
  if wants relay; then
    # The relay's cold starts (its first batch of one record) spread over the
    # rounds as the handlers' are: spawned all in one round, they measured
    # that moment of the shared machine, not the relay.
    relay_side 1 --cold-runs "$cold_per_round"
    relay_side 10
  fi
done
if wants livehook+xray; then
  "$driver" cold --provider "$baseline_provider" --event "$baseline_event" --label livehook+xray --xray \
    --runs "$cold_runs" -- "$handler" | tee -a "$out/runs.jsonl"
fi

"$root/.venv/bin/python" bench/report.py "$out/runs.jsonl"
