//! lalserver `http_notify` hooks.
//!
//! lal names the event only by which URL it calls, so the hook is the last
//! path segment (`…/lal/on_pub_start`). Authenticated by `?token=` (each
//! hook URL in lal's config carries it). Hooks this version does not know
//! are published as `unrecognized`, never refused.
//!
//! lal never resends (one POST per notification, 3 s timeout, reply
//! ignored), so every delivery is its own event, keyed by the invocation's
//! request id. Nothing in the body identifies an event: session ids are a
//! per-process counter (`RTMPPUBSUB1` again after every restart, and every
//! node defaults to `server_id` "1"), and an idle server sends the very same
//! `on_update` every interval, each one a heartbeat.

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::{
    Delivery, Deployment, EventParts, Identity, Imitate, Outgoing, Provider, Receiving, Sending,
    authenticated_hook_body, per_delivery_key, raw_json, single,
};
use crate::auth::Verifier;
use crate::error::Rejection;
use crate::event::{EventData, EventType, FileInfo, Part};
use crate::inbound::Inbound;
use crate::json::Fields;

/// lalserver http_notify adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lal;

const NAME: &str = "lal";

/// Room kept in an SNS message for everything but the payload: the
/// envelope's other fields and the message attributes.
const ENVELOPE_ALLOWANCE: usize = 4 * 1024;

impl Provider for Lal {
    fn name(&self) -> &'static str {
        NAME
    }

    fn deployment(&self) -> Deployment {
        Deployment {
            console: "lalserver http_notify",
            settings: &[],
            own_settings: &[],
        }
    }

    fn accept(&self, inbound: &Inbound<'_>, verifier: &Verifier) -> Result<Delivery, Rejection> {
        let (hook, body) = authenticated_hook_body(inbound, verifier)?;
        let f = Fields(&body);
        let (event_type, session_hook) = match hook {
            "on_pub_start" => (EventType::StreamStarted, true),
            "on_pub_stop" => (EventType::StreamStopped, true),
            "on_sub_start" => (EventType::PlaybackStarted, true),
            "on_sub_stop" => (EventType::PlaybackStopped, true),
            "on_rtmp_connect" => (EventType::ConnectionOpened, true),
            "on_server_start" => (EventType::ServerStarted, false),
            "on_update" => (EventType::ServerStats, false),
            // lal calls it when a segment opens (`open`, duration 0) and when
            // it is complete (`close`): only the second is a ready segment.
            "on_hls_make_ts" if f.text("event").as_deref() == Some("close") => {
                (EventType::RecordingSegmentReady, false)
            }
            _ => (EventType::Unrecognized, false),
        };
        let server_id = f.text("server_id");
        let session_id = if session_hook {
            Some(f.required_text("session_id")?)
        } else {
            f.text("session_id")
        };
        let event_key = per_delivery_key(NAME, inbound);

        // The envelope adds at most a few KiB to the body; a body that may
        // not fit one SNS message is split by groups.
        if event_type == EventType::ServerStats
            && inbound.body.len() + ENVELOPE_ALLOWANCE > inbound.max_message_bytes
            && let Some(delivery) = split_update(&body, &event_key, server_id.as_deref(), inbound)
        {
            return Ok(delivery);
        }

        let app = f.text_any(&["app_name", "app"]);
        let stream = f.text("stream_name");
        let data = EventData {
            provider_event: hook.to_owned(),
            app: app.clone(),
            stream: stream.clone(),
            protocol: f.text("protocol"),
            url: f.text_any(&["url", "tcUrl"]),
            url_params: f.text("url_param"),
            client_addr: f.text_any(&["remote_addr", "remotet_addr"]),
            client_ip: f
                .text_any(&["remote_addr", "remotet_addr"])
                .map(|addr| host_of(&addr).to_owned()),
            server_id: server_id.clone(),
            session_id,
            has_publisher: f.boolean("has_in_session"),
            has_viewers: f.boolean("has_out_session"),
            file: (event_type == EventType::RecordingSegmentReady).then(|| FileInfo {
                path: f.text("ts_file"),
                format: Some("ts".to_owned()),
                duration_seconds: f.float("duration"),
                seq_no: f.int("id"),
                playlist_path: f.text("live_m3u8_file"),
                ..FileInfo::default()
            }),
            raw: raw_json(inbound.body)?,
            ..EventData::default()
        };
        let identity = Identity::of_stream(app, stream, |_| server_id.clone());
        Ok(single(
            NAME, inbound, event_key, event_type, identity, None, data,
        ))
    }

    fn receiving(&self) -> Receiving {
        Receiving {
            hook_in_path: true,
            ..Receiving::DEFAULT
        }
    }
}

impl Imitate for Lal {
    fn sending(&self) -> Sending {
        Sending {
            // One POST per notification, 3 s timeout, reply ignored.
            resends: false,
            // Go's net/http client, which also advertises gzip.
            user_agent: Some("Go-http-client/1.1"),
            headers: &[("accept-encoding", "gzip")],
            ..Sending::DEFAULT
        }
    }

    fn synthetic(&self, stream: &str, nonce: &str) -> (&'static str, Map<String, Value>) {
        let body = serde_json::json!({
            "server_id": "1", "session_id": nonce, "protocol": "RTMP", "base_type": "PUB",
            "remote_addr": "127.0.0.1:1", "url": format!("rtmp://127.0.0.1:1935/livehook/{stream}"),
            "app_name": "livehook", "stream_name": stream, "url_param": "",
            "has_in_session": true, "has_out_session": false,
        });
        ("on_pub_start", super::into_map(body))
    }
}

/// `127.0.0.1:52576` → `127.0.0.1`; `[::1]:57308` → `::1`.
fn host_of(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => addr,
    }
}

/// One part of a split `on_update`: the body with `groups` replaced by
/// this part's groups, serialized from borrowed values.
struct PartBody<'a> {
    body: &'a Map<String, Value>,
    groups: &'a [&'a Value],
}

impl serde::Serialize for PartBody<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.body.len()))?;
        for (key, value) in self.body {
            if key == "groups" {
                map.serialize_entry(key, self.groups)?;
            } else {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

/// The length of a value's JSON text, counted without writing it anywhere.
fn serialized_len(value: &impl serde::Serialize) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value).map_or(0, |()| count.0)
}

/// Splits a large `on_update` into parts of consecutive `groups`, each
/// small enough for one SNS message of the topic's size. Every part keeps
/// `server_id` and every other top-level field, so nothing is lost. `None`
/// when there is nothing to split (no `groups` array); a part that still
/// does not fit (one huge group) is refused by the pipeline's size check.
fn split_update(
    body: &Map<String, Value>,
    event_key: &str,
    server_id: Option<&str>,
    inbound: &Inbound<'_>,
) -> Option<Delivery> {
    let groups = body.get("groups")?.as_array()?;
    // What every part carries besides its groups: the other top-level
    // fields, the envelope and the attributes.
    let fixed = serialized_len(&PartBody { body, groups: &[] }) + ENVELOPE_ALLOWANCE;
    let budget = inbound.max_message_bytes.saturating_sub(fixed);
    let mut chunks: Vec<Vec<&Value>> = vec![Vec::new()];
    let mut chunk_bytes = 0;
    for group in groups {
        // `,` between groups.
        let size = serialized_len(group) + 1;
        if chunk_bytes + size > budget && !chunks.last().is_some_and(Vec::is_empty) {
            chunks.push(Vec::new());
            chunk_bytes = 0;
        }
        chunk_bytes += size;
        chunks.last_mut()?.push(group);
    }
    let count = chunks.len();
    let mut events = Vec::with_capacity(count);
    for (index, chunk) in chunks.iter().enumerate() {
        // Each part is written straight from the parsed body: no copy of
        // the body (or of its groups) per part.
        let raw: Box<RawValue> = serde_json::value::to_raw_value(&PartBody {
            body,
            groups: chunk,
        })
        .ok()?;
        let data = EventData {
            provider_event: "on_update".to_owned(),
            server_id: server_id.map(str::to_owned),
            part: Some(Part {
                index: index + 1,
                count,
            }),
            raw,
            ..EventData::default()
        };
        let outgoing: Outgoing = EventParts {
            provider: NAME,
            key: format!("{event_key}-{}", index + 1),
            event_type: EventType::ServerStats,
            identity: Identity::Other(server_id.unwrap_or("unknown").to_owned()),
            time: None,
            data,
        }
        .build(inbound.received_at);
        events.push(outgoing);
    }
    Some(Delivery {
        key: event_key.to_owned(),
        events,
        provider_time: None,
        recorded: Vec::new(),
        dedupe_window: None,
        check: false,
        answer: None,
        admission: None,
    })
}
