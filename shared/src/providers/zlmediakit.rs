//! ZLMediaKit web hooks (`[hook]` in its `config.ini`).
//!
//! What ZLMediaKit sends (recorded from commit daaa74a; `server/WebHook.cpp`):
//! - One `POST` of a JSON object per hook (jsoncpp's styled output:
//!   tab-indented, keys sorted), `User-Agent: ZLMediaKit(git hash:…)`,
//!   `X-VHOST` on the hooks that have a `vhost`. The hook is named only by
//!   which URL is called, so it is the last path segment
//!   (`…/zlmediakit/on_publish`), as for lal.
//! - Every body has `mediaServerId` and `hook_index`: one process-wide
//!   counter, new on every attempt, retries included.
//! - The reply must be HTTP 200 with a JSON object whose `code` is an
//!   integer: `0` accepts; any other integer refuses the client (publish,
//!   play, rtsp, http access, shell login) and is not retried. A network
//!   error, a timeout (`hook.timeoutSec`, 10 s), another status, a body that
//!   is not JSON, or a `code` that is missing or not an integer is retried
//!   `hook.retry` times (1) after `hook.retry_delay` (3 s), with the same
//!   body and a new `hook_index`.
//! - Extra reply fields act: `close: true` closes a stream nobody watches
//!   (`on_stream_none_reader`) or a player waiting for a missing stream
//!   (`on_stream_not_found`); `on_publish` takes per-stream options
//!   (`enable_mp4`, …). livehook's reply carries none of them, so
//!   ZLMediaKit does what it does without a hook.
//!
//! Keys. A retry is the same body with a new `hook_index`, so the key is the
//! hook and the body without `hook_index`, held for a window
//! ([`Delivery::dedupe_window`]): an identical body after the window is a
//! new event. The window depends on how soon the same body can honestly
//! come again:
//! - hooks about one session or file (publish, play, flow report, records,
//!   rtsp, shell login, stream not found, a stream registered) carry its
//!   `id`, client port, file name or creation time, so an identical body is
//!   only ever a retry: [`SESSION_WINDOW`];
//! - hooks whose body repeats as it is (an idle server's keepalive every
//!   `alive_interval`, 10 s by default; a stream unregistered, at least
//!   `continue_push_ms` after its publisher left; none reader, after
//!   `streamNoneReaderDelayMS`; server started and exited, on restarts):
//!   [`REPEAT_WINDOW`], shorter than any of those intervals yet longer than
//!   a retry takes;
//! - `on_http_access`, which an HLS player's playlist reloads repeat every
//!   few seconds with the same body: every delivery its own event.
//!
//! The event id is the key and the invocation together, so an event that
//! replaces a lapsed record has its own id.

use std::time::Duration;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::{
    Delivery, EventParts, Identity, Provider, Recorded, Sending, authenticated_body, into_map,
    raw_json,
};
use crate::auth::Verifier;
use crate::error::Rejection;
use crate::event::{EventData, EventType, FileInfo, format_time, from_unix_seconds};
use crate::inbound::Inbound;
use crate::json::Fields;
use crate::key;

/// ZLMediaKit web hook adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Zlmediakit;

const NAME: &str = "zlmediakit";

/// ZLMediaKit's name for the vhost of a request that names none.
const DEFAULT_VHOST: &str = "__defaultVhost__";

/// How long a session hook's key holds. Its retry comes `retry_delay` (3 s)
/// after ZLMediaKit saw the failure: at once for a refusal, after
/// `timeoutSec` (10 s) for no answer; a minute covers both with room for
/// slow networks and a raised delay, and costs nothing, since such a body
/// never honestly comes twice.
pub const SESSION_WINDOW: Duration = Duration::from_secs(60);

/// How long the key of a hook whose body repeats as it is holds: longer
/// than a retry of a refused delivery takes (livehook answers within its
/// store's 2.5 s operation timeout, then 3 s `retry_delay`), shorter than
/// the default keepalive interval (10 s) less its jitter, so idle
/// keepalives are each an event.
pub const REPEAT_WINDOW: Duration = Duration::from_secs(8);

/// How a hook's deliveries are told apart.
enum Keying {
    /// By the body without `hook_index`, for this long.
    Body(Duration),
    /// Every delivery is its own event.
    PerDelivery,
}

impl Provider for Zlmediakit {
    fn name(&self) -> &'static str {
        NAME
    }

    fn accept(&self, inbound: &Inbound<'_>, verifier: &Verifier) -> Result<Delivery, Rejection> {
        let mut body = authenticated_body(inbound, verifier)?;
        let hook = super::hook_in_path(inbound)?;
        let f = Fields(&body);
        let regist = f.boolean("regist");
        let (event_type, keying) = match hook {
            "on_publish" => (EventType::StreamStarted, Keying::Body(SESSION_WINDOW)),
            "on_play" => (EventType::PlaybackStarted, Keying::Body(SESSION_WINDOW)),
            // At the end of every session that moved `flowThreshold` KB.
            "on_flow_report" => (
                if f.boolean("player") == Some(true) {
                    EventType::PlaybackStopped
                } else {
                    EventType::StreamStopped
                },
                Keying::Body(SESSION_WINDOW),
            ),
            "on_stream_changed" if regist == Some(true) => {
                (EventType::StreamRegistered, Keying::Body(SESSION_WINDOW))
            }
            "on_stream_changed" if regist == Some(false) => {
                (EventType::StreamUnregistered, Keying::Body(REPEAT_WINDOW))
            }
            "on_stream_none_reader" => (EventType::StreamIdle, Keying::Body(REPEAT_WINDOW)),
            "on_record_mp4" => (EventType::RecordingFileClosed, Keying::Body(SESSION_WINDOW)),
            "on_record_ts" => (
                EventType::RecordingSegmentReady,
                Keying::Body(SESSION_WINDOW),
            ),
            "on_server_started" => (EventType::ServerStarted, Keying::Body(REPEAT_WINDOW)),
            "on_server_keepalive" => (EventType::ServerStats, Keying::Body(REPEAT_WINDOW)),
            "on_server_exited" => (EventType::ServerStopped, Keying::Body(REPEAT_WINDOW)),
            // Known hooks without a canonical type: questions only the
            // operator's own service can answer (rtsp realm and password,
            // shell login), a player asking for a missing stream, RTP
            // forwarding ends. Published with their hook as `provider_event`.
            "on_rtsp_realm" | "on_rtsp_auth" | "on_shell_login" | "on_stream_not_found"
            | "on_send_rtp_stopped" | "on_rtp_server_timeout" => {
                (EventType::Unrecognized, Keying::Body(SESSION_WINDOW))
            }
            "on_http_access" => (EventType::Unrecognized, Keying::PerDelivery),
            // Hooks of later versions: the short window can merge nothing
            // but a retry.
            _ => (EventType::Unrecognized, Keying::Body(REPEAT_WINDOW)),
        };
        let server_id = f.text_any(&["mediaServerId", "general.mediaServerId"]);
        let app = f.text("app");
        let stream = f.text("stream");
        let ip = f.text("ip");
        let file = matches!(
            event_type,
            EventType::RecordingFileClosed | EventType::RecordingSegmentReady
        )
        .then(|| record_file(f));
        let data = EventData {
            provider_event: hook.to_owned(),
            app: app.clone(),
            stream: stream.clone(),
            domain: f.text("vhost").filter(|v| v != DEFAULT_VHOST),
            protocol: f.text_any(&["schema", "protocol"]),
            url: f.text("originUrl"),
            url_params: f.text("params"),
            client_addr: ip
                .as_deref()
                .zip(f.int("port"))
                .map(|(ip, port)| socket_addr(ip, port)),
            client_ip: ip,
            server_id: server_id.clone(),
            session_id: f.text("id"),
            file,
            raw: raw_json(inbound.body)?,
            ..EventData::default()
        };
        let identity = match (app, stream) {
            (Some(app), Some(stream)) => Identity::Stream(format!("{app}/{stream}")),
            (None, Some(stream)) => Identity::Stream(stream),
            _ => Identity::Other(server_id.unwrap_or_else(|| "unknown".to_owned())),
        };

        // The attempt's counter is kept on the record, never in the key.
        let hook_index = body.remove("hook_index");
        let (delivery_key, event_id, dedupe_window) = match keying {
            Keying::Body(window) => {
                let canonical = serde_json::to_vec(&body)
                    .map_err(|_| Rejection::malformed("body is not JSON"))?;
                let delivery_key = key::derive(NAME, &[hook.as_bytes(), &canonical]);
                let event_id = key::derive(
                    NAME,
                    &[delivery_key.as_bytes(), inbound.request_id.as_bytes()],
                );
                (delivery_key, event_id, Some(window))
            }
            Keying::PerDelivery => {
                let delivery_key = key::derive(NAME, &[inbound.request_id.as_bytes()]);
                (delivery_key.clone(), delivery_key, None)
            }
        };
        let outgoing = EventParts {
            provider: NAME,
            key: event_id,
            event_type,
            identity,
            time: None,
            data,
        }
        .build(inbound.received_at);
        Ok(Delivery {
            key: delivery_key,
            events: vec![outgoing],
            // ZLMediaKit's only times (`createStamp`, a record's
            // `start_time`) are when something began, not when it was sent.
            provider_time: None,
            recorded: hook_index
                .as_ref()
                .and_then(Value::as_i64)
                .map(|index| vec![("hook_index", Recorded::Number(index))])
                .unwrap_or_default(),
            dedupe_window,
        })
    }

    /// ZLMediaKit's own success answer (an integer `code`, or it retries).
    fn reply(&self, _event_id: &str) -> String {
        r#"{"code":0,"msg":"success"}"#.to_owned()
    }

    fn sending(&self) -> Sending {
        Sending {
            hook_in_path: true,
            // `hook.retry=1`, `hook.retry_delay=3`.
            retry_delays_seconds: &[3],
            user_agent: Some("ZLMediaKit(git hash:daaa74a,branch:master,build time:2026-07-01T00:00:00)"),
            headers: &[("content-type", "application/json")],
            admission: true,
            ..Sending::DEFAULT
        }
    }

    /// A retry is the same body with the next `hook_index`.
    fn prepare(
        &self,
        body: &mut Map<String, Value>,
        _secret: Option<&str>,
        _now: OffsetDateTime,
        attempt: u32,
    ) {
        if attempt == 0 {
            return;
        }
        if let Some(index) = body.get("hook_index").and_then(Value::as_u64) {
            body.insert(
                "hook_index".to_owned(),
                Value::from(index.saturating_add(u64::from(attempt))),
            );
        }
    }

    fn synthetic(&self, stream: &str, nonce: &str) -> (&'static str, Map<String, Value>) {
        let body = serde_json::json!({
            "app": "livehook", "hook_index": 0, "id": nonce, "ip": "127.0.0.1",
            "mediaServerId": "livehook", "originType": 1, "originTypeStr": "rtmp_push",
            "params": "", "port": 50000, "protocol": "rtmp", "schema": "rtmp",
            "stream": stream, "vhost": DEFAULT_VHOST,
        });
        ("on_publish", into_map(body))
    }
}

/// The file of `on_record_mp4` / `on_record_ts`.
fn record_file(f: Fields<'_>) -> FileInfo {
    let path = f.text("file_path");
    let start = f.int("start_time").and_then(from_unix_seconds);
    let length = f.float("time_len");
    let end = start
        .zip(length)
        .and_then(|(start, length)| {
            time::Duration::checked_seconds_f64(length).and_then(|d| start.checked_add(d))
        });
    let name = path.clone().or_else(|| f.text("file_name"));
    FileInfo {
        url: f.text("url"),
        format: name.as_deref().and_then(extension),
        path,
        size_bytes: f.int("file_size").and_then(|n| u64::try_from(n).ok()),
        duration_seconds: length,
        start_time: start.map(format_time),
        end_time: end.map(format_time),
        ..FileInfo::default()
    }
}

/// `127.0.0.1` and 50000 → `127.0.0.1:50000`; IPv6 in brackets.
fn socket_addr(ip: &str, port: i64) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// `…/2026-12-02/05-10-00-0.mp4` → `mp4`; `None` without one.
fn extension(path: &str) -> Option<String> {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .filter(|ext| !ext.is_empty())
}
