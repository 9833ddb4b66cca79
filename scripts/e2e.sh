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
export LIVEHOOK_TOKEN=e2e-token-new.0123456789,e2e-token-old.0123456789 LIVEHOOK_TENCENT_KEY=e2e-tencent-key
moto_port=$(free_port)
watch_port=$(free_port)
endpoint="http://127.0.0.1:$moto_port"
cli_build "$work"
emulator_start "$moto_port" "$work/moto.log"
emulator_setup "$endpoint" e2e-tail
write_env "$work/env" "$endpoint"
echo "e2e: starting cargo lambda watch on port $watch_port…"
watch_start "$watch_port" "$work/env" "$work/watch.log"
base="http://127.0.0.1:$watch_port"
# What reaches the topic goes through the table's stream and the relay, as in AWS.
echo "e2e: starting livehook pump…"
pump_start "$base" "$work/pump.log"

token=${LIVEHOOK_TOKEN%%,*}
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }

# check NAME EXPECTED_STATUS URL BODY_FILE [extra curl args…]
check() {
  local name=$1 expected=$2 url=$3 body=$4
  shift 4
  local status
  status=$(curl -s -o "$work/reply" -w '%{http_code}' --max-time 600 -X POST \
    -H 'content-type: application/json' "$@" --data-binary @"$body" "$url") || status=000
  if [ "$status" = "$expected" ]; then
    ok "$name → $status $(head -c 200 "$work/reply")"
  else
    fail "$name → $status (expected $expected): $(head -c 300 "$work/reply")"
  fi
}

# Every provider of the registry sends its example event exactly as the
# provider would (`livehook send`: route, headers, token or Tencent's
# signature, fresh timestamps); providers that resend also resend it once,
# which must be answered like the first delivery and not published again.
expected_providers=()
while read -r provider example resends url; do
  retry=0
  [ "$resends" = true ] && retry=1
  if "$livehook" send "$provider" "$example" --url "$url" --token "$token" \
    --tencent-key "$LIVEHOOK_TENCENT_KEY" --retry "$retry" --timeout 600 >"$work/send" 2>&1; then
    ok "$provider/$example (retries: $retry) → $(tr '\n' ' ' <"$work/send" | head -c 300)"
  else
    fail "$provider/$example: $(cat "$work/send")"
  fi
  expected_providers+=("$provider")
done < <("$livehook" providers --url "$base/lambda-url" --format '{name} {example} {resends} {function_url}')

# Refusals, and the second token of a rotation.
check "old token during rotation" 200 "$base/lambda-url/apiserver/?token=e2e-token-old.0123456789" "events/apiserver/channel_stop.json"
expected_providers+=(apiserver)
check "wrong token" 401 "$(url_for "$base" lal on_pub_start | sed 's/token=[^&]*/token=nope/')" "events/lal/on_pub_start.json"
check "not JSON" 400 "$(url_for "$base" apiserver)" /dev/null
# (gzip bodies are not sent here: cargo lambda's local gateway answers 500 to a
# non-UTF-8 body itself, before any function runs. API Gateway base64-encodes
# them; tests/it/hostile.rs covers that path on the emulator.)

# What reached the topic: exactly one message per accepted event.
if "$root/.venv/bin/python" "$root/scripts/tail.py" --endpoint "$endpoint" --queue e2e-tail \
  --count "${#expected_providers[@]}" --wait 300 >"$work/published"; then
  sleep 2 # anything beyond the expected count would show up now
  "$root/.venv/bin/python" "$root/scripts/tail.py" --endpoint "$endpoint" --queue e2e-tail --count 1 --wait 3 \
    >>"$work/published" 2>/dev/null || true
fi
cat "$work/published"
got=$(awk '{ split($3, s, "/"); print s[1] }' "$work/published" | sort | tr '\n' ' ')
want=$(printf '%s\n' "${expected_providers[@]}" | sort | tr '\n' ' ')
if [ "$got" = "$want" ]; then
  ok "published exactly one event per delivery: $got"
else
  fail "published [$got], expected [$want]"
  tail -n 40 "$work/watch.log"
  tail -n 20 "$work/pump.log"
fi
if grep -q ' unrecognized ' "$work/published"; then
  fail "an example event was published as unrecognized"
fi

# `livehook check` against the local stack: every provider to the topic,
# resends deduplicated, a wrong credential refused...
check_args=(check --url "$base/lambda-url" --endpoint-url "$endpoint" --topic-arn "$LIVEHOOK_TOPIC_ARN"
  --tencent-key "$LIVEHOOK_TENCENT_KEY" --settle 3)
if "$livehook" "${check_args[@]}" --token "$token" >"$work/check" 2>&1; then
  ok "livehook check:"
else
  fail "livehook check:"
fi
cat "$work/check"
# ...and a run with a wrong token must fail, saying so.
if "$livehook" "${check_args[@]}" --token wrong-token >"$work/check-wrong" 2>&1; then
  fail "livehook check with a wrong token passed"
  cat "$work/check-wrong"
elif grep -q "wrong token" "$work/check-wrong"; then
  ok "livehook check with a wrong token fails: $(grep -m1 'wrong token' "$work/check-wrong")"
else
  fail "livehook check with a wrong token failed without the hint:"
  cat "$work/check-wrong"
fi
source "$root/scripts/nginx_e2e.sh" # a real sender: nginx-rtmp pushed to by ffmpeg
source "$root/scripts/nginx_keys_e2e.sh" # stream keys: nginx-rtmp admits the key, refuses a wrong one
"$root/examples/consumer/test_consumer.sh" "$endpoint" "$LIVEHOOK_TOPIC_ARN" "$base/lambda-url" "$token" "$livehook" >"$work/consumer" 2>&1 && ok "$(tail -n1 "$work/consumer")" || { fail "consumer example:"; cat "$work/consumer"; }
# The newcomer's walk: `make dev` itself, its printed commands pasted, Ctrl-C.
stack_stop
stack_pids=()
if "$root/scripts/dev_walk.sh" >"$work/walk" 2>&1; then
  ok "make dev walk: $(grep -c 'walk: ok' "$work/walk") steps"
else
  fail "make dev walk:"
  cat "$work/walk"
fi
echo "e2e: $passed passed, $failed failed"
[ "$failed" = 0 ]
