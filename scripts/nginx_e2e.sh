# shellcheck shell=bash
# A real sender in the end-to-end run: Debian's nginx with the RTMP module,
# every notify directive pointed at the local stack's nginx function, a short
# stream pushed and played with ffmpeg. Each hook's event must reach the topic
# with its type, and a publish with a wrong token must be refused by nginx
# itself (ffmpeg fails).
#
# Sourced (not executed) by scripts/e2e.sh once the stack is up, so that it
# counts with e2e's ok/fail. It uses e2e's $root, $base, $endpoint, $work,
# $livehook and lib.sh's free_port, url_for and stack_pids. It reads the
# topic through a queue of its own, subscribed now, so e2e's exact count on
# its own queue is not disturbed.

# An nginx.conf as every run here writes it, around its rtmp block $3: one
# foreground process whose pid, logs and temp files are under $1, the RTMP
# module $2 loaded, no HTTP access log.
nginx_conf() {
  local dir=$1 module=$2 rtmp=$3
  cat <<EOF
load_module $module;
daemon off;
master_process off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log info;
events { worker_connections 64; }
$rtmp
http {
  access_log off;
  client_body_temp_path $dir/tmp;
  proxy_temp_path $dir/tmp;
  fastcgi_temp_path $dir/tmp;
  uwsgi_temp_path $dir/tmp;
  scgi_temp_path $dir/tmp;
}
EOF
}

# Checks $1/nginx.conf, starts nginx in its own process group (ended with
# the stack by e2e's trap) and waits until it listens on $2. A configuration
# nginx refuses is a failure named by $3, and a non-zero status.
nginx_run() {
  local dir=$1 port=$2 label=$3 i
  if ! nginx -t -q -p "$dir" -c "$dir/nginx.conf" >"$dir/nginx-t.log" 2>&1; then
    fail "$label: nginx -t: $(cat "$dir/nginx-t.log")"
    return 1
  fi
  setsid nginx -p "$dir" -c "$dir/nginx.conf" >"$dir/logs/stdout.log" 2>&1 &
  stack_pids+=($!)
  for i in $(seq 50); do
    (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
}

nginx_e2e() {
  local dir="$work/nginx-rtmp" port url bad_url stream queue missing=()
  local python="$root/.venv/bin/python"
  local module=/usr/lib/nginx/modules/ngx_rtmp_module.so
  mkdir -p "$dir/rec" "$dir/tmp" "$dir/logs"

  if ! command -v nginx >/dev/null || [ ! -f "$module" ] || ! command -v ffmpeg >/dev/null; then
    local sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo)
    echo "nginx-rtmp e2e: installing nginx, libnginx-mod-rtmp and ffmpeg…"
    if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$dir/apt.log" 2>&1 ||
      ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        nginx libnginx-mod-rtmp ffmpeg >>"$dir/apt.log" 2>&1; then
      fail "nginx-rtmp e2e: could not install nginx, libnginx-mod-rtmp and ffmpeg: $(tail -n 5 "$dir/apt.log")"
      return
    fi
  fi

  port=$(free_port)
  url=$(url_for "$base" nginx)
  # The same route with a token the functions do not know.
  bad_url=$(echo "$url" | sed 's/token=[^&]*/token=not-the-token/')
  stream="e2e-$RANDOM$RANDOM"
  queue=e2e-nginx
  "$python" "$root/scripts/aws_setup.py" "$endpoint" --queue "$queue" >/dev/null

  # nginx-rtmp's notify URLs are plain http:// (an https:// one does not
  # even parse): fine for the local stack, a proxy_pass in production.
  nginx_conf "$dir" "$module" "$(
    cat <<EOF
rtmp {
  server {
    listen 127.0.0.1:$port;
    on_connect $url;
    on_disconnect $url;
    application live {
      live on;
      record all;
      record_path $dir/rec;
      on_publish $url;
      on_play $url;
      on_update $url;
      notify_update_timeout 1s;
      on_publish_done $url;
      on_play_done $url;
      on_done $url;
      on_record_done $url;
    }
    application refused {
      live on;
      on_publish $bad_url;
    }
  }
}
EOF
  )" >"$dir/nginx.conf"
  nginx_run "$dir" "$port" "nginx-rtmp e2e" || return 0

  local rtmp="rtmp://127.0.0.1:$port"
  # A 20 s push with a query nginx hands on (secret=… is redacted downstream),
  # played for 1.5 s while it runs. Every ffmpeg runs under `timeout`, and the
  # player tries up to three times: on a loaded machine a player that got in
  # before the publish was live was seen waiting for data forever.
  timeout 60 ffmpeg -nostdin -hide_banner -loglevel error -re -f lavfi -i testsrc=size=160x120:rate=15 \
    -f lavfi -i sine -t 20 -c:v libx264 -preset ultrafast -c:a aac -f flv \
    "$rtmp/live/$stream?secret=abc&user=e2e" >"$dir/publish.log" 2>&1 &
  local publisher=$!
  sleep 2
  local played=false attempt
  for attempt in 1 2 3; do
    if timeout 6 ffmpeg -nostdin -hide_banner -loglevel error -i "$rtmp/live/$stream" -t 1.5 -f null - \
      >"$dir/play.log" 2>&1; then
      played=true
      break
    fi
  done
  if $played; then
    ok "nginx-rtmp: ffmpeg played $rtmp/live/$stream"
  else
    fail "nginx-rtmp: ffmpeg could not play: $(tail -n 3 "$dir/play.log")"
  fi
  if wait "$publisher"; then
    ok "nginx-rtmp: ffmpeg published $rtmp/live/$stream"
  else
    fail "nginx-rtmp: ffmpeg could not publish: $(tail -n 3 "$dir/publish.log")"
  fi
  # livehook answers the wrong token 401, and nginx closes the publisher.
  if timeout 30 ffmpeg -nostdin -hide_banner -loglevel error -re -f lavfi -i testsrc=size=160x120:rate=15 \
    -t 2 -c:v libx264 -preset ultrafast -f flv "$rtmp/refused/$stream" >"$dir/refused.log" 2>&1; then
    fail "nginx-rtmp: a publish with a wrong token was not refused"
  else
    ok "nginx-rtmp: a publish with a wrong token is refused by nginx (ffmpeg: $(tail -n 1 "$dir/refused.log" | head -c 120))"
  fi

  # What reached the topic: at least one event of every hook's type. The
  # publisher's and the player's sessions give 13 events at the least.
  local published="$dir/published"
  "$python" "$root/scripts/tail.py" --endpoint "$endpoint" --queue "$queue" --count 13 --wait 45 \
    >"$published" 2>"$dir/tail.log" || true
  while "$python" "$root/scripts/tail.py" --endpoint "$endpoint" --queue "$queue" --count 1 --wait 3 \
    >>"$published" 2>/dev/null; do :; done
  local type
  for type in connection.opened stream.started stream.health playback.started playback.stopped \
    stream.stopped recording.file_closed unrecognized connection.closed; do
    grep -q " $type " "$published" || missing+=("$type")
  done
  if [ "${#missing[@]}" = 0 ] && grep -q "nginx/live/$stream" "$published"; then
    ok "nginx-rtmp: every hook reached the topic with its type ($(wc -l <"$published") events)"
  else
    fail "nginx-rtmp: missing on the topic: ${missing[*]:-events about nginx/live/$stream}"
    cat "$published"
    tail -n 20 "$dir/logs/error.log"
  fi
  if grep -q "nginx/refused/$stream" "$published"; then
    fail "nginx-rtmp: the refused publish reached the topic"
  fi
}

nginx_e2e
