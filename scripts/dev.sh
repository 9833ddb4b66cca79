#!/usr/bin/env bash
# `make dev`: the local livehook stack. Emulator (moto) on 127.0.0.1:${MOTO_PORT:-5050},
# table (with its stream) + topic + a tail queue, every function under `cargo lambda
# watch` on 127.0.0.1:${WATCH_PORT:-9000}, and `livehook pump` feeding the table's
# stream to the relay (the event source mapping AWS runs). Prints each provider's URL (from the registry:
# `livehook providers`) and a ready `livehook send` line. Ctrl-C stops everything it started.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$root"
mkdir -p .livehook
trap 'echo; echo "dev: stopping"; stack_stop' EXIT
trap 'exit 0' INT TERM

export LIVEHOOK_TOKEN=${LIVEHOOK_TOKEN:-dev-token-0123456789}
export LIVEHOOK_TENCENT_KEY=${LIVEHOOK_TENCENT_KEY:-dev-tencent-key}
# The samples carry their documents' old timestamps; a real sender's are fresh.
# Set LIVEHOOK_REPLAY_WINDOW_SECONDS to try the replay window locally.
export LIVEHOOK_REPLAY_WINDOW_SECONDS=${LIVEHOOK_REPLAY_WINDOW_SECONDS:-0}
moto_port=${MOTO_PORT:-5050}
watch_port=${WATCH_PORT:-9000}
endpoint="http://127.0.0.1:$moto_port"
base="http://127.0.0.1:$watch_port"

echo "dev: building the livehook CLI (.livehook/livehook)"
cli_build .livehook
echo "dev: emulator on $endpoint (log: .livehook/moto.log)"
emulator_start "$moto_port" .livehook/moto.log
emulator_setup "$endpoint" livehook-tail
write_env .livehook/env "$endpoint"
echo "dev: cargo lambda watch on $base (log: .livehook/watch.log; first requests compile)"
watch_start "$watch_port" .livehook/env .livehook/watch.log
echo "dev: livehook pump: $LIVEHOOK_TABLE's stream → relay (log: .livehook/pump.log)"
pump_start "$base" .livehook/pump.log

token=${LIVEHOOK_TOKEN%%,*}
echo
echo "livehook is running locally. Point each provider at its URL ({hook}: one URL per hook):"
echo
"$livehook" providers --url "$base/lambda-url" --token "$token" --format '{name} {auth} {url}' |
  while read -r name auth url; do
    note=""
    [ "$auth" = tencent-sign ] && note="   (callback key: $LIVEHOOK_TENCENT_KEY)"
    printf '  %-10s %s%s\n' "$name" "$url" "$note"
  done
echo
echo "Try one (each prints the provider's reply; --print-body shows what is sent):"
echo
"$livehook" providers --url "$base/lambda-url" --format '{name} {example} {auth} {function_url}' |
  while read -r name example auth url; do
    credential="--token $token"
    [ "$auth" = tencent-sign ] && credential="--tencent-key $LIVEHOOK_TENCENT_KEY"
    echo "  .livehook/livehook send $name $example --url $url $credential"
  done
cat <<INFO

Check every provider end to end (event to topic, retry deduplicated, wrong token refused):

  .livehook/livehook check --url $base/lambda-url --endpoint-url $endpoint --topic-arn $LIVEHOOK_TOPIC_ARN --token $token --tencent-key $LIVEHOOK_TENCENT_KEY

Events reach the topic through the table's stream: livehook pump invokes the relay
(.livehook/pump.log, one line per batch), usually within half a second.

See what was published:   .venv/bin/python scripts/tail.py --endpoint $endpoint
Table / topic:            $LIVEHOOK_TABLE / $LIVEHOOK_TOPIC_ARN  (AWS_ENDPOINT_URL=$endpoint)

Ctrl-C stops the emulator and the functions.
INFO
tail -f .livehook/watch.log .livehook/pump.log &
stack_pids+=($!)
wait
