# Shared by dev.sh and e2e.sh: the local stack (emulator + resources +
# `cargo lambda watch`). Source it; call `stack_stop` on exit.
# shellcheck shell=bash

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$root/.venv/bin:$PATH"
# Dummy credentials: the emulator accepts anything, and real ones must never be used here.
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
stack_pids=()

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http URL SECONDS: until URL answers anything over HTTP.
wait_http() {
  local deadline=$((SECONDS + $2))
  until curl -s -o /dev/null "$1"; do
    if ((SECONDS > deadline)); then
      echo "no answer from $1 after $2 s" >&2
      return 1
    fi
    sleep 0.3
  done
}

# emulator_start PORT LOG: moto, one request at a time (atomic conditional writes).
emulator_start() {
  setsid "$root/.venv/bin/python" "$root/scripts/moto_serial.py" -H 127.0.0.1 -p "$1" >"$2" 2>&1 &
  stack_pids+=($!)
  wait_http "http://127.0.0.1:$1/moto-api/" 60
}

# emulator_setup ENDPOINT QUEUE: table, dead-letter table, topic, tail queue; sets LIVEHOOK_TABLE,
# LIVEHOOK_FAILED_TABLE, LIVEHOOK_TOPIC_ARN, TAIL_QUEUE_URL.
emulator_setup() {
  eval "$("$root/.venv/bin/python" "$root/scripts/aws_setup.py" "$1" --queue "$2")"
}

# cli_build DIR: builds the livehook CLI and copies it into DIR (the target
# directory may be shared with other checkouts); sets $livehook. Everything
# the scripts know about providers (names, routes, credentials, how each one
# sends) comes from it: `livehook providers`, `livehook send`.
cli_build() {
  (cd "$root" && cargo build -q -p livehook-cli)
  cp "$root/target/debug/livehook" "$1/livehook"
  livehook="$1/livehook"
}

# watch_start PORT ENV_FILE LOG: every function of functions/ under `cargo lambda watch`.
watch_start() {
  # setsid is the background job itself, so $! leads the new process group
  # (cargo lambda and every function it starts) and stack_stop can end it all.
  setsid bash -c 'cd "$0" && exec cargo lambda watch "$@"' "$root" \
    -A 127.0.0.1 -P "$1" --env-file "$2" >"$3" 2>&1 &
  stack_pids+=($!)
  wait_http "http://127.0.0.1:$1/" 600
}

# pump_start INVOKE_BASE LOG: `livehook pump`, the local event source mapping:
# the table's stream to the relay that `cargo lambda watch` serves. Waits
# until it reads the stream (the relay compiles on its first invocation).
pump_start() {
  setsid env AWS_ENDPOINT_URL="$endpoint" LIVEHOOK_TABLE="$LIVEHOOK_TABLE" \
    "$livehook" pump --invoke-url "$1" >"$2" 2>&1 &
  stack_pids+=($!)
  local deadline=$((SECONDS + 60))
  until grep -q '^pump: reading' "$2"; do
    if ((SECONDS > deadline)); then
      echo "livehook pump did not start reading the stream:" >&2
      cat "$2" >&2
      return 1
    fi
    sleep 0.2
  done
}

# write_env FILE ENDPOINT: the functions' environment.
write_env() {
  cat >"$1" <<ENV
LIVEHOOK_TABLE=$LIVEHOOK_TABLE
LIVEHOOK_FAILED_TABLE=$LIVEHOOK_FAILED_TABLE
LIVEHOOK_TOPIC_ARN=$LIVEHOOK_TOPIC_ARN
LIVEHOOK_TOKEN=$LIVEHOOK_TOKEN
LIVEHOOK_TENCENT_KEY=$LIVEHOOK_TENCENT_KEY
LIVEHOOK_REPLAY_WINDOW_SECONDS=${LIVEHOOK_REPLAY_WINDOW_SECONDS:-0}
AWS_ENDPOINT_URL=$2
AWS_ACCESS_KEY_ID=testing
AWS_SECRET_ACCESS_KEY=testing
AWS_SESSION_TOKEN=testing
AWS_REGION=us-east-1
RUST_LOG=${RUST_LOG:-info}
ENV
}

# url_for BASE PROVIDER [HOOK]: the local URL of a provider's function with
# the first configured token (where the provider takes one), from the registry.
url_for() {
  local url
  url=$("$livehook" providers --url "$1/lambda-url" --token "$LIVEHOOK_TOKEN" --format '{name} {url}' |
    awk -v p="$2" '$1 == p { print $2 }')
  [ -n "$url" ] || { echo "url_for: no provider $2" >&2; return 1; }
  echo "${url/"{hook}"/${3:-}}"
}

stack_stop() {
  local pid
  for pid in "${stack_pids[@]}"; do
    kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
