# shellcheck shell=bash
# Stream keys with a real nginx-rtmp: a second `cargo lambda watch` of the
# same stack runs the functions with LIVEHOOK_STREAM_KEYS=publish; a key is
# made with `livehook keys create`; ffmpeg publishing with that key streams,
# ffmpeg publishing with a wrong key is turned away by nginx itself (its
# exit status), a `stream.refused` event reaches the topic, and neither key
# is in anything published.
#
# Sourced by scripts/e2e.sh once the stack is up (after nginx_e2e.sh, which
# installs nginx, its RTMP module and ffmpeg). Uses e2e's $root, $work,
# $endpoint, $livehook, ok/fail, nginx_e2e.sh's nginx_conf and nginx_run,
# lib.sh's free_port, watch_start, watch_warm, url_for, and keys_lib.sh's
# steps shared with the SRS and ZLMediaKit runs.

# shellcheck source=scripts/keys_lib.sh
source "$root/scripts/keys_lib.sh"

nginx_keys_e2e() {
  local dir="$work/nginx-keys" port watch_port base url stream key queue
  local module=/usr/lib/nginx/modules/ngx_rtmp_module.so
  mkdir -p "$dir/tmp" "$dir/logs"
  if ! command -v nginx >/dev/null || [ ! -f "$module" ] || ! command -v ffmpeg >/dev/null; then
    fail "nginx-rtmp stream keys: nginx, its RTMP module or ffmpeg is missing (nginx_e2e.sh installs them)"
    return
  fi
  { cat "$work/env"; echo "LIVEHOOK_STREAM_KEYS=publish"; } >"$dir/env"
  watch_port=$(free_port)
  watch_start "$watch_port" "$dir/env" "$dir/watch.log"
  base="http://127.0.0.1:$watch_port"
  url=$(url_for "$base" nginx)
  stream="keys-$RANDOM$RANDOM"
  queue=e2e-nginx-keys
  keys_queue "$queue"
  if ! key=$(keys_create "$dir/keys.log" "live/$stream"); then
    fail "nginx-rtmp stream keys: livehook keys create: $(cat "$dir/keys.log")"
    return
  fi

  port=$(free_port)
  nginx_conf "$dir" "$module" "$(
    cat <<CONF
rtmp {
  server {
    listen 127.0.0.1:$port;
    application live {
      live on;
      on_publish $url;
    }
  }
}
CONF
  )" >"$dir/nginx.conf"
  nginx_run "$dir" "$port" "nginx-rtmp stream keys" || return 0
  # The first request starts the function under the second watch.
  watch_warm "$base" nginx

  local rtmp="rtmp://127.0.0.1:$port/live/$stream"
  if rtmp_push "$rtmp?key=$key" 3 "$dir/publish.log"; then
    ok "nginx-rtmp stream keys: ffmpeg published with the stream's key"
  else
    fail "nginx-rtmp stream keys: ffmpeg could not publish with the key: $(tail -n 3 "$dir/publish.log")"
  fi
  local wrong="not-the-key-$RANDOM$RANDOM$RANDOM"
  if rtmp_push "$rtmp?key=$wrong" 3 "$dir/refused.log"; then
    fail "nginx-rtmp stream keys: a publish with a wrong key was not refused"
  else
    ok "nginx-rtmp stream keys: a wrong key is refused by nginx (ffmpeg: $(tail -n 1 "$dir/refused.log" | head -c 120))"
  fi

  local published="$dir/published"
  keys_published "$queue" "$published" 2
  if grep -q '"stream.refused"' "$published" && grep -q '"wrong_key"' "$published" &&
    grep -q '"stream.started"' "$published"; then
    ok "nginx-rtmp stream keys: stream.started for the key, stream.refused (wrong_key) for the wrong one"
  else
    fail "nginx-rtmp stream keys: expected stream.started and stream.refused on the topic:"
    cat "$published"
    tail -n 20 "$dir/watch.log"
  fi
  if grep -qF -e "$key" -e "$wrong" "$published"; then
    fail "nginx-rtmp stream keys: a key reached the topic"
  else
    ok "nginx-rtmp stream keys: no key in what was published"
  fi
}

nginx_keys_e2e
