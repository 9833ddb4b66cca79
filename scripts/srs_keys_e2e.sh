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
keys_real_server srs "$SRS_BIN" srs "set SRS_BIN to an SRS binary (objs/srs of an SRS build, e.g.
  ./configure --rtc=off --srt=off --sys-ssl=on && make; see the README)"

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

keys_scenario srs "rtmp://127.0.0.1:$port/live/cam-$RANDOM$RANDOM" "$work"
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
