#!/usr/bin/env bash
# Coverage-guided fuzzing (AFL++ through cargo-afl, stable toolchain) of every
# adapter and of the full request path, each until FUZZ_EXECS executions.
#
#   scripts/fuzz.sh                 # every provider of the registry, adapter + request targets
#   FUZZ_EXECS=1000000 PROVIDERS="lal tencent" TARGETS=adapter scripts/fuzz.sh
#
# Corpora are seeded from events/; results land in fuzz/out/<target>-<provider>/.
# Crashing inputs are copied to testkit/tests/fuzz-regressions/<provider>/, which
# `cargo test` replays through the adapter (keep them: they are regression tests).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$root"
execs=${FUZZ_EXECS:-10000000}
targets=${TARGETS:-"adapter request"}
# The providers and their routes come from the registry (`livehook providers`).
cli_dir=$(mktemp -d)
trap 'rm -rf "$cli_dir"' EXIT
cli_build "$cli_dir"
routes=$("$livehook" providers --format '{name} {route} {content_type}')
providers=${PROVIDERS:-$(awk '{ print $1 }' <<<"$routes" | tr '\n' ' ')}

if ! command -v cargo-afl >/dev/null 2>&1; then
  echo "fuzz: installing cargo-afl (once)…"
  cargo install cargo-afl --locked
fi
(cd fuzz && cargo afl build --release)

export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_QUIET=1
summary=()
for target in $targets; do
  for provider in $providers; do
    name="$target-$provider"
    seeds="fuzz/out/seeds/$name"
    rm -rf "$seeds" && mkdir -p "$seeds"
    route=$(awk -v p="$provider" '$1 == p { print $2 }' <<<"$routes")
    [ -n "$route" ] || { echo "fuzz: unknown provider $provider" >&2; exit 1; }
    for sample in events/"$provider"/*.json; do
      stem=$(basename "$sample" .json)
      hook=${stem%%.*}
      case "$target" in
        adapter)
          # Providers that name the event in the path get `<hook>\n<body>`.
          if [[ $route == *"{hook}"* ]]; then { printf '%s\n' "$hook"; cat "$sample"; } > "$seeds/$stem"
          else cp "$sample" "$seeds/$stem"; fi ;;
        request)
          path=${route/"{hook}"/$hook}
          content_type=$(awk -v p="$provider" '$1 == p { print $3 }' <<<"$routes")
          # On the wire as the provider sends it (nginx: the sample's fields as a form).
          { printf '\x02\0%s\0token=fuzz-token\0content-type: %s\0' "$path" "$content_type"
            if [ "$content_type" = application/json ]; then cat "$sample"
            else "$livehook" send "$provider" "$stem" --print-body 2>/dev/null; fi; } > "$seeds/$stem" ;;
      esac
    done
    out="fuzz/out/$name"
    rm -rf "$out"
    echo "fuzz: $name until $execs executions…"
    LIVEHOOK_FUZZ_PROVIDER=$provider cargo afl fuzz -i "$seeds" -o "$out" -E "$execs" \
      "fuzz/target/release/$target" >"fuzz/out/$name.log" 2>&1 || {
        echo "fuzz: afl-fuzz failed for $name; see fuzz/out/$name.log" >&2; exit 1; }
    stats="$out/default/fuzzer_stats"
    done_=$(awk -F' *: ' '/^execs_done/{print $2}' "$stats")
    rate=$(awk -F' *: ' '/^execs_per_sec/{print $2}' "$stats")
    crashes=$(awk -F' *: ' '/^saved_crashes/{print $2}' "$stats")
    edges=$(awk -F' *: ' '/^bitmap_cvg/{print $2}' "$stats")
    summary+=("$name: $done_ executions, $rate/s, $crashes crashes, coverage $edges")
    if [ "$crashes" != 0 ]; then
      mkdir -p "testkit/tests/fuzz-regressions/$provider"
      for crash in "$out"/default/crashes/id:*; do
        cp "$crash" "testkit/tests/fuzz-regressions/$provider/$target-$(sha256sum "$crash" | cut -c1-16)"
      done
    fi
  done
done
printf '%s\n' "${summary[@]}" | tee "fuzz/out/summary-${targets// /-}.txt"
! printf '%s\n' "${summary[@]}" | grep -qv ' 0 crashes'
