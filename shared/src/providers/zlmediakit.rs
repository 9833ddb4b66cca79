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
//! can honestly come again decides the window, and the server's
//! configuration decides how soon that is: the windows follow the values
//! the function is given ([`OWN_SETTINGS`], ZLMediaKit's defaults unless
//! set; see [`Windows`]):
//! - hooks about one session or file (publish, play, flow report, records,
//!   rtsp, shell login, stream not found, a stream registered) carry its
//!   `id`, client port, file name or creation time, so an identical body is
//!   only ever a retry: held until the last retry has come
//!   (`hook.retry` × (`hook.timeoutSec` + `hook.retry_delay`)), at least a
//!   minute;
//! - a stream without viewers (at least `general.streamNoneReaderDelayMS`,
//!   20 s, after the last one) and a stream unregistered (at least
//!   `protocol.continue_push_ms`, 15 s, after its publisher left, or the
//!   none-reader delay for a pulled stream): held for a little less than
//!   that delay, so two real events are never merged. When the delay is
//!   shorter than a retry takes, the late retry is published as an event
//!   of its own;
//! - the keepalive, whose idle body repeats every `alive_interval` (10 s):
//!   a retry (3 s after a refusal, up to 13 s after a timeout) and the next
//!   keepalive overlap in time, so no window can tell them apart. Two
//!   heartbeats must never be merged, so every keepalive delivery is its own
//!   event, whatever the interval; a keepalive retried after livehook
//!   failed to answer is published twice. The same for server started and
//!   exited (the same body on every restart), `on_http_access` (an HLS
//!   player's playlist reloads repeat its body every few seconds) and hooks
//!   of later versions.
//!
//! The event id of a windowed hook is the record key, `-`, and 16 hex
//! digits of the invocation (`<key>-<16 hex>`), so that an event that
//! replaces a lapsed record has its own id and every id still names its
//! record ([`crate::record::record_key`]).

use std::time::Duration;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::{
    ADMISSION_SETTINGS, Delivery, Deployment, EventParts, Identity, Imitate, Provider, Receiving,
    Recorded, Refusal, Sending, Setting, Settings, Unit, authenticated_hook_body, into_map,
    per_delivery_key, raw_json,
};
use crate::auth::Verifier;
use crate::error::Rejection;
use crate::event::{EventData, EventType, FileInfo, format_time, from_unix_seconds};
use crate::inbound::Inbound;
use crate::json::Fields;
use crate::key;
use crate::stream_keys::{Action, Admission, Presented};

/// ZLMediaKit web hook adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Zlmediakit;

const NAME: &str = "zlmediakit";

/// ZLMediaKit's name for the vhost of a request that names none.
const DEFAULT_VHOST: &str = "__defaultVhost__";

/// `hook.retry`: how many times ZLMediaKit retries a failed hook.
const RETRY: Setting = Setting {
    variable: "LIVEHOOK_ZLMEDIAKIT_RETRY",
    about: "ZLMediaKit's hook.retry in config.ini: how many times it retries a failed hook (0 \
        never). livehook holds a session hook's key until the last retry has come.",
    unit: Unit::Count,
    default: 1,
    max: 10,
};

/// `hook.retry_delay`: seconds between a failure and its retry.
const RETRY_DELAY: Setting = Setting {
    variable: "LIVEHOOK_ZLMEDIAKIT_RETRY_DELAY",
    about: "ZLMediaKit's hook.retry_delay in config.ini: seconds between a failed hook and \
        its retry.",
    unit: Unit::Seconds,
    default: 3,
    max: 600,
};

/// `hook.timeoutSec`: how long ZLMediaKit waits for an answer.
const TIMEOUT_SEC: Setting = Setting {
    variable: "LIVEHOOK_ZLMEDIAKIT_TIMEOUT_SEC",
    about: "ZLMediaKit's hook.timeoutSec in config.ini: seconds it waits for livehook's \
        answer before it retries.",
    unit: Unit::Seconds,
    default: 10,
    max: 600,
};

/// `general.streamNoneReaderDelayMS`: how long a stream is without viewers
/// before `on_stream_none_reader`.
const STREAM_NONE_READER_DELAY_MS: Setting = Setting {
    variable: "LIVEHOOK_ZLMEDIAKIT_STREAM_NONE_READER_DELAY_MS",
    about: "ZLMediaKit's general.streamNoneReaderDelayMS in config.ini: milliseconds without \
        viewers before on_stream_none_reader. Two such events of a stream are never closer, \
        so livehook never merges them.",
    unit: Unit::Milliseconds,
    default: 20_000,
    max: 86_400_000,
};

/// `protocol.continue_push_ms`: how long a stream outlives its publisher.
const CONTINUE_PUSH_MS: Setting = Setting {
    variable: "LIVEHOOK_ZLMEDIAKIT_CONTINUE_PUSH_MS",
    about: "ZLMediaKit's protocol.continue_push_ms in config.ini: milliseconds a stream waits \
        for its publisher to come back before it is unregistered. Two unregistrations of a \
        stream are never closer, so livehook never merges them.",
    unit: Unit::Milliseconds,
    default: 15_000,
    max: 86_400_000,
};

/// The server's configuration the windows follow (each defaults to
/// ZLMediaKit's own default).
pub const OWN_SETTINGS: &[Setting] = &[
    RETRY,
    RETRY_DELAY,
    TIMEOUT_SEC,
    STREAM_NONE_READER_DELAY_MS,
    CONTINUE_PUSH_MS,
];

/// The least a session hook's key holds: a body that never honestly comes
/// twice costs nothing to hold, and a minute leaves room for slow networks.
pub const SESSION_WINDOW_FLOOR: Duration = Duration::from_secs(60);

/// Added to the time ZLMediaKit's retries can take: the last retry's trip.
const RETRY_TRIP: Duration = Duration::from_secs(10);

/// Kept between a repeating hook's window and the earliest time the same
/// body can honestly come again: a fifth of that delay, at least a second,
/// for the two deliveries' different trips.
const REPEAT_MARGIN_FLOOR: Duration = Duration::from_secs(1);

/// How long each kind of hook's key holds, from the server's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    /// A hook about one session or file: until its last retry has come
    /// (`retry` × (`timeoutSec` + `retry_delay`) and a trip), at least
    /// [`SESSION_WINDOW_FLOOR`].
    pub session: Duration,
    /// `on_stream_none_reader`: under `streamNoneReaderDelayMS`. `None`
    /// when that is too short for any window: every delivery is an event.
    pub none_reader: Option<Duration>,
    /// A stream unregistered: under `continue_push_ms` and the none-reader
    /// delay (a pulled stream is closed when nobody watches).
    pub unregistered: Option<Duration>,
}

impl Windows {
    /// The windows of a server configured as `settings` say.
    pub fn of(settings: &Settings) -> Windows {
        let retries = u32::try_from(settings.count(&RETRY)).unwrap_or(u32::MAX);
        let each = settings.duration(&TIMEOUT_SEC) + settings.duration(&RETRY_DELAY);
        let session = each
            .saturating_mul(retries)
            .saturating_add(RETRY_TRIP)
            .max(SESSION_WINDOW_FLOOR);
        let none_reader = settings.duration(&STREAM_NONE_READER_DELAY_MS);
        let continue_push = settings.duration(&CONTINUE_PUSH_MS);
        // Under the earliest honest repeat, and never longer than a retry
        // can come.
        let repeat = |earliest: Duration| {
            let margin = (earliest / 5).max(REPEAT_MARGIN_FLOOR);
            Some(earliest.saturating_sub(margin).min(session)).filter(|w| !w.is_zero())
        };
        Windows {
            session,
            none_reader: repeat(none_reader),
            unregistered: repeat(continue_push.min(none_reader)),
        }
    }
}

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

impl Keying {
    /// By the body for `window`, or each delivery apart without one.
    fn within(window: Option<Duration>) -> Keying {
        window.map_or(Keying::PerDelivery, Keying::Body)
    }
}

impl Provider for Zlmediakit {
    fn name(&self) -> &'static str {
        NAME
    }

    fn deployment(&self) -> Deployment {
        Deployment {
            console: "ZLMediaKit config.ini [hook] on_*",
            // Its reply is admission control: the stack chooses what it answers when DynamoDB
            // fails, and which admissions need a stream key.
            settings: ADMISSION_SETTINGS,
            own_settings: OWN_SETTINGS,
        }
    }

    fn accept(&self, inbound: &Inbound<'_>, verifier: &Verifier) -> Result<Delivery, Rejection> {
        let (hook, mut body) = authenticated_hook_body(inbound, verifier)?;
        let f = Fields(&body);
        let regist = f.boolean("regist");
        let windows = Windows::of(inbound.settings);
        let session = Keying::Body(windows.session);
        let (event_type, keying) = match hook {
            "on_publish" => (EventType::StreamStarted, session),
            "on_play" => (EventType::PlaybackStarted, session),
            // At the end of every session that moved `flowThreshold` KB.
            "on_flow_report" => (
                if f.boolean("player") == Some(true) {
                    EventType::PlaybackStopped
                } else {
                    EventType::StreamStopped
                },
                session,
            ),
            "on_stream_changed" if regist == Some(true) => (EventType::StreamRegistered, session),
            "on_stream_changed" if regist == Some(false) => (
                EventType::StreamUnregistered,
                Keying::within(windows.unregistered),
            ),
            "on_stream_none_reader" => (EventType::StreamIdle, Keying::within(windows.none_reader)),
            "on_record_mp4" => (EventType::RecordingFileClosed, session),
            "on_record_ts" => (EventType::RecordingSegmentReady, session),
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
            | "on_rtp_server_timeout" => (EventType::Unrecognized, session),
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
        // Publish and play are questions ZLMediaKit's reply answers; the
        // client's query (`?key=…`) is its `params`.
        let action = match hook {
            "on_publish" => Some(Action::Publish),
            "on_play" => Some(Action::Play),
            _ => None,
        };
        let admission =
            action
                .zip(app.as_deref().zip(stream.as_deref()))
                .map(|(action, (app, stream))| Admission {
                    action,
                    stream: super::stream_path(app, stream),
                    presented: Presented::in_query(data.url_params.as_deref().unwrap_or("")),
                });
        let identity = Identity::of_stream(app, stream, |_| server_id);

        // The attempt's counter is kept on the record, never in the key.
        let hook_index = body.remove("hook_index");
        let (delivery_key, event_id, dedupe_window) = match keying {
            Keying::Body(window) => {
                // Sized once for the usual case: the compact text is about the
                // body's length or less.
                let mut canonical = Vec::with_capacity(inbound.body.len());
                serde_json::to_writer(&mut canonical, &body)
                    .map_err(|_| Rejection::malformed("body is not JSON"))?;
                let delivery_key = key::derive(NAME, &[hook.as_bytes(), &canonical]);
                // The record key and 16 hex digits of this delivery: the id
                // names its record ([`crate::record::record_key`]), and an
                // event that replaces a lapsed record has an id of its own.
                let delivery_hash = key::derive(
                    NAME,
                    &[delivery_key.as_bytes(), inbound.request_id.as_bytes()],
                );
                let event_id = [delivery_key.as_str(), "-", &delivery_hash[..16]].concat();
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
            admission,
        })
    }

    /// ZLMediaKit's own success answer (an integer `code`, or it retries).
    fn reply(&self, _event_id: &str) -> String {
        r#"{"code":0,"msg":"success"}"#.to_owned()
    }

    /// A non-zero integer `code` refuses the client, and is not retried.
    fn refusal(&self) -> Refusal {
        Refusal {
            status: 200,
            body: r#"{"code":-1,"msg":"stream key refused"}"#,
        }
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
        assert_eq!(first.dedupe_window, Some(SESSION_WINDOW_FLOOR));
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
        // ZLMediaKit's defaults: retry 1, retry_delay 3 s, timeoutSec 10 s,
        // streamNoneReaderDelayMS 20 s, continue_push_ms 15 s.
        let session = Some(SESSION_WINDOW_FLOOR);
        assert_eq!(
            window("on_record_ts", json!({"file_path": "/a.ts"})),
            session
        );
        assert_eq!(
            window("on_stream_changed", json!({"regist": true})),
            session
        );
        let unregistered = window("on_stream_changed", json!({"regist": false}));
        assert_eq!(unregistered, Some(Duration::from_secs(12)));
        let none_reader = window("on_stream_none_reader", json!({}));
        assert_eq!(none_reader, Some(Duration::from_secs(16)));
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
        // unregistration cannot come again within 15 s, the same "no
        // viewers" within 20 s.
        for w in [unregistered, none_reader].into_iter().flatten() {
            assert!(w > Duration::from_millis(5_500), "{w:?}");
        }
        assert!(unregistered < Some(Duration::from_secs(15)));
        assert!(none_reader < Some(Duration::from_secs(20)));
    }

    /// The windows of a server configured with `vars`.
    fn windows(vars: &[(&str, &str)]) -> Windows {
        let settings = Settings::from_lookup(OWN_SETTINGS, |name| {
            vars.iter()
                .find(|(variable, _)| *variable == name)
                .map(|(_, value)| (*value).to_owned())
        })
        .unwrap();
        Windows::of(&settings)
    }

    #[test]
    fn each_setting_moves_its_windows() {
        let defaults = windows(&[]);
        assert_eq!(defaults, Windows::of(&Settings::default()));
        // retry × (timeoutSec + retry_delay) and a 10 s trip, at least 60 s.
        for (vars, session) in [
            (&[("LIVEHOOK_ZLMEDIAKIT_RETRY", "5")][..], 75),
            (&[("LIVEHOOK_ZLMEDIAKIT_RETRY_DELAY", "60.0")][..], 80),
            (&[("LIVEHOOK_ZLMEDIAKIT_TIMEOUT_SEC", "60")][..], 73),
            (&[("LIVEHOOK_ZLMEDIAKIT_RETRY", "0")][..], 60),
        ] {
            let w = windows(vars);
            assert_eq!(w.session, Duration::from_secs(session), "{vars:?}");
            assert_eq!(
                (w.none_reader, w.unregistered),
                (defaults.none_reader, defaults.unregistered)
            );
        }
        // A fifth of the delay (at least 1 s) under it.
        let w = windows(&[("LIVEHOOK_ZLMEDIAKIT_STREAM_NONE_READER_DELAY_MS", "5000")]);
        assert_eq!(w.none_reader, Some(Duration::from_secs(4)));
        assert_eq!(
            w.unregistered,
            Some(Duration::from_secs(4)),
            "a pulled stream"
        );
        assert_eq!(w.session, defaults.session);
        let w = windows(&[("LIVEHOOK_ZLMEDIAKIT_CONTINUE_PUSH_MS", "5000")]);
        assert_eq!(w.unregistered, Some(Duration::from_secs(4)));
        assert_eq!(w.none_reader, defaults.none_reader);
        // Too short for any window: every delivery is an event.
        let w = windows(&[
            ("LIVEHOOK_ZLMEDIAKIT_CONTINUE_PUSH_MS", "0"),
            ("LIVEHOOK_ZLMEDIAKIT_STREAM_NONE_READER_DELAY_MS", "1000"),
        ]);
        assert_eq!((w.none_reader, w.unregistered), (None, None));
        assert_eq!(
            send_configured(&w, "on_stream_none_reader").dedupe_window,
            None
        );
        // Never held longer than a retry can come.
        let w = windows(&[("LIVEHOOK_ZLMEDIAKIT_STREAM_NONE_READER_DELAY_MS", "600000")]);
        assert_eq!(w.none_reader, Some(w.session));
    }

    /// `hook` delivered to an adapter whose windows are `w`'s (read back
    /// from the settings that give them).
    fn send_configured(w: &Windows, hook: &str) -> Delivery {
        let settings = Settings::from_lookup(OWN_SETTINGS, |name| match name {
            "LIVEHOOK_ZLMEDIAKIT_CONTINUE_PUSH_MS" => Some("0".to_owned()),
            "LIVEHOOK_ZLMEDIAKIT_STREAM_NONE_READER_DELAY_MS" => Some("1000".to_owned()),
            _ => None,
        })
        .unwrap();
        assert_eq!(Windows::of(&settings), *w);
        let headers = lambda_http::http::HeaderMap::new();
        let inbound = Inbound {
            path: &format!("/zlmediakit/{hook}"),
            query: &format!("token={TOKEN}"),
            headers: &headers,
            body: br#"{"app":"live","stream":"s","hook_index":1}"#,
            received_at: now(),
            request_id: "r",
            max_message_bytes: 262_144,
            settings: &settings,
        };
        Zlmediakit
            .accept(&inbound, &crate::providers::testing::verifier())
            .unwrap()
    }

    /// A token a function's configuration accepts (16 characters or more).
    const FUNCTION_TOKEN: &str = "zlmediakit-settings-test";

    /// Whether each delivery of `hook`'s `body`, at each of `at` seconds,
    /// is a new event, as the function configured with `vars` answers it:
    /// the settings go from the environment through the configuration and
    /// the gate to the adapter and its window in the store.
    async fn new_events(vars: &[(&str, &str)], hook: &str, body: Value, at: &[u64]) -> Vec<bool> {
        use crate::pipeline::{Invocation, Pipeline, fakes::MemoryStore};
        let config = crate::config::Config::for_provider(&Zlmediakit, |name| match name {
            "LIVEHOOK_TABLE" => Some("t".to_owned()),
            "LIVEHOOK_TOKEN" => Some(FUNCTION_TOKEN.to_owned()),
            _ => vars
                .iter()
                .find(|(variable, _)| *variable == name)
                .map(|(_, value)| (*value).to_owned()),
        })
        .unwrap();
        let pipeline = Pipeline::new(&Zlmediakit, &config, MemoryStore::default());
        let mut new = Vec::new();
        for (n, seconds) in at.iter().enumerate() {
            let mut body = body.clone();
            body["hook_index"] = json!(n);
            let path = format!("/zlmediakit/{hook}");
            let event = json!({
                "version": "2.0", "routeKey": "$default", "rawPath": path,
                "rawQueryString": format!("token={FUNCTION_TOKEN}"), "headers": {},
                "isBase64Encoded": false, "body": body.to_string(),
                "requestContext": {"accountId": "1", "apiId": "a", "domainName": "x", "domainPrefix": "x",
                    "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"},
                    "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "", "timeEpoch": 0}
            });
            let request = lambda_http::request::from_str(&event.to_string()).unwrap();
            let invocation = Invocation {
                request_id: &format!("r{n}"),
                now: now() + Duration::from_secs(*seconds),
            };
            let answered = pipeline.process(&request, invocation).await.unwrap();
            new.push(!answered.duplicate);
        }
        new
    }

    fn stream_body() -> Value {
        json!({"app": "live", "stream": "cam", "schema": "rtmp", "vhost": DEFAULT_VHOST,
            "mediaServerId": "lab-zlm"})
    }

    #[tokio::test]
    async fn streams_left_without_viewers_seven_seconds_apart_stay_two_at_a_5_s_delay() {
        let hook = "on_stream_none_reader";
        let at_5s = [("LIVEHOOK_ZLMEDIAKIT_STREAM_NONE_READER_DELAY_MS", "5000")];
        assert_eq!(
            new_events(&at_5s, hook, stream_body(), &[0, 7]).await,
            [true, true]
        );
        // Its retry 3 s later is still the first event.
        assert_eq!(
            new_events(&at_5s, hook, stream_body(), &[0, 3]).await,
            [true, false]
        );
        // At ZLMediaKit's default (20 s) 7 s apart can only be a retry.
        assert_eq!(
            new_events(&[], hook, stream_body(), &[0, 7]).await,
            [true, false]
        );
    }

    #[tokio::test]
    async fn unregistrations_follow_continue_push_ms() {
        let hook = "on_stream_changed";
        let mut body = stream_body();
        body["regist"] = json!(false);
        let at_5s = [("LIVEHOOK_ZLMEDIAKIT_CONTINUE_PUSH_MS", "5000")];
        assert_eq!(
            new_events(&at_5s, hook, body.clone(), &[0, 7]).await,
            [true, true]
        );
        assert_eq!(
            new_events(&[], hook, body.clone(), &[0, 7]).await,
            [true, false]
        );
        // Without a grace period a publisher can drop twice within a second.
        let none = [("LIVEHOOK_ZLMEDIAKIT_CONTINUE_PUSH_MS", "0")];
        assert_eq!(new_events(&none, hook, body, &[0, 1]).await, [true, true]);
    }

    #[tokio::test]
    async fn a_session_hook_is_held_until_its_last_retry_has_come() {
        // A retry 70 s after the first delivery: past the default minute.
        let retried = [0, 70];
        assert_eq!(
            new_events(&[], "on_publish", publish(0), &retried).await,
            [true, true]
        );
        for vars in [
            [("LIVEHOOK_ZLMEDIAKIT_RETRY", "5")],
            [("LIVEHOOK_ZLMEDIAKIT_RETRY_DELAY", "60")],
            [("LIVEHOOK_ZLMEDIAKIT_TIMEOUT_SEC", "60.5")],
        ] {
            assert_eq!(
                new_events(&vars, "on_publish", publish(0), &retried).await,
                [true, false],
                "{vars:?}"
            );
        }
    }

    #[test]
    fn a_setting_that_is_not_a_number_of_its_unit_stops_the_function() {
        for (variable, value) in [
            ("LIVEHOOK_ZLMEDIAKIT_RETRY", "-1"),
            ("LIVEHOOK_ZLMEDIAKIT_RETRY_DELAY", "3s"),
            ("LIVEHOOK_ZLMEDIAKIT_TIMEOUT_SEC", "601"),
            ("LIVEHOOK_ZLMEDIAKIT_STREAM_NONE_READER_DELAY_MS", "20.5"),
            ("LIVEHOOK_ZLMEDIAKIT_CONTINUE_PUSH_MS", "soon"),
        ] {
            let config = crate::config::Config::for_provider(&Zlmediakit, |name| match name {
                "LIVEHOOK_TABLE" => Some("t".to_owned()),
                "LIVEHOOK_TOKEN" => Some(FUNCTION_TOKEN.to_owned()),
                _ => (name == variable).then(|| value.to_owned()),
            });
            match config {
                Err(crate::config::ConfigError::Invalid { name, .. }) => assert_eq!(name, variable),
                other => panic!("{variable}={value}: {other:?}"),
            }
        }
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
