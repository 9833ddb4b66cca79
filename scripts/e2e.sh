#!/usr/bin/env bash
# End-to-end: every provider over real HTTP through `cargo lambda watch`, the
# functions talking to a private emulator; asserts the answers and what reached
# the topic. Used by `make test`.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
work=$(mktemp -d)
trap 'stack_stop; rm -rf "$work"' EXIT

# Two tokens, as during a rotation: the URLs use the first, one check the second.
export LIVEHOOK_TOKEN=e2e-token-new,e2e-token-old LIVEHOOK_TENCENT_KEY=e2e-tencent-key
moto_port=$(free_port)
watch_port=$(free_port)
endpoint="http://127.0.0.1:$moto_port"
emulator_start "$moto_port" "$work/moto.log"
emulator_setup "$endpoint" e2e-tail
write_env "$work/env" "$endpoint"
echo "e2e: starting cargo lambda watch on port $watch_port (first requests compile the functions)…"
watch_start "$watch_port" "$work/env" "$work/watch.log"
base="http://127.0.0.1:$watch_port"

passed=0 failed=0
# check NAME EXPECTED_STATUS URL BODY_FILE [extra curl args…]
check() {
  local name=$1 expected=$2 url=$3 body=$4
  shift 4
  local status
  status=$(curl -s -o "$work/reply" -w '%{http_code}' --max-time 600 -X POST \
    -H 'content-type: application/json' "$@" --data-binary @"$body" "$url") || status=000
  if [ "$status" = "$expected" ]; then
    passed=$((passed + 1))
    echo "ok   $name → $status $(head -c 200 "$work/reply")"
  else
    failed=$((failed + 1))
    echo "FAIL $name → $status (expected $expected): $(head -c 300 "$work/reply")"
  fi
}

expected_types=()
for spec in tencent/push:stream.started aodianyun/start_publish:stream.started \
  bililive/SessionStarted:recording.started lal/on_pub_start:stream.started \
  apiserver/channel_live:stream.started; do
  sample=${spec%%:*}
  provider=${sample%%/*}
  event=${sample#*/}
  body_for "$provider" "events/$sample.json" >"$work/$provider.json"
  check "$sample" 200 "$(url_for "$base" "$provider" "$event")" "$work/$provider.json"
  expected_types+=("${spec#*:}")
done
# A provider retry is answered like the first delivery and not published again.
check "bililive retry" 200 "$(url_for "$base" bililive)" "$work/bililive.json"
# Refusals.
check "old token during rotation" 200 "$base/lambda-url/apiserver/?token=e2e-token-old" "events/apiserver/channel_stop.json"
expected_types+=(stream.stopped)
check "wrong token" 401 "$base/lambda-url/lal/on_pub_start?token=nope" "events/lal/on_pub_start.json"
check "not JSON" 400 "$(url_for "$base" apiserver)" /dev/null
# (gzip bodies are not sent here: cargo lambda's local gateway answers 500 to a
# non-UTF-8 body itself, before any function runs. API Gateway base64-encodes
# them; tests/tests/hostile.rs covers that path on the emulator.)

# What reached the topic: exactly one message per accepted event.
if "$root/.venv/bin/python" "$root/scripts/tail.py" --endpoint "$endpoint" --queue e2e-tail \
  --count "${#expected_types[@]}" --wait 30 >"$work/published"; then
  sleep 2 # anything beyond the expected count would show up now
  "$root/.venv/bin/python" "$root/scripts/tail.py" --endpoint "$endpoint" --queue e2e-tail --count 1 --wait 3 \
    >>"$work/published" 2>/dev/null || true
fi
cat "$work/published"
got=$(awk '{print $2}' "$work/published" | sort | tr '\n' ' ')
want=$(printf '%s\n' "${expected_types[@]}" | sort | tr '\n' ' ')
if [ "$got" = "$want" ]; then
  passed=$((passed + 1))
  echo "ok   published exactly: $got"
else
  failed=$((failed + 1))
  echo "FAIL published [$got], expected [$want]"
  tail -n 40 "$work/watch.log"
fi
echo "e2e: $passed passed, $failed failed"
[ "$failed" = 0 ]
