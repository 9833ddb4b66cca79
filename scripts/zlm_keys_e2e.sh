#!/usr/bin/env bash
# Stream keys with a real ZLMediaKit (`make e2e-zlm ZLM_BIN=…/MediaServer`;
# not in `make test`: ZLMediaKit is built from source). On a local stack of
# its own with LIVEHOOK_STREAM_KEYS=publish,play, ZLMediaKit's [hook]
# on_publish and on_play point at livehook's /zlmediakit route; the scenario
# is keys_lib.sh's keys_scenario (the SRS run's too): the keys admit, a wrong
# key, no key, the other action's key and a revoked key are refused by
# ZLMediaKit itself (ffmpeg exits non-zero), each refusal is a
# `stream.refused` event, no key is in any published, stored or logged byte;
# and ZLMediaKit does not retry a refusal (one hook per refused client).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=scripts/keys_lib.sh
source "$root/scripts/keys_lib.sh"

ZLM_BIN=${ZLM_BIN:-}
keys_real_server zlm "$ZLM_BIN" zlmediakit "set ZLM_BIN to a ZLMediaKit MediaServer binary (release/linux/Release/MediaServer
  of a build: cmake -DENABLE_WEBRTC=OFF -DENABLE_SRT=OFF … && make; see the README)"

port=$(free_port)
mkdir -p "$work/zlm"
# Only RTMP listens (every other port 0: off); the hooks that matter here, no other.
cat >"$work/zlm/config.ini" <<CONF
[api]
secret=keys-e2e-$RANDOM$RANDOM$RANDOM$RANDOM
[general]
listen_ip=127.0.0.1
mediaServerId=keys-e2e
[hook]
enable=1
on_publish=$(url_for "$base" zlmediakit on_publish)
on_play=$(url_for "$base" zlmediakit on_play)
timeoutSec=30
[rtmp]
port=$port
sslport=0
[rtsp]
port=0
sslport=0
[http]
port=0
sslport=0
[shell]
port=0
[rtp_proxy]
port=0
[protocol]
enable_hls=0
enable_hls_fmp4=0
enable_mp4=0
enable_fmp4=0
enable_ts=0
CONF
# A MediaServer built with ENABLE_MP4=OFF (at daaa74a) cannot take H.264 over
# RTMP (an assertion in H264.cpp's setExtraData drops the publisher); AAC it
# takes. ZLM_MEDIA=video pushes H.264 to a default (MP4 on) build.
keys_media=${ZLM_MEDIA:-audio}
(cd "$work/zlm" && exec setsid "$ZLM_BIN" -c "$work/zlm/config.ini" -t 1 -l 1 --log-dir "$work/zlm/log" \
  >"$work/zlm/stdout.log" 2>&1) &
stack_pids+=($!)
wait_port "$port" 30 || { tail -n 40 "$work/zlm/stdout.log"; exit 1; }
echo "zlm keys e2e: ZLMediaKit $(grep -m1 -o 'ZLMediaKit(git hash:[^)]*)' "$work/zlm/stdout.log" || echo "(version?)") on 127.0.0.1:$port"

keys_scenario zlmediakit "rtmp://127.0.0.1:$port/live/cam-$RANDOM$RANDOM" "$work"
# One hook call per refused client: ZLMediaKit does not retry a non-zero code.
refusals=$(grep -c 'WebHook.*failed.auth failed' "$work/zlm/stdout.log" || true)
if [ "$refusals" = 7 ]; then
  ok "zlmediakit: 7 refusals logged by ZLMediaKit, one per client (no retry of a refused hook)"
else
  fail "zlmediakit: ZLMediaKit logged $refusals refused hooks (expected 7)"
  grep -i 'hook\|auth' "$work/zlm/stdout.log" | sed 's/key=[A-Za-z0-9_-]*/key=…/g' | tail -n 20
fi
echo "zlm keys e2e: ZLMediaKit's own line for a refusal:"
grep -m1 -A14 'WebHook.*failed.auth failed' "$work/zlm/stdout.log" | sed 's/key=[A-Za-z0-9_-]*/key=…/g; s/\x1b\[[0-9;]*m//g'
echo
echo "zlm keys e2e: $passed passed, $failed failed"
[ "$failed" = 0 ]
