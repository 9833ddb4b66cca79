#!/usr/bin/env bash
# The newcomer's walk as a test (run by e2e.sh): `make dev` as README says it
# (other ports: `make dev MOTO_PORT=… WATCH_PORT=…`) with its files in a
# temporary folder (LIVEHOOK_DEV_DIR), every `send` line of its
# banner pasted as printed, then the banner's `source` line and the commands
# it prints, and README's commands for a make dev stack. The terminal must show the deliveries and no JSON or EMF line,
# and Ctrl-C (SIGINT to its process group, as a terminal sends it) must leave
# nothing running.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
work=$(mktemp -d)
# Job control: dev.sh gets its own process group and takes SIGINT as in a
# terminal (a script's background jobs otherwise ignore it).
set -m
MOTO_PORT=$(free_port)
WATCH_PORT=$(free_port)
export MOTO_PORT WATCH_PORT LIVEHOOK_DEV_DIR="$work/dev"
dev_pid=
cleanup() {
  if [ -n "$dev_pid" ]; then kill -INT -- "-$dev_pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "walk: ok   $*"; }
fail() { failed=$((failed + 1)); echo "walk: FAIL $*"; }
terminal="$work/terminal"

# The tools are installed already (make test, or the checkout's .venv). A
# newcomer's shell has no livehook settings (e2e.sh exports its own). SIGINT
# back to its default: a walk started from a background job inherits it
# ignored, and then the Ctrl-C below would never reach make dev.
env --default-signal=INT -u LIVEHOOK_TOKEN -u LIVEHOOK_TENCENT_KEY -u LIVEHOOK_URL -u LIVEHOOK_TABLE -u LIVEHOOK_TOPIC_ARN \
  make --no-print-directory -C "$root" -o .venv/.installed dev MOTO_PORT="$MOTO_PORT" WATCH_PORT="$WATCH_PORT" \
  >"$terminal" 2>"$work/build" &
dev_pid=$!
until grep -q '^Ctrl-C stops' "$terminal"; do
  if ! kill -0 "$dev_pid" 2>/dev/null; then
    echo "walk: make dev ended before its banner:"
    tail -n 30 "$work/build" "$terminal"
    exit 1
  fi
  sleep 1
done
ok "banner after $(grep -o 'ready in [0-9]* s' "$terminal")"
banner_lines=$(wc -l <"$terminal")
# No queue that nobody reads (`livehook tail` and `check` make their own).
queues=$(AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT" "$root/.venv/bin/python" -c \
  'import boto3; print(len(boto3.client("sqs").list_queues().get("QueueUrls", [])))')
if [ "$queues" = 0 ]; then ok "no SQS queue before a reader asks"; else fail "$queues SQS queues that nobody reads"; fi

# Every printed send line, pasted as it is (from the checkout, as a person would).
sends=0
while read -r line; do
  sends=$((sends + 1))
  if (cd "$root" && bash -c "$line") >"$work/send" 2>&1; then
    ok "${line%% --url*}: $(head -c 120 "$work/send")"
  else
    fail "$line: $(cat "$work/send")"
  fi
done < <(grep -E '^  \S*livehook send ' "$terminal" | sed 's/^  //')
[ "$sends" -gt 0 ] || fail "the banner prints no send line"

# The `source` line and the commands after it, pasted as printed.
env_line=$(grep -E '^  source ' "$terminal" | sed 's/^  //')
[ -n "$env_line" ] || fail "the banner prints no source line"
while read -r command; do
  if (cd "$root" && env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
    -u AWS_ENDPOINT_URL -u LIVEHOOK_TABLE -u LIVEHOOK_TOPIC_ARN -u LIVEHOOK_TOKEN \
    bash -c "$env_line && $command") >"$work/command" 2>&1 </dev/null; then
    ok "$command: $(head -n 2 "$work/command" | tr '\n' ' ' | head -c 160)"
  else
    fail "$command: $(cat "$work/command")"
  fi
done < <(grep -E '^  livehook ' "$terminal" | sed -e 's/^  //' -e 's/ *#.*//' |
  # tail runs until Ctrl-C: pasted, it stops after a second without an event.
  sed 's/^livehook tail$/livehook tail --timeout 1/')

# README's own lines for a make dev stack, pasted after the same `source`.
readme=0
while read -r command; do
  readme=$((readme + 1))
  if (cd "$root" && env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
    -u AWS_ENDPOINT_URL -u LIVEHOOK_TABLE -u LIVEHOOK_TOPIC_ARN -u LIVEHOOK_TOKEN \
    bash -c "$env_line && $command") >"$work/command" 2>&1 </dev/null; then
    ok "README: $command"
  else
    fail "README: $command: $(cat "$work/command")"
  fi
done < <(sed -n '/^# Against make dev, after `source .livehook\/env`/,/^$/p' "$root/README.md" |
  grep '^livehook ' | sed -e 's/ *#.*//' -e 's/^livehook tail\( \|$\)/livehook tail --timeout 1\1/')
[ "$readme" -gt 0 ] || fail "README shows no command for a make dev stack after its source line"

# One line per delivery reaches the terminal (deliveries of the walk: the send
# lines, the check's events).
until [ "$(tail -n +"$banner_lines" "$terminal" | grep -c -E ' (accepted|duplicate) ')" -ge "$sends" ]; do
  if ! kill -0 "$dev_pid" 2>/dev/null; then break; fi
  sleep 1
done
shown=$(tail -n +"$banner_lines" "$terminal" | grep -c -E ' (accepted|duplicate) ' || true)
if [ "$shown" -ge "$sends" ]; then ok "$shown delivery lines on the terminal"; else fail "only $shown delivery lines for $sends sends"; fi
# The pump keeps its position in make dev's folder, not in the checkout's.
if ls "$work/dev/pump-checkpoints/"*.json >/dev/null 2>&1; then
  ok "the pump's checkpoint is in \$LIVEHOOK_DEV_DIR"
else
  fail "no pump checkpoint in $work/dev/pump-checkpoints (pump.log: $(tail -n 3 "$work/dev/pump.log"))"
fi
# What a function's (re)start writes (each one started before the banner,
# as on a hot reload) shows as one short line, without the runtime's warning.
dev_terminal <"$work/dev/watch.log" >"$work/restarts"
started=$(grep -c ' started (cargo lambda watch)$' "$work/restarts" || true)
if [ "$started" -ge "$(find "$root/functions" -mindepth 1 -maxdepth 1 -type d | wc -l)" ] &&
  ! grep -q -e 'AWS_LAMBDA_MAX_CONCURRENCY' -e 'starting lambda function instance' "$work/restarts"; then
  ok "a function's start is one line on the terminal ($started starts)"
else
  fail "function starts on the terminal: $(grep -e 'started' -e 'CONCURRENCY' "$work/restarts" | head -n 3)"
fi
# What a hot reload and a caller that gave up make `cargo lambda watch` and
# the runtime print (as they print it) reads as what it is, not as an ERROR.
printf '%s\n' 'ERROR command killed code=ForceStop' \
  '13:24:40.137  ERROR Lambda Runtime API returned non-200 response  status=500 Internal Server Error' |
  dev_terminal >"$work/reload"
if grep -q 'watch      a file changed' "$work/reload" &&
  grep -q '^13:24:40.137  watch      an answer came after its caller stopped waiting' "$work/reload" &&
  ! grep -q ERROR "$work/reload"; then
  ok "a reload and a late answer in words"
else
  fail "a reload and a late answer: $(cat "$work/reload")"
fi
# No runtime errors (a reply the caller had stopped waiting for).
errors=$(grep -c -e 'ERROR' -e 'non-200' "$terminal" || true)
if [ "$errors" = 0 ]; then ok "no ERROR line on the terminal"; else fail "$errors ERROR lines: $(grep -m 3 ERROR "$terminal")"; fi
json=$(grep -c -E '^\s*[{[]|"_aws"' "$terminal" || true)
if [ "$json" = 0 ]; then ok "no JSON or EMF line on the terminal"; else fail "$json JSON lines on the terminal"; fi
lines=$(wc -l <"$terminal")
long=$(awk 'length > 200' "$terminal" | wc -l)
if ((long * 10 < lines)); then ok "$long of $lines lines over 200 characters"; else fail "$long of $lines lines over 200 characters"; fi

# Ctrl-C: dev.sh and everything it started end.
pids=$(cat "$work/dev/pids")
kill -INT -- "-$dev_pid"
wait "$dev_pid" || true
dev_pid=
left=()
for pid in $pids; do
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    kill -0 -- "-$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 -- "-$pid" 2>/dev/null; then left+=("$(ps -o pid=,args= -g "$pid" | head -n 3)"); fi
done
for port in "$MOTO_PORT" "$WATCH_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then left+=("a listener on port $port"); fi
done
if [ "${#left[@]}" = 0 ]; then ok "Ctrl-C left nothing running"; else fail "Ctrl-C left: ${left[*]}"; fi

echo "walk: the terminal after the banner:"
sed -n "$banner_lines,$((banner_lines + 29))p" "$terminal"
echo "walk: $passed passed, $failed failed"
[ "$failed" = 0 ]
