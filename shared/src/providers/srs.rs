//! SRS (ossrs/srs) `http_hooks`.
//!
//! What SRS sends (`trunk/src/app/srs_app_http_hooks.cpp`, 3.0 to 7.0):
//! - One `POST` of a JSON object per hook URL (`Content-Type:
//!   application/json`, `Connection: Keep-Alive`, `User-Agent:
//!   SRS/<version>(<code name>)`, e.g. `SRS/6.0.157(Hang)`); the action is
//!   the body's `action`. Every value is a string except `send_bytes`,
//!   `recv_bytes` (on_close) and `seq_no` (on_hls), integers, and `duration`
//!   (on_hls), seconds as a float. No timestamp (the receive time is used).
//! - Fields in SRS 5+ order: `server_id`, `service_id`, `action`,
//!   `client_id`, `ip`, `vhost`, `app`, then per action: on_connect
//!   `stream`, `param`, `tcUrl`, `pageUrl`; on_close `send_bytes`,
//!   `recv_bytes`; on_publish/on_unpublish/on_stop `tcUrl`, `stream`,
//!   `param`; on_play `stream`, `tcUrl`, `param`, `pageUrl`; on_dvr `tcUrl`,
//!   `stream`, `param`, `cwd`, `file`; on_hls `tcUrl`, `stream`, `param`,
//!   `duration`, `cwd`, `file`, `url`, `m3u8`, `m3u8_url`, `seq_no`; all
//!   but on_connect/on_close end with `stream_url` (`/app/stream`, the vhost
//!   first unless it is `__defaultVhost__`) and, when the stream is known,
//!   `stream_id`. SRS 4 has `server_id` but no `service_id`, `stream_url`,
//!   `stream_id`; SRS 3 has none of them and sends `client_id` as an
//!   integer (4+: an 8-character string). Older versions send fewer fields
//!   per action, and `on_forward` (SRS 5+) is a hook that expects forward
//!   URLs back: published as `unrecognized`.
//! - The answer is admission control: SRS accepts HTTP 200 or 201 with a
//!   non-empty body that is `0` or a JSON object whose integer `code` is 0;
//!   anything else fails the hook. A failed on_connect, on_publish or on_play
//!   refuses the client; the failures of on_close, on_unpublish, on_stop,
//!   on_dvr and on_hls are logged and ignored. SRS never resends a hook
//!   (with several URLs it calls them in order and stops at the first
//!   failure), so every delivery is a new event, keyed by the invocation's
//!   request id, as lal. (`on_hls_notify` is a `GET` whose answer is
//!   ignored; it is not a JSON hook and is not routed here.)
//!
//! Authenticated by `?token=` in each hook URL of SRS's config.

use serde_json::{Map, Value};

use super::{
    ADMISSION_SETTINGS, Delivery, Deployment, Identity, Imitate, Provider, Receiving, Refusal,
    Sending, authenticated_body, into_map, per_delivery_key, raw_json, single,
};
use crate::auth::Verifier;
use crate::error::Rejection;
use crate::event::{EventData, EventType, FileInfo};
use crate::inbound::Inbound;
use crate::json::Fields;
use crate::stream_keys::{Action, Admission, Presented};

/// SRS http_hooks adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Srs;

const NAME: &str = "srs";

/// SRS's name for the vhost of a request that names none: not a domain.
const DEFAULT_VHOST: &str = "__defaultVhost__";

impl Provider for Srs {
    fn name(&self) -> &'static str {
        NAME
    }

    fn deployment(&self) -> Deployment {
        Deployment {
            console: "SRS http_hooks (on_publish, on_unpublish, on_play, on_stop, on_dvr, ...) URL",
            // Its reply is admission control: the stack chooses what it answers when DynamoDB
            // fails, and which admissions need a stream key.
            settings: ADMISSION_SETTINGS,
            own_settings: &[],
        }
    }

    fn accept(&self, inbound: &Inbound<'_>, verifier: &Verifier) -> Result<Delivery, Rejection> {
        let body = authenticated_body(inbound, verifier)?;
        let f = Fields(&body);
        let action = f.required_text("action")?;
        let event_type = match action.as_str() {
            "on_connect" => EventType::ConnectionOpened,
            "on_close" => EventType::ConnectionClosed,
            "on_publish" => EventType::StreamStarted,
            "on_unpublish" => EventType::StreamStopped,
            "on_play" => EventType::PlaybackStarted,
            "on_stop" => EventType::PlaybackStopped,
            "on_dvr" => EventType::RecordingFileClosed,
            "on_hls" => EventType::RecordingSegmentReady,
            _ => EventType::Unrecognized,
        };
        // SRS sends each notification once: two identical bodies are two events.
        let event_key = per_delivery_key(NAME, inbound);

        let app = f.text("app");
        let stream = f.text("stream");
        let client_id = f.text("client_id");
        let server_id = f.text("server_id");
        let file = match event_type {
            EventType::RecordingFileClosed => Some(FileInfo {
                path: f.text("file"),
                format: f.text("file").as_deref().and_then(super::file_extension),
                ..FileInfo::default()
            }),
            EventType::RecordingSegmentReady => Some(FileInfo {
                url: f.text("url"),
                path: f.text("file"),
                format: f.text("file").as_deref().and_then(super::file_extension),
                duration_seconds: f.float("duration"),
                seq_no: f.int("seq_no"),
                playlist_path: f.text("m3u8"),
                playlist_url: f.text("m3u8_url"),
                ..FileInfo::default()
            }),
            _ => None,
        };
        let data = EventData {
            provider_event: action,
            app: app.clone(),
            stream: stream.clone(),
            domain: f.text("vhost").filter(|v| v != DEFAULT_VHOST),
            url: f.text("tcUrl"),
            url_params: f.text("param"),
            client_ip: f.text("ip"),
            server_id: server_id.clone(),
            session_id: client_id.clone(),
            file,
            raw: raw_json(inbound.body)?,
            ..EventData::default()
        };
        // Publish and play are the questions SRS's reply answers; the
        // client's query (`?key=…`) is its `param`.
        let action = match event_type {
            EventType::StreamStarted => Some(Action::Publish),
            EventType::PlaybackStarted => Some(Action::Play),
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
        let identity = Identity::of_stream(app, stream, |_| client_id.or(server_id));
        let mut delivery = single(NAME, inbound, event_key, event_type, identity, None, data);
        delivery.admission = admission;
        Ok(delivery)
    }

    /// A non-zero `code` refuses the publish or play.
    fn refusal(&self) -> Refusal {
        Refusal {
            status: 200,
            body: r#"{"code":403,"msg":"stream key refused"}"#,
        }
    }

    /// SRS's own success answer; its reference hook server sends the same.
    fn reply(&self, _event_id: &str) -> String {
        r#"{"code":0}"#.to_owned()
    }

    fn receiving(&self) -> Receiving {
        Receiving {
            // 200 with `{"code":0}` admits the publish or play.
            admission: true,
            ..Receiving::DEFAULT
        }
    }
}

impl Imitate for Srs {
    fn sending(&self) -> Sending {
        Sending {
            // One POST per hook URL; a failure is logged, never resent.
            resends: false,
            // SrsHttpClient's defaults (SRS 6.0 release; the version varies).
            user_agent: Some("SRS/6.0.157(Hang)"),
            headers: &[
                ("content-type", "application/json"),
                ("connection", "Keep-Alive"),
            ],
            ..Sending::DEFAULT
        }
    }

    fn synthetic(&self, stream: &str, nonce: &str) -> (&'static str, Map<String, Value>) {
        let body = serde_json::json!({
            "server_id": "vid-livehk", "service_id": "livehook", "action": "on_publish",
            "client_id": nonce, "ip": "127.0.0.1", "vhost": DEFAULT_VHOST, "app": "livehook",
            "tcUrl": "rtmp://127.0.0.1:1935/livehook", "stream": stream, "param": "",
            "stream_url": format!("/livehook/{stream}"),
        });
        ("on_publish", into_map(body))
    }
}
