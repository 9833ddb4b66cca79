#!/usr/bin/env bash
# `make dev`: the local livehook stack. Emulator (moto) on 127.0.0.1:${MOTO_PORT:-5050},
# table + topic + a tail queue, and the five functions under `cargo lambda watch`
# on 127.0.0.1:${WATCH_PORT:-9000}. Prints the URL for each provider and a ready
# curl line. Ctrl-C stops everything it started.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$root"
mkdir -p .livehook
trap 'echo; echo "dev: stopping"; stack_stop' EXIT
trap 'exit 0' INT TERM

export LIVEHOOK_TOKEN=${LIVEHOOK_TOKEN:-dev-token}
export LIVEHOOK_TENCENT_KEY=${LIVEHOOK_TENCENT_KEY:-dev-tencent-key}
# The samples carry their documents' old timestamps; a real sender's are fresh.
# Set LIVEHOOK_REPLAY_WINDOW_SECONDS to try the replay window locally.
export LIVEHOOK_REPLAY_WINDOW_SECONDS=${LIVEHOOK_REPLAY_WINDOW_SECONDS:-0}
moto_port=${MOTO_PORT:-5050}
watch_port=${WATCH_PORT:-9000}
endpoint="http://127.0.0.1:$moto_port"
base="http://127.0.0.1:$watch_port"

echo "dev: emulator on $endpoint (log: .livehook/moto.log)"
emulator_start "$moto_port" .livehook/moto.log
emulator_setup "$endpoint" livehook-tail
write_env .livehook/env "$endpoint"
echo "dev: cargo lambda watch on $base (log: .livehook/watch.log; first requests compile)"
watch_start "$watch_port" .livehook/env .livehook/watch.log

token=${LIVEHOOK_TOKEN%%,*}
cat <<INFO

livehook is running locally. Point each provider at its URL:

  Tencent Cloud Live  $(url_for "$base" tencent)      (callback key: $LIVEHOOK_TENCENT_KEY)
  Aodianyun           $(url_for "$base" aodianyun)
  BililiveRecorder    $(url_for "$base" bililive)
  lalserver           $base/lambda-url/lal/<hook>?token=$token   (one URL per http_notify hook)
  Api Server          $(url_for "$base" apiserver)

Try one (each prints the provider's reply):

  .venv/bin/python scripts/sign_tencent.py events/tencent/push.json $LIVEHOOK_TENCENT_KEY | curl -s -H 'content-type: application/json' --data-binary @- '$(url_for "$base" tencent)'
  curl -s -H 'content-type: application/json' --data-binary @events/aodianyun/start_publish.json '$(url_for "$base" aodianyun)'
  curl -s -H 'content-type: application/json' --data-binary @events/bililive/SessionStarted.json '$(url_for "$base" bililive)'
  curl -s -H 'content-type: application/json' --data-binary @events/lal/on_pub_start.json '$(url_for "$base" lal on_pub_start)'
  curl -s -H 'content-type: application/json' --data-binary @events/apiserver/channel_live.json '$(url_for "$base" apiserver)'

See what was published:   .venv/bin/python scripts/tail.py --endpoint $endpoint
Table / topic:            $LIVEHOOK_TABLE / $LIVEHOOK_TOPIC_ARN  (AWS_ENDPOINT_URL=$endpoint)

Ctrl-C stops the emulator and the functions.
INFO
tail -f .livehook/watch.log &
stack_pids+=($!)
wait
