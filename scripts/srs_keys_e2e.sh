#!/usr/bin/env bash
# Stream keys with a real SRS (`make e2e-srs SRS_BIN=…/objs/srs`; not in
# `make test`: SRS is built from source). On a local stack of its own with
# LIVEHOOK_STREAM_KEYS=publish,play, SRS's http_hooks on_publish and on_play
# point at livehook's /srs route; keys are made with `livehook keys create`.
# ffmpeg shows: the publish key streams and the play key plays; a wrong key,
# no key, the publish key for playing, and a revoked key are refused by SRS
# itself (ffmpeg exits non-zero); each refusal publishes `stream.refused`
# with its reason; no key is in any published, stored or logged byte.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=scripts/keys_lib.sh
source "$root/scripts/keys_lib.sh"

SRS_BIN=${SRS_BIN:-}
if [ -z "$SRS_BIN" ] || [ ! -x "$SRS_BIN" ]; then
  echo "srs keys e2e: set SRS_BIN to an SRS binary (objs/srs of an SRS build, e.g." >&2
  echo "  ./configure --rtc=off --srt=off --sys-ssl=on && make; see the README)" >&2
  exit 2
fi
command -v ffmpeg >/dev/null || { echo "srs keys e2e: ffmpeg is missing" >&2; exit 2; }
work=$(mktemp -d)
trap 'stack_stop; rm -rf "$work"' EXIT
keys_standalone "$work" publish,play
queue=keys-e2e-srs
keys_queue "$queue"
watch_warm "$base" srs

stream="cam-$RANDOM$RANDOM"
publish_key=$(keys_create "$work/keys.log" "live/$stream") || { cat "$work/keys.log"; exit 1; }
play_key=$(keys_create "$work/keys.log" "live/$stream" --play) || { cat "$work/keys.log"; exit 1; }
wrong="not-the-key-$RANDOM$RANDOM$RANDOM"

port=$(free_port)
url=$(url_for "$base" srs)
mkdir -p "$work/srs"
cat >"$work/srs/srs.conf" <<CONF
listen 127.0.0.1:$port;
max_connections 100;
daemon off;
pid $work/srs/srs.pid;
srs_log_tank file;
srs_log_file $work/srs/srs.log;
ff_log_dir /dev/null;
vhost __defaultVhost__ {
  http_hooks {
    enabled on;
    on_publish $url;
    on_play $url;
  }
}
CONF
(cd "$work/srs" && exec setsid "$SRS_BIN" -c "$work/srs/srs.conf" >"$work/srs/stdout.log" 2>&1) &
stack_pids+=($!)
wait_port "$port" 30 || { cat "$work/srs/stdout.log" "$work/srs/srs.log"; exit 1; }
echo "srs keys e2e: $("$SRS_BIN" -v 2>&1) on 127.0.0.1:$port, hooks at ${url%%\?*}"

rtmp="rtmp://127.0.0.1:$port/live/$stream"
# The publisher with its key streams for 12 s; players try meanwhile.
rtmp_push "$rtmp?key=$publish_key" 12 "$work/publish.log" &
publisher=$!
sleep 3
if rtmp_play "$rtmp?key=$play_key" "$work/play.log"; then
  ok "srs: the play key plays (ffmpeg decoded 15 frames)"
else
  fail "srs: the play key did not play: $(tail -n 3 "$work/play.log")"
fi
for case in "wrong key:key=$wrong" "no key:a=1" "the publish key:key=$publish_key"; do
  if rtmp_play "$rtmp?${case#*:}" "$work/refused-play.log"; then
    fail "srs: a player with ${case%%:*} was admitted"
  else
    ok "srs: a player with ${case%%:*} is refused by SRS (ffmpeg: $(ffmpeg_error "$work/refused-play.log"))"
  fi
done
if wait "$publisher"; then
  ok "srs: the publish key streams (ffmpeg published 12 s)"
else
  fail "srs: ffmpeg could not publish with the key: $(tail -n 3 "$work/publish.log")"
fi

# Publishers SRS must turn away (another stream name: the first is still unpublishing).
for case in "wrong key:key=$wrong" "no key:a=1" "the play key:key=$play_key"; do
  if rtmp_push "$rtmp?${case#*:}" 2 "$work/refused.log"; then
    fail "srs: a publisher with ${case%%:*} was not refused"
  else
    ok "srs: a publisher with ${case%%:*} is refused by SRS (ffmpeg: $(ffmpeg_error "$work/refused.log"))"
  fi
done
keys_cli keys revoke "live/$stream" >"$work/revoke.log" 2>&1 || { fail "srs: keys revoke: $(cat "$work/revoke.log")"; }
if rtmp_push "$rtmp?key=$publish_key" 2 "$work/revoked.log"; then
  fail "srs: a publisher with a revoked key was not refused"
else
  ok "srs: a publisher with the revoked key is refused by SRS (ffmpeg: $(ffmpeg_error "$work/revoked.log"))"
fi

keys_published "$queue" "$work/published" 9
keys_expect srs "playback.started stream.refused/missing_key stream.refused/missing_key stream.refused/revoked_key stream.refused/wrong_key stream.refused/wrong_key stream.refused/wrong_key stream.refused/wrong_key stream.started" "$work/published"
keys_stored "$work/stored"
keys_nowhere srs "$work/published" "$work/stored" "$work/watch.log" "$work/pump.log" -- "$publish_key" "$play_key"
# SRS asks each hook once per client: one refusal line per refused client, no retry.
refusals=$(grep -c 'http: on_p[a-z]* failed' "$work/srs/srs.log" || true)
clients=$(grep -o 'http: on_p[a-z]* failed, client_id=[a-z0-9]*' "$work/srs/srs.log" | sort -u | wc -l)
if [ "$refusals" = 7 ] && [ "$clients" = 7 ]; then
  ok "srs: 7 refusals logged by SRS, one per client (no retry of a refused hook)"
else
  fail "srs: SRS logged $refusals refused hooks for $clients clients (expected 7 and 7)"
fi
echo "srs keys e2e: SRS's own line for a refusal (the key masked here: SRS logs the request's param):"
grep -m1 'http: on_publish failed' "$work/srs/srs.log" | sed 's/key=[A-Za-z0-9_-]*/key=…/g' | head -c 900
echo
echo "srs keys e2e: $passed passed, $failed failed"
[ "$failed" = 0 ]
