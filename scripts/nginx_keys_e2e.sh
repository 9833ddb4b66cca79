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
# $endpoint, $livehook, ok/fail, nginx_e2e.sh's nginx_conf and nginx_run, and
# lib.sh's free_port, watch_start, url_for.

nginx_keys_e2e() {
  local dir="$work/nginx-keys" port watch_port base url stream key queue
  local python="$root/.venv/bin/python"
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
  "$python" "$root/scripts/aws_setup.py" "$endpoint" --queue "$queue" >/dev/null
  if ! key=$(AWS_ENDPOINT_URL=$endpoint LIVEHOOK_TABLE=$LIVEHOOK_TABLE "$livehook" keys create "live/$stream" 2>"$dir/keys.log" | tail -n 1) ||
    [ -z "$key" ]; then
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
  local i
  # The first request starts the function under the second watch.
  for i in $(seq 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 "$base/lambda-url/nginx/")" = 405 ] && break
    sleep 1
  done

  local rtmp="rtmp://127.0.0.1:$port/live/$stream"
  push() { # QUERY LOG
    timeout 60 ffmpeg -nostdin -hide_banner -loglevel error -re -f lavfi -i testsrc=size=160x120:rate=15 \
      -t 3 -c:v libx264 -preset ultrafast -f flv "$rtmp?$1" >"$2" 2>&1
  }
  if push "key=$key" "$dir/publish.log"; then
    ok "nginx-rtmp stream keys: ffmpeg published with the stream's key"
  else
    fail "nginx-rtmp stream keys: ffmpeg could not publish with the key: $(tail -n 3 "$dir/publish.log")"
  fi
  local wrong="not-the-key-$RANDOM$RANDOM$RANDOM"
  if push "key=$wrong" "$dir/refused.log"; then
    fail "nginx-rtmp stream keys: a publish with a wrong key was not refused"
  else
    ok "nginx-rtmp stream keys: a wrong key is refused by nginx (ffmpeg: $(tail -n 1 "$dir/refused.log" | head -c 120))"
  fi

  local published="$dir/published"
  "$python" "$root/scripts/tail.py" --endpoint "$endpoint" --queue "$queue" --json --count 2 --wait 60 \
    >"$published" 2>"$dir/tail.log" || true
  while "$python" "$root/scripts/tail.py" --endpoint "$endpoint" --queue "$queue" --json --count 1 --wait 3 \
    >>"$published" 2>/dev/null; do :; done
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
