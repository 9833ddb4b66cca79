#!/usr/bin/env bash
# `make dev`: the local livehook stack. Builds every function and the CLI
# first (cargo's progress on the terminal), then: emulator (moto) on
# 127.0.0.1:${MOTO_PORT:-5050}; table (with its stream) + dead-letter table + topic;
# every function under `cargo lambda watch` on 127.0.0.1:${WATCH_PORT:-9000},
# each started before the banner; `livehook pump` feeding the table's stream to
# the relay (the event source mapping AWS runs). Writes .livehook/env (one
# `source` line for every livehook command), prints each provider's URL (from
# the registry: `livehook providers`), ready commands, then one line per
# delivery and per relay batch. Ctrl-C stops everything it started.
# LIVEHOOK_DEV_DIR (default .livehook) holds its files: the walk test runs it
# beside a running `make dev`.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$root"
dir=${LIVEHOOK_DEV_DIR:-.livehook}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# Paths as a person in the checkout types them.
show=${dir#"$root"/}
trap 'echo; echo "dev: stopping"; stack_stop' EXIT
trap 'exit 0' INT TERM

export LIVEHOOK_TOKEN=${LIVEHOOK_TOKEN:-dev-token-0123456789}
export LIVEHOOK_TENCENT_KEY=${LIVEHOOK_TENCENT_KEY:-dev-tencent-key}
# The samples carry their documents' old timestamps; a real sender's are fresh.
# Set LIVEHOOK_REPLAY_WINDOW_SECONDS to try the replay window locally.
export LIVEHOOK_REPLAY_WINDOW_SECONDS=${LIVEHOOK_REPLAY_WINDOW_SECONDS:-0}
# The functions log one line per delivery for this terminal (JSON and EMF
# are for CloudWatch); in colour when the terminal is one.
export LIVEHOOK_LOG_FORMAT=${LIVEHOOK_LOG_FORMAT:-human}
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then export CLICOLOR_FORCE=1; fi
moto_port=${MOTO_PORT:-5050}
watch_port=${WATCH_PORT:-9000}
endpoint="http://127.0.0.1:$moto_port"
base="http://127.0.0.1:$watch_port"
for port in "$moto_port" "$watch_port"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "dev: port $port is taken (another make dev?); choose others: make dev MOTO_PORT=5051 WATCH_PORT=9001" >&2
    exit 1
  fi
done

started=$SECONDS
echo "dev: building every function and the livehook CLI (cargo build; the first time takes minutes)"
stack_build
# Built above with the functions (one feature set: nothing compiled twice).
cp "$(target_dir)/debug/livehook" "$dir/livehook"
livehook="$dir/livehook"
echo "dev: emulator on $endpoint (log: $show/moto.log)"
emulator_start "$moto_port" "$dir/moto.log"
emulator_setup "$endpoint"
write_env "$dir/functions.env" "$endpoint"
write_shell_env "$dir/env" "$endpoint" "$base" "$dir"
echo "dev: cargo lambda watch on $base (log: $show/watch.log)"
watch_start "$watch_port" "$dir/functions.env" "$dir/watch.log"
echo "dev: starting every function"
watch_warm "$base"
echo "dev: livehook pump: $LIVEHOOK_TABLE's stream → relay (log: $show/pump.log)"
pump_start "$base" "$dir/pump.log"
# The stack's process groups, for whoever checks that Ctrl-C ended them all.
echo "${stack_pids[*]}" >"$dir/pids"

token=${LIVEHOOK_TOKEN%%,*}
echo
echo "livehook is running locally (ready in $((SECONDS - started)) s). Point each provider at its URL ({hook}: one URL per hook):"
echo
"$livehook" providers --url "$base/lambda-url" --token "$token" --format '{name} {auth} {url}' |
  while read -r name auth url; do
    note=""
    [ "$auth" = tencent-sign ] && note="   (callback key: $LIVEHOOK_TENCENT_KEY)"
    [ "$auth" = signature ] && note="   (signing secret: $(signing_secret_of "$name"))"
    printf '  %-10s %s%s\n' "$name" "$url" "$note"
  done
echo
echo "Send one as the provider would (prints its reply; --print-body shows what is sent):"
echo
"$livehook" providers --url "$base/lambda-url" --format '{name} {example} {auth} {function_url}' |
  while read -r name example auth url; do
    credential="--token $token"
    [ "$auth" = tencent-sign ] && credential="--tencent-key $LIVEHOOK_TENCENT_KEY"
    [ "$auth" = signature ] && credential="--secret $(signing_secret_of "$name")"
    echo "  $show/livehook send $name $example --url $url $credential"
  done
cat <<INFO

In another terminal, this line sets what every livehook command needs (endpoint,
table, topic, URL, token; livehook on PATH):

  source $dir/env

  livehook tail          # print each event published to the topic, as it arrives
  livehook events list   # the recorded events, newest first
  livehook events show   # the newest event's envelope (or: livehook events show <ID>)
  livehook check         # every provider end to end: to the topic, retry deduplicated, wrong token refused

Below: one line per delivery (time, provider, hook, type, subject, id, outcome, ms)
and per relay batch. Full logs: $show/watch.log, $show/pump.log, $show/moto.log.
Ctrl-C stops the emulator, the functions and the pump.

INFO
# New lines only, without file headers, through dev_terminal (lib.sh).
export -f dev_terminal
setsid bash -c 'tail -n 0 -q -F "$0" "$1" 2>/dev/null | dev_terminal' \
  "$dir/watch.log" "$dir/pump.log" &
stack_pids+=($!)
wait
