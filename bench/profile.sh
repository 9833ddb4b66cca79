#!/usr/bin/env bash
# Where one warm event's CPU goes: the bililive bootstrap (release profile,
# unstripped: symbols and .eh_frame for DWARF unwinding) under warm load,
# sampled with perf's software clock, each sample's stack put in one
# category by bench/profile.py. Writes bench/out/profile/{perf.data,profile.md}.
#   PROFILE_EVENTS=600 bench/profile.sh      (needs `perf`: Debian's linux-perf)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../scripts/lib.sh"
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$root"
out=bench/out/profile
mkdir -p "$out"
events=${PROFILE_EVENTS:-600}
trap 'stack_stop' EXIT
command -v perf >/dev/null || { echo "perf is missing: apt-get install -y linux-perf" >&2; exit 1; }

cargo build --release -p livehook-bench --bin runtime-bench >"$out/build.log" 2>&1
# Same code and profile as the deployed bootstrap, only not stripped.
CARGO_PROFILE_RELEASE_STRIP=false cargo lambda build --release --x86-64 --bin bililive \
  --lambda-dir "$out/lambda" >>"$out/build.log" 2>&1

port=$(free_port)
bench_emulator "$port" "$out/emulator.log"

target/release/runtime-bench warm --provider bililive --event FileClosed --events "$events" --duplicate-every 5 \
  -- perf record -q -e cpu-clock -F 4000 --call-graph dwarf,32768 -o "$out/perf.data" -- "$out/lambda/bililive/bootstrap" \
  | tee "$out/warm.json"
perf script -i "$out/perf.data" -F comm,tid,ip,sym,dso --no-inline 2>/dev/null | "$root/.venv/bin/python" bench/profile.py "$events" >"$out/profile.md"
cat "$out/profile.md"
