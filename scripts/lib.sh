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

# wait_port PORT SECONDS: until something accepts connections on 127.0.0.1:PORT
# (no HTTP request: `cargo lambda watch` logs an error for any path that names
# no function).
wait_port() {
  local deadline=$((SECONDS + $2))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    if ((SECONDS > deadline)); then
      echo "nothing listens on 127.0.0.1:$1 after $2 s" >&2
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

# emulator_setup ENDPOINT [QUEUE]: table, dead-letter table, topic and, when
# named, a queue subscribed to the topic; sets LIVEHOOK_TABLE,
# LIVEHOOK_FAILED_TABLE, LIVEHOOK_TOPIC_ARN (and TAIL_QUEUE_URL).
emulator_setup() {
  eval "$("$root/.venv/bin/python" "$root/scripts/aws_setup.py" "$1" ${2:+--queue "$2"})"
}

# stack_build [CARGO_FLAG…]: compiles every function of functions/ and the
# CLI (cargo's progress shown unless -q), so that no request waits for a
# compiler. One selection for all of them: `cargo build -p livehook-cli`
# alone unifies features differently and compiles the AWS SDK crates again.
stack_build() {
  local bins=() f
  for f in "$root"/functions/*/; do
    bins+=(--bin "$(basename "$f")")
  done
  (cd "$root" && cargo build "$@" "${bins[@]}" --bin livehook)
}

# cli_build DIR: builds the livehook CLI with every function (stack_build)
# and copies it into DIR (the target directory may be shared with other
# checkouts); sets $livehook. Everything the scripts know about providers
# (names, routes, credentials, how each one sends) comes from it:
# `livehook providers`, `livehook send`.
cli_build() {
  stack_build -q
  cp "$(target_dir)/debug/livehook" "$1/livehook"
  livehook="$1/livehook"
}

# target_dir: where cargo puts what it builds (target/, or CARGO_TARGET_DIR
# or a configured build.target-dir: cargo knows).
target_dir() {
  (cd "$root" && cargo metadata --format-version 1 --no-deps) |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
}

# watch_start PORT ENV_FILE LOG: every function of functions/ under `cargo lambda watch`.
watch_start() {
  # setsid is the background job itself, so $! leads the new process group
  # (cargo lambda and every function it starts) and stack_stop can end it all.
  setsid bash -c 'cd "$0" && exec cargo lambda watch "$@"' "$root" \
    -A 127.0.0.1 -P "$1" --env-file "$2" --quiet >"$3" 2>&1 &
  stack_pids+=($!)
  wait_port "$1" 600
}

# watch_warm BASE [FUNCTION…]: starts every function (or those named) under
# `cargo lambda watch` (it starts one on its first request) so that the first
# real delivery is answered at once: a PUT to each provider (405, nothing
# stored: no provider takes PUT, while Alibaba's takes GET) and an empty batch to the relay, all at once, each repeated until
# the function itself answers (the gateway answers 5xx while a function is
# still starting).
watch_warm() {
  local f pids=() names=("${@:2}")
  if [ ${#names[@]} = 0 ]; then
    for f in "$root"/functions/*/; do
      names+=("$(basename "$f")")
    done
  fi
  for f in "${names[@]}"; do
    (
      deadline=$((SECONDS + 600))
      while ((SECONDS < deadline)); do
        if [ "$f" = relay ]; then
          status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 -X POST -d '{"Records":[]}' \
            "$1/2015-03-31/functions/relay/invocations") || status=000
          [ "$status" = 200 ] && exit 0
        else
          status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 -X PUT "$1/lambda-url/$f/") || status=000
          [ "$status" = 405 ] && exit 0
        fi
        sleep 1
      done
      echo "dev: $f did not start within 600 s (see the watch log)" >&2
    ) &
    pids+=($!)
  done
  wait "${pids[@]}" || true
}

# pump_start INVOKE_BASE LOG: `livehook pump`, the local event source mapping:
# the table's stream to the relay that `cargo lambda watch` serves, its
# position kept beside LOG (not in the checkout: a test's stack is not the
# developer's). Waits until it reads the stream.
pump_start() {
  setsid env AWS_ENDPOINT_URL="$endpoint" LIVEHOOK_TABLE="$LIVEHOOK_TABLE" \
    "$livehook" pump --invoke-url "$1" \
    --checkpoint "$(dirname "$2")/pump-checkpoints/$LIVEHOOK_TABLE.json" >"$2" 2>&1 &
  stack_pids+=($!)
  local deadline=$((SECONDS + 60))
  until grep -qs '^pump: reading' "$2"; do
    if ((SECONDS > deadline)); then
      echo "livehook pump did not start reading the stream:" >&2
      cat "$2" >&2
      return 1
    fi
    sleep 0.2
  done
}

# export_signing_secrets: exports each signed platform's secret variable (the
# registry's: `livehook providers`), keeping a value already set; one local value
# serves them all (LiveKit reads it as APIKEY:SECRET, the others as a whole).
# `livehook send` and `livehook check` read the same variables. Sets
# $signing_variables.
export_signing_secrets() {
  local auth variable
  signing_variables=()
  while read -r auth variable; do
    [ "$auth" = signature ] || continue
    export "$variable=${!variable:-devkey:dev-signing-secret-0123456789}"
    signing_variables+=("$variable")
  done < <("$livehook" providers --format '{auth} {secret}')
}

# write_env FILE ENDPOINT: the functions' environment (after cli_build; logs for a person
# when LIVEHOOK_LOG_FORMAT=human is exported, in colour with CLICOLOR_FORCE=1).
write_env() {
  export_signing_secrets
  local variable
  for variable in "${signing_variables[@]}"; do
    echo "$variable=${!variable}"
  done >"$1"
  cat >>"$1" <<ENV
LIVEHOOK_LOG_FORMAT=${LIVEHOOK_LOG_FORMAT:-json}
CLICOLOR_FORCE=${CLICOLOR_FORCE:-0}
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

# write_shell_env FILE ENDPOINT BASE CLI_DIR: what a shell needs for every
# `livehook` command against the local stack, one `source FILE` away
# (exported: the CLI reads them as its flags' defaults).
write_shell_env() {
  cat >"$1" <<ENV
# The local livehook stack (make dev): source this file in any shell.
export AWS_ENDPOINT_URL=$2
export AWS_REGION=us-east-1
export LIVEHOOK_TABLE=$LIVEHOOK_TABLE
export LIVEHOOK_TOPIC_ARN=$LIVEHOOK_TOPIC_ARN
export LIVEHOOK_URL=$3/lambda-url
export LIVEHOOK_TOKEN=$LIVEHOOK_TOKEN
export LIVEHOOK_TENCENT_KEY=$LIVEHOOK_TENCENT_KEY
export PATH="$4:\$PATH"
ENV
  local variable
  for variable in "${signing_variables[@]}"; do
    echo "export $variable=${!variable}"
  done >>"$1"
}

# signing_secret_of PROVIDER: the first secret of a signed platform's variable.
signing_secret_of() {
  local variable
  variable=$("$livehook" providers --format '{name} {secret}' | awk -v p="$1" '$1 == p { print $2 }')
  echo "${!variable%%,*}"
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

# dev_terminal: what `make dev` shows of the functions' and the pump's logs
# (stdin to stdout, line by line), in words for a person:
# - dropped: the runtime's warning about AWS_LAMBDA_MAX_CONCURRENCY=1, which
#   `cargo lambda watch` sets for every function after reading the env file
#   (in AWS only Lambda Managed Instances set it); the pump's per-batch lines
#   (the relay's own line says the same; its retries and errors stay);
#   `cargo lambda watch`'s line about spawning an instance (the next says it);
# - `cargo lambda watch`'s ~330-character line on each start of a function:
#   its time and name;
# - its `command killed code=ForceStop`: how it stops the functions to
#   restart them after a file changed;
# - the runtime's `non-200 response status=500`: `cargo lambda watch`
#   answers a function's reply so when the caller has stopped waiting (a
#   send that timed out); the delivery itself was handled, as its line says.
dev_terminal() {
  local line now stamp
  while IFS= read -r line; do
    now=$EPOCHREALTIME
    stamp=$(TZ=UTC printf '%(%H:%M:%S)T.%.3s' "${now%.*}" "${now#*.}")
    case $line in
      *"AWS_LAMBDA_MAX_CONCURRENCY is set to '1'"*) ;;
      "pump: "*" records → relay: ok") ;;
      *"spawning function instance function="*) ;;
      *"starting lambda function instance function=\""*)
        line=${line#*function=\"}
        printf '%s  %-10s started (cargo lambda watch)\n' "$stamp" "${line%%\"*}"
        ;;
      *"command killed code=ForceStop"*)
        printf '%s  %-10s a file changed: the functions restart (rebuilt first: answers wait until then)\n' "$stamp" watch
        ;;
      *"Lambda Runtime API returned non-200 response"*"status=500"*)
        printf '%s  %-10s an answer came after its caller stopped waiting (a send that timed out?); the delivery was handled as logged\n' \
          "${line%%  *}" watch
        ;;
      *) printf '%s\n' "$line" ;;
    esac
  done
}

stack_stop() {
  local pid
  for pid in "${stack_pids[@]}"; do
    kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
