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
//! Keys. A retry is the same body with a new `hook_index` (recorded here: it
//! came 3.0 s after the refused answer), so the key is the hook and the body
//! without `hook_index`, held for a window ([`Delivery::dedupe_window`]): an
//! identical body after the window is a new event. How soon the same body
//! can honestly come again decides the window:
//! - hooks about one session or file (publish, play, flow report, records,
//!   rtsp, shell login, stream not found, a stream registered) carry its
//!   `id`, client port, file name or creation time, so an identical body is
//!   only ever a retry: [`SESSION_WINDOW`];
//! - a stream unregistered (at least `continue_push_ms`, 15 s, after its
//!   publisher left) and a stream without viewers (after
//!   `streamNoneReaderDelayMS`, 20 s): [`REPEAT_WINDOW`], longer than a
//!   retry of a write whose answer was lost takes, shorter than those delays;
//! - the keepalive, whose idle body repeats every `alive_interval` (10 s):
//!   a retry (3 s after a refusal, up to 13 s after a timeout) and the next
//!   keepalive overlap in time, so no window can tell them apart. Two
//!   heartbeats must never be merged, so every keepalive delivery is its own
//!   event; a keepalive retried after livehook failed to answer is published
//!   twice. The same for server started and exited (the same body on every
//!   restart), `on_http_access` (an HLS player's playlist reloads repeat its
//!   body every few seconds) and hooks of later versions.
//!
//! The event id of a windowed hook is the record key, `-`, and 16 hex
//! digits of the invocation (`<key>-<16 hex>`), so that an event that
//! replaces a lapsed record has its own id and every id still names its
//! record ([`crate::record::record_key`]).

use std::time::Duration;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::{
    ADMISSION_SETTING, Delivery, Deployment, EventParts, Identity, Imitate, Provider, Receiving,
    Recorded, Sending, authenticated_hook_body, into_map, per_delivery_key, raw_json,
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

/// How long the key of a stream's unregistration and of its "no viewers"
/// holds: longer than the retry of a write whose answer was lost (livehook
/// gives up after its store's 2.5 s operation timeout, then 3 s
/// `retry_delay`), shorter than the 15 s (`continue_push_ms`) and 20 s
/// (`streamNoneReaderDelayMS`) before the same body can come again.
pub const REPEAT_WINDOW: Duration = Duration::from_secs(12);

/// The credentials in the configuration `on_server_started` dumps, masked
/// whatever `LIVEHOOK_REDACT` says: whoever holds `api.secret` controls the
/// server through its HTTP API (`hook.admin_params` holds it too, as
/// `secret=…`), and the SRT passphrase admits any publisher.
const CONFIG_CREDENTIALS: &[&str] = &["api.secret", "hook.admin_params", "srt.passPhrase"];

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

    fn deployment(&self) -> Deployment {
        Deployment {
            console: "ZLMediaKit config.ini [hook] on_*",
            // Its reply is admission control: the stack chooses what it answers when DynamoDB fails.
            settings: &[ADMISSION_SETTING],
        }
    }

    fn accept(&self, inbound: &Inbound<'_>, verifier: &Verifier) -> Result<Delivery, Rejection> {
        let (hook, mut body) = authenticated_hook_body(inbound, verifier)?;
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
            "on_server_started" => (EventType::ServerStarted, Keying::PerDelivery),
            "on_server_keepalive" => (EventType::ServerStats, Keying::PerDelivery),
            "on_server_exited" => (EventType::ServerStopped, Keying::PerDelivery),
            // Known hooks without a canonical type: questions only the
            // operator's own service can answer (rtsp realm and password,
            // shell login), a player asking for a missing stream, RTP
            // forwarding ends. Published with their hook as `provider_event`.
            "on_rtsp_realm"
            | "on_rtsp_auth"
            | "on_shell_login"
            | "on_stream_not_found"
            | "on_send_rtp_stopped"
            | "on_rtp_server_timeout" => (EventType::Unrecognized, Keying::Body(SESSION_WINDOW)),
            "on_http_access" => (EventType::Unrecognized, Keying::PerDelivery),
            // Hooks of later versions: nothing says how often their body
            // repeats, and two events must never be merged.
            _ => (EventType::Unrecognized, Keying::PerDelivery),
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
        let mut data = EventData {
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
        if hook == "on_server_started"
            && let Some(masked) = crate::redact::Redactor::new(CONFIG_CREDENTIALS.iter().copied())
                .redact_raw(&data.raw)
        {
            data.raw = masked;
        }
        let identity = Identity::of_stream(app, stream, |_| server_id);

        // The attempt's counter is kept on the record, never in the key.
        let hook_index = body.remove("hook_index");
        let (delivery_key, event_id, dedupe_window) = match keying {
            Keying::Body(window) => {
                let canonical = serde_json::to_vec(&body)
                    .map_err(|_| Rejection::malformed("body is not JSON"))?;
                let delivery_key = key::derive(NAME, &[hook.as_bytes(), &canonical]);
                // The record key and 16 hex digits of this delivery: the id
                // names its record ([`crate::record::record_key`]), and an
                // event that replaces a lapsed record has an id of its own.
                let delivery_hash = key::derive(
                    NAME,
                    &[delivery_key.as_bytes(), inbound.request_id.as_bytes()],
                );
                let event_id = format!("{delivery_key}-{}", &delivery_hash[..16]);
                (delivery_key, event_id, Some(window))
            }
            Keying::PerDelivery => {
                let delivery_key = per_delivery_key(NAME, inbound);
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
            check: false,
            answer: None,
        })
    }

    /// ZLMediaKit's own success answer (an integer `code`, or it retries).
    fn reply(&self, _event_id: &str) -> String {
        r#"{"code":0,"msg":"success"}"#.to_owned()
    }

    fn receiving(&self) -> Receiving {
        Receiving {
            hook_in_path: true,
            // `{"code":0}` admits publish, play, rtsp and http access.
            admission: true,
            ..Receiving::DEFAULT
        }
    }
}

impl Imitate for Zlmediakit {
    fn sending(&self) -> Sending {
        Sending {
            // `hook.retry=1`, `hook.retry_delay=3`.
            retry_delays_seconds: &[3],
            // As recorded from a build of daaa74a (the hash, commit date and build time vary).
            user_agent: Some(
                "ZLMediaKit(git hash:daaa74a/2026-07-22T20:43:21-07:00,branch:,build time:2026-12-02T04:41:07)",
            ),
            headers: &[
                ("content-type", "application/json"),
                ("accept", "*/*"),
                ("accept-language", "zh-CN,zh;q=0.8"),
                ("connection", "keep-alive"),
            ],
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
    let end = start.zip(length).and_then(|(start, length)| {
        time::Duration::checked_seconds_f64(length).and_then(|d| start.checked_add(d))
    });
    let name = path.clone().or_else(|| f.text("file_name"));
    FileInfo {
        url: f.text("url"),
        format: name.as_deref().and_then(super::file_extension),
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::providers::testing::{TOKEN, deliver, deliver_as, now};

    fn send(hook: &str, body: &Value, request_id: &str) -> Result<Delivery, Rejection> {
        deliver_as(
            &Zlmediakit,
            &format!("/prod/zlmediakit/{hook}"),
            &format!("token={TOKEN}"),
            &serde_json::to_vec(body).unwrap_or_default(),
            request_id,
            262_144,
        )
    }

    fn publish(hook_index: u64) -> Value {
        json!({"app": "live", "hook_index": hook_index, "id": "1-15", "ip": "127.0.0.1",
            "mediaServerId": "lab-zlm", "originType": 1, "originTypeStr": "rtmp_push",
            "params": "secret=abc", "port": 41716, "protocol": "rtmp", "schema": "rtmp",
            "stream": "test", "vhost": "__defaultVhost__"})
    }

    #[test]
    fn a_retry_is_the_first_event_and_keeps_its_key() {
        let first = send("on_publish", &publish(3), "first").unwrap();
        // ZLMediaKit's retry: the same body, 3 s later, with a new hook_index.
        let retry = send("on_publish", &publish(7), "retry").unwrap();
        assert_eq!(first.key, retry.key);
        assert_eq!(first.dedupe_window, Some(SESSION_WINDOW));
        assert_eq!(first.recorded, [("hook_index", Recorded::Number(3))]);
        // A later event that replaces a lapsed record has an id of its own.
        assert_ne!(first.events[0].event.id, retry.events[0].event.id);
        assert_ne!(first.events[0].event.id, first.key);
        // Every id names its record: `<key>-<16 hex>`.
        let id = &first.events[0].event.id;
        assert_eq!(crate::record::record_key(id), first.key);
        assert_eq!(id.len(), first.key.len() + 17);
        // The same invocation (an SDK retry inside it) is the same event.
        let again = send("on_publish", &publish(3), "first").unwrap();
        assert_eq!(again.events[0].event.id, first.events[0].event.id);
        // Another hook with the same body is another event.
        let play = send("on_play", &publish(3), "first").unwrap();
        assert_ne!(play.key, first.key);
        // Another session (another id) is another event.
        let mut other = publish(8);
        other["id"] = json!("1-16");
        assert_ne!(send("on_publish", &other, "other").unwrap().key, first.key);
    }

    #[test]
    fn idle_keepalives_are_each_an_event() {
        let keepalive = |index: u64| {
            json!({"data": {"Buffer": 0, "MediaSource": 1, "Socket": 6, "TcpServer": 10},
                "hook_index": index, "mediaServerId": "lab-zlm"})
        };
        let ids: std::collections::HashSet<String> = (0..12)
            .map(|i| {
                let d = send("on_server_keepalive", &keepalive(i), &format!("r{i}")).unwrap();
                assert_eq!(d.event_type(), EventType::ServerStats);
                assert_eq!(d.events[0].event.subject, "zlmediakit/lab-zlm");
                assert_eq!(d.dedupe_window, None);
                assert_eq!(d.events[0].event.id, d.key);
                d.key
            })
            .collect();
        assert_eq!(ids.len(), 12);
    }

    #[test]
    fn hooks_map_to_types() {
        let cases = [
            ("on_publish", json!({}), EventType::StreamStarted),
            ("on_play", json!({}), EventType::PlaybackStarted),
            (
                "on_flow_report",
                json!({"player": false}),
                EventType::StreamStopped,
            ),
            (
                "on_flow_report",
                json!({"player": true}),
                EventType::PlaybackStopped,
            ),
            (
                "on_stream_changed",
                json!({"regist": true}),
                EventType::StreamRegistered,
            ),
            (
                "on_stream_changed",
                json!({"regist": false}),
                EventType::StreamUnregistered,
            ),
            ("on_stream_changed", json!({}), EventType::Unrecognized),
            ("on_stream_none_reader", json!({}), EventType::StreamIdle),
            ("on_record_mp4", json!({}), EventType::RecordingFileClosed),
            ("on_record_ts", json!({}), EventType::RecordingSegmentReady),
            ("on_server_started", json!({}), EventType::ServerStarted),
            ("on_server_keepalive", json!({}), EventType::ServerStats),
            ("on_server_exited", json!({}), EventType::ServerStopped),
            ("on_rtsp_auth", json!({}), EventType::Unrecognized),
            ("on_http_access", json!({}), EventType::Unrecognized),
            ("on_something_new", json!({}), EventType::Unrecognized),
        ];
        for (hook, mut body, expected) in cases {
            body["app"] = json!("live");
            body["stream"] = json!("test");
            body["hook_index"] = json!(1);
            let d = send(hook, &body, "r").unwrap();
            assert_eq!(d.event_type(), expected, "{hook} {body}");
            assert_eq!(d.events[0].event.data.provider_event, hook);
        }
    }

    #[test]
    fn windows_follow_how_soon_a_body_can_honestly_repeat() {
        let window = |hook: &str, body: Value| send(hook, &body, "r").unwrap().dedupe_window;
        assert_eq!(
            window("on_record_ts", json!({"file_path": "/a.ts"})),
            Some(SESSION_WINDOW)
        );
        assert_eq!(
            window("on_stream_changed", json!({"regist": true})),
            Some(SESSION_WINDOW)
        );
        assert_eq!(
            window("on_stream_changed", json!({"regist": false})),
            Some(REPEAT_WINDOW)
        );
        assert_eq!(
            window("on_stream_none_reader", json!({})),
            Some(REPEAT_WINDOW)
        );
        for hook in [
            "on_server_keepalive",
            "on_server_started",
            "on_server_exited",
            "on_http_access",
            "on_new",
        ] {
            assert_eq!(window(hook, json!({})), None, "{hook}");
        }
        // A retry takes at most 2.5 s (livehook's answer) + 3 s; the same
        // unregistration cannot come again within 15 s.
        assert!(REPEAT_WINDOW > Duration::from_millis(5_500));
        assert!(REPEAT_WINDOW < Duration::from_secs(15));
    }

    #[test]
    fn the_reply_has_an_integer_code_and_nothing_that_acts() {
        let reply: Value = serde_json::from_str(&Zlmediakit.reply("x")).unwrap();
        assert_eq!(reply, json!({"code": 0, "msg": "success"}));
        assert!(Zlmediakit.receiving().admission);
    }

    #[test]
    fn the_prepared_retry_takes_the_next_hook_index() {
        let mut body = into_map(publish(3));
        Zlmediakit.prepare(&mut body, None, now(), 0);
        assert_eq!(body["hook_index"], 3);
        Zlmediakit.prepare(&mut body, None, now(), 1);
        assert_eq!(body["hook_index"], 4);
    }

    #[test]
    fn fields_are_normalized() {
        let d = send("on_publish", &publish(3), "r").unwrap();
        let data = &d.events[0].event.data;
        assert_eq!(d.events[0].event.subject, "zlmediakit/live/test");
        assert_eq!(data.client_addr.as_deref(), Some("127.0.0.1:41716"));
        assert_eq!(data.session_id.as_deref(), Some("1-15"));
        assert_eq!(data.url_params.as_deref(), Some("secret=abc"));
        assert_eq!(data.domain, None);
        assert_eq!(data.server_id.as_deref(), Some("lab-zlm"));
        assert_eq!(data.protocol.as_deref(), Some("rtmp"));
        let record = json!({"app": "live", "stream": "test", "hook_index": 21,
            "file_path": "/www/record/live/test/2026-12-02/2026-12-02-05-07-18-0.mp4",
            "file_size": 47669, "start_time": 1796188038, "time_len": 5.5,
            "url": "record/live/test/2026-12-02/2026-12-02-05-07-18-0.mp4",
            "vhost": "example.com", "mediaServerId": "lab-zlm"});
        let d = send("on_record_mp4", &record, "r").unwrap();
        let data = &d.events[0].event.data;
        let file = data.file.as_ref().unwrap();
        assert_eq!(file.format.as_deref(), Some("mp4"));
        assert_eq!(file.size_bytes, Some(47669));
        assert_eq!(file.start_time.as_deref(), Some("2026-12-02T05:07:18Z"));
        assert_eq!(file.end_time.as_deref(), Some("2026-12-02T05:07:23.5Z"));
        assert_eq!(data.domain.as_deref(), Some("example.com"));
        // A record's start is not when it was sent: never stale.
        assert_eq!(d.provider_time, None);
    }

    #[test]
    fn the_hook_comes_from_the_path_and_must_be_one() {
        let body = serde_json::to_vec(&publish(1)).unwrap();
        let query = format!("token={TOKEN}");
        for path in [
            "/zlmediakit/..",
            "/zlmediakit/on_publish/..",
            "/zlmediakit/a%2fb",
            "/zlmediakit/on publish",
        ] {
            assert!(
                matches!(
                    deliver(&Zlmediakit, path, &query, &body),
                    Err(Rejection::Malformed(_))
                ),
                "{path}"
            );
        }
        assert!(matches!(
            deliver(&Zlmediakit, "/zlmediakit/on_publish", "token=wrong", &body),
            Err(Rejection::Unauthenticated(_))
        ));
    }
}
