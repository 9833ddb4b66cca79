# shellcheck shell=bash
# Stream keys with real media servers: the steps every run shares. Sourced by
# scripts/nginx_keys_e2e.sh (inside e2e.sh's stack) and by the runs on a stack
# of their own, scripts/srs_keys_e2e.sh and scripts/zlm_keys_e2e.sh (after
# lib.sh), which share keys_scenario. They use the caller's ok/fail, $root,
# $endpoint, $livehook and $LIVEHOOK_TABLE.

# keys_real_server LABEL BIN PROVIDER HINT: the opening of a run against a real
# server built from source: its binary (BIN, from the variable the make target
# names; HINT says how to get one) and ffmpeg present, else exit 2; then a stack
# of its own with both admissions keyed and PROVIDER's function warm. Sets $work
# (removed, with the stack stopped, on exit).
keys_real_server() {
  local label=$1 bin=$2 provider=$3 hint=$4
  if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    printf '%s keys e2e: %s\n' "$label" "$hint" >&2
    exit 2
  fi
  command -v ffmpeg >/dev/null || {
    echo "$label keys e2e: ffmpeg is missing" >&2
    exit 2
  }
  work=$(mktemp -d)
  trap 'stack_stop; rm -rf "$work"' EXIT
  keys_standalone "$work" publish,play
  watch_warm "$base" "$provider"
}

# keys_standalone WORK [SETTING]: the local stack of a run of its own (emulator,
# tables, topic, every function under `cargo lambda watch` with
# LIVEHOOK_STREAM_KEYS=SETTING if given, `livehook pump`), as e2e.sh starts it; sets
# $endpoint, $base, $livehook and ok/fail (counted in $passed, $failed).
keys_standalone() {
  local work=$1 moto_port watch_port
  export LIVEHOOK_TOKEN=keys-e2e-token.0123456789 LIVEHOOK_TENCENT_KEY=keys-e2e-tencent-key
  moto_port=$(free_port)
  watch_port=$(free_port)
  endpoint="http://127.0.0.1:$moto_port"
  base="http://127.0.0.1:$watch_port"
  passed=0 failed=0
  ok() { passed=$((passed + 1)); echo "ok   $*"; }
  fail() { failed=$((failed + 1)); echo "FAIL $*"; }
  echo "keys e2e: building the functions and the CLI…"
  cli_build "$work"
  emulator_start "$moto_port" "$work/moto.log"
  emulator_setup "$endpoint"
  write_env "$work/env" "$endpoint"
  [ -z "$2" ] || echo "LIVEHOOK_STREAM_KEYS=$2" >>"$work/env"
  watch_start "$watch_port" "$work/env" "$work/watch.log"
  pump_start "$base" "$work/pump.log"
}

# keys_queue NAME: a queue of its own subscribed to the topic (for keys_published).
keys_queue() {
  "$root/.venv/bin/python" "$root/scripts/aws_setup.py" "$endpoint" --queue "$1" >/dev/null
}

# keys_cli ARG…: `livehook` against the local stack's table.
keys_cli() {
  AWS_ENDPOINT_URL=$endpoint LIVEHOOK_TABLE=$LIVEHOOK_TABLE "$livehook" "$@"
}

# keys_create LOG STREAM [--play]: a new key of STREAM (`livehook keys create`),
# printed; non-zero (LOG says why) when none was made.
keys_create() {
  local log=$1 key
  shift
  key=$(keys_cli keys create "$@" 2>"$log" | tail -n 1) && [ -n "$key" ] && echo "$key"
}

# rtmp_push URL SECONDS LOG: ffmpeg publishes a test picture (H.264), or a
# tone (AAC) when $keys_media is audio, to URL for SECONDS (in real time);
# its exit status is the publisher's.
rtmp_push() {
  local media=(-f lavfi -i "testsrc=size=160x120:rate=15" -c:v libx264 -preset ultrafast -g 15)
  [ "${keys_media:-video}" = audio ] && media=(-f lavfi -i "sine=frequency=1000:sample_rate=44100" -c:a aac)
  timeout $(($2 + 60)) ffmpeg -nostdin -hide_banner -loglevel error -re "${media[@]}" -t "$2" \
    -f flv "$1" >"$3" 2>&1
}

# rtmp_play URL LOG: ffmpeg plays URL until it has decoded 15 frames (of
# $keys_media); its exit status is the player's.
rtmp_play() {
  local frames=-frames:v
  [ "${keys_media:-video}" = audio ] && frames=-frames:a
  timeout 60 ffmpeg -nostdin -hide_banner -loglevel error -i "$1" "$frames" 15 -f null - >"$2" 2>&1
}

# ffmpeg_error LOG: ffmpeg's last error, without the URL (it holds the key).
ffmpeg_error() {
  local line
  line=$(tail -n 1 "$1")
  echo "${line##*: }"
}

# keys_published QUEUE OUT COUNT: what reached QUEUE, as JSON lines into OUT:
# at least COUNT messages (waiting up to a minute), then anything more that
# follows within 3 s.
keys_published() {
  local python="$root/.venv/bin/python"
  "$python" "$root/scripts/tail.py" --endpoint "$endpoint" --queue "$1" --json --count "$3" --wait 60 \
    >"$2" 2>/dev/null || true
  while "$python" "$root/scripts/tail.py" --endpoint "$endpoint" --queue "$1" --json --count 1 --wait 3 \
    >>"$2" 2>/dev/null; do :; done
}

# keys_stored OUT: every item of the events and dead-letter tables, one JSON line each.
keys_stored() {
  "$root/.venv/bin/python" - "$endpoint" "$LIVEHOOK_TABLE" "$LIVEHOOK_FAILED_TABLE" >"$1" <<'PY'
import json, sys, boto3
client = boto3.client("dynamodb", endpoint_url=sys.argv[1], region_name="us-east-1")
for table in sys.argv[2:]:
    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for item in page["Items"]:
            print(json.dumps(item))
PY
}

# keys_nowhere LABEL FILE… -- KEY…: no KEY occurs in any FILE (what was
# published, stored, logged).
keys_nowhere() {
  local label=$1 files=() found=()
  shift
  while [ "$1" != -- ]; do
    files+=("$1")
    shift
  done
  shift
  local key file
  for key in "$@"; do
    for file in "${files[@]}"; do
      grep -qF -e "$key" "$file" && found+=("$(basename "$file")")
    done
  done
  if [ ${#found[@]} = 0 ]; then
    ok "$label: no key in any published, stored or logged byte ($(for f in "${files[@]}"; do printf '%s: %s lines; ' "$(basename "$f")" "$(wc -l <"$f")"; done))"
  else
    fail "$label: a key is in ${found[*]}"
  fi
}

# keys_expect LABEL WANT PUBLISHED: the published events' types and refusal
# reasons, sorted (`type` or `type/reason`), are WANT (space-separated).
keys_expect() {
  local got
  got=$("$root/.venv/bin/python" -c '
import json, sys
text, decoder, at, seen = open(sys.argv[1]).read(), json.JSONDecoder(), 0, []
while text[at:].strip():
    at += len(text[at:]) - len(text[at:].lstrip())
    e, at = decoder.raw_decode(text, at)
    reason = (e.get("data") or {}).get("reason")
    seen.append(e["type"] + ("/" + reason if reason else ""))
print(" ".join(sorted(seen)))' "$3")
  if [ "$got" = "$2" ]; then
    ok "$1: published $got"
  else
    fail "$1: published [$got], expected [$2]"
    cat "$3"
  fi
}

# keys_scenario LABEL RTMP WORK: the run of a server whose on_publish and
# on_play hooks ask the stack (LIVEHOOK_STREAM_KEYS=publish,play), on the
# stream of the URL RTMP (rtmp://host:port/app/stream): its publish and play
# keys are made; the publisher with its key streams for 12 s while players
# try: the play key plays, a wrong key, no key and the publish key are
# refused by the server; then publishers with a wrong key, no key, the play
# key and (after `livehook keys revoke`) the revoked key are refused. Each
# refusal must publish `stream.refused` with its reason, and no key may be in
# any published, stored or logged byte. Sets $publish_key, $play_key.
keys_scenario() {
  local label=$1 rtmp=$2 work=$3 queue stream wrong case publisher
  stream=${rtmp#rtmp://*/}
  queue="keys-e2e-$label"
  keys_queue "$queue"
  publish_key=$(keys_create "$work/keys.log" "$stream") || { fail "$label: keys create: $(cat "$work/keys.log")"; return; }
  play_key=$(keys_create "$work/keys.log" "$stream" --play) || { fail "$label: keys create --play: $(cat "$work/keys.log")"; return; }
  wrong="not-the-key-$RANDOM$RANDOM$RANDOM"

  rtmp_push "$rtmp?key=$publish_key" 12 "$work/publish.log" &
  publisher=$!
  sleep 3
  if rtmp_play "$rtmp?key=$play_key" "$work/play.log"; then
    ok "$label: the play key plays (ffmpeg decoded 15 frames)"
  else
    fail "$label: the play key did not play: $(ffmpeg_error "$work/play.log")"
  fi
  for case in "a wrong key:key=$wrong" "no key:a=1" "the publish key:key=$publish_key"; do
    if rtmp_play "$rtmp?${case#*:}" "$work/refused-play.log"; then
      fail "$label: a player with ${case%%:*} was admitted"
    else
      ok "$label: a player with ${case%%:*} is refused by the server (ffmpeg: $(ffmpeg_error "$work/refused-play.log"))"
    fi
  done
  if wait "$publisher"; then
    ok "$label: the publish key streams (ffmpeg published 12 s)"
  else
    fail "$label: ffmpeg could not publish with the key: $(ffmpeg_error "$work/publish.log")"
  fi

  for case in "a wrong key:key=$wrong" "no key:a=1" "the play key:key=$play_key"; do
    if rtmp_push "$rtmp?${case#*:}" 2 "$work/refused.log"; then
      fail "$label: a publisher with ${case%%:*} was not refused"
    else
      ok "$label: a publisher with ${case%%:*} is refused by the server (ffmpeg: $(ffmpeg_error "$work/refused.log"))"
    fi
  done
  keys_cli keys revoke "$stream" >"$work/revoke.log" 2>&1 || fail "$label: keys revoke: $(cat "$work/revoke.log")"
  if rtmp_push "$rtmp?key=$publish_key" 2 "$work/revoked.log"; then
    fail "$label: a publisher with the revoked key was not refused"
  else
    ok "$label: a publisher with the revoked key is refused by the server (ffmpeg: $(ffmpeg_error "$work/revoked.log"))"
  fi

  keys_published "$queue" "$work/published" 9
  keys_expect "$label" "playback.started stream.refused/missing_key stream.refused/missing_key stream.refused/revoked_key stream.refused/wrong_key stream.refused/wrong_key stream.refused/wrong_key stream.refused/wrong_key stream.started" "$work/published"
  keys_stored "$work/stored"
  keys_nowhere "$label" "$work/published" "$work/stored" "$work/watch.log" "$work/pump.log" -- "$publish_key" "$play_key"
}
