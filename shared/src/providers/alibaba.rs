//! Alibaba Cloud ApsaraVideo Live callbacks, at one route:
//!
//! - stream ingest callbacks arrive as `GET` with their fields in the query
//!   (`action` `publish` / `publish_done`, `ip`, `id` (the stream), `app`
//!   (the ingest domain), `appname`, `time`, `usrargs`, `node`, …): the gate
//!   hands them over as a JSON object ([`Receiving::query_on_get`]);
//! - the others are `POST`ed JSON: recording status (`event`
//!   `record_started` / `record_paused` / `record_resumed`), recording files
//!   (`uri`, `duration`, `start_time`, `stop_time`, `push_args`), snapshots
//!   (`event` `live_snapshot`), audio moderation verdicts (the default
//!   template of `AddLiveAudioAuditNotifyConfig`: `domain`, `app`,
//!   `stream`, `timestamp`, `result`) and video moderation verdicts
//!   (`AddLiveDetectNotifyConfig`: `DomainName`, `AppName`, `StreamName`,
//!   the flagged frame's `OssEndpoint` / `OssBucket` / `OssObject`, and
//!   `Result`, each model's verdicts).
//!
//! Proven, when the callback's authentication key (`NotifyAuthKey`) is set,
//! by `ALI-LIVE-SIGNATURE = md5(<domain>|<ALI-LIVE-TIMESTAMP>|<key>)` in the
//! headers: the domain is the ingest domain for stream callbacks (their
//! query's `app`) and the callback URL's host for the others. The signature
//! covers no byte of the body or query: only the timestamp (5 minutes, as
//! Alibaba suggests) limits its replay.

use std::time::Duration;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::imitate::stamp::{TimeField, Unit};
use super::signed::Signed;
use super::{Delivery, Identity, Receiving, Sending, file_extension, single};
use crate::error::Rejection;
use crate::event::{EventData, EventType, FileInfo, format_time, from_unix_seconds};
use crate::inbound::Inbound;
use crate::json::Fields;
use crate::key;
use crate::proof::{
    Algorithm, Encoding, Layout, Part, Proof, Scheme, Signature, TimeFormat, Timestamp,
    TimestampSource,
};

/// Alibaba Cloud Live callback adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Alibaba;

const NAME: &str = "alibaba";

/// Alibaba's "Callback authentication" page.
pub static PROOF: Proof = Proof {
    secret_variable: "LIVEHOOK_ALIBABA_KEY",
    secret_about: "Alibaba Cloud Live callback authentication key (ApsaraVideo Live console, Callbacks: the authentication key), comma-separated for rotation",
    schemes: &[Scheme::Signature(Signature {
        header: "ali-live-signature",
        layout: Layout::Whole { prefix: "" },
        algorithm: Algorithm::Md5,
        encoding: Encoding::Hex,
        message: &[
            Part::QueryElseHost("app"),
            Part::Text("|"),
            Part::Timestamp,
            Part::Text("|"),
            Part::Secret,
        ],
        timestamp: Some(Timestamp {
            source: TimestampSource::Header("ali-live-timestamp"),
            format: TimeFormat::UnixSeconds,
        }),
    })],
    tolerance: Duration::from_secs(300),
};

/// How long a callback without a time of its own (recording status,
/// snapshots, video moderation verdicts) is one event: Alibaba retries 5
/// times, 1 s apart, each waiting 5 s, so its resends are over within a
/// minute; the same status of the same stream later is a new event.
const UNTIMED_WINDOW: Duration = Duration::from_secs(600);

impl Signed for Alibaba {
    const NAME: &'static str = NAME;
    const PROOF: &'static Proof = &PROOF;
    const CONSOLE: &'static str = "ApsaraVideo Live console, Feature Management > Callbacks (stream ingest on the ingest domain; recording and snapshot on the streaming domain), with callback authentication on";
    const RECEIVING: Receiving = Receiving {
        query_on_get: true,
        ..Receiving::DEFAULT
    };
    const SENDING: Sending = Sending {
        // A reply not within 5 s is retried, 5 times, 1 s apart.
        retry_delays_seconds: &[1, 1, 1, 1, 1],
        ..Sending::DEFAULT
    };
    const TIME_FIELDS: &'static [TimeField] = TIME_FIELDS;

    /// The proof was checked by the gate (over the headers and the domain).
    fn normalize(&self, inbound: &Inbound<'_>, f: Fields<'_>) -> Result<Delivery, Rejection> {
        if let Some(action) = f.text("action") {
            return stream_callback(inbound, f, action);
        }
        let event = f.text("event");
        let delivery = match event.as_deref() {
            Some("live_snapshot") => snapshot(inbound, f)?,
            None if f.text("uri").is_some() => return record_file(inbound, f),
            None if f.get("result").is_some_and(Value::is_array) => {
                return audio_moderation(inbound, f);
            }
            None if f.get("Result").is_some_and(Value::is_array) => video_moderation(inbound, f)?,
            _ => record_status(inbound, f, event.unwrap_or_default())?,
        };
        Ok(super::windowed(delivery, NAME, inbound, UNTIMED_WINDOW))
    }

    /// Stream callbacks (the ones with an `action`) come as `GET`s.
    fn as_query(&self, body: &Map<String, Value>) -> bool {
        body.contains_key("action")
    }

    fn synthetic_body(&self, stream: &str, nonce: &str) -> (&'static str, Map<String, Value>) {
        // The nonce names the ingest domain: the key holds the domain, so
        // two checks within one second are two events.
        let body = serde_json::json!({
            "action": "publish", "ip": "127.0.0.1", "id": stream,
            "app": format!("{nonce}.livehook.check"), "appname": "live", "time": "0",
            "node": "livehook-check", "usrargs": format!("livehook_check={nonce}"),
        });
        ("publish", super::into_map(body))
    }
}

/// Where a callback happened: the domain, application and stream its
/// fields name (each callback family names them differently).
struct Place {
    domain: Option<String>,
    app: Option<String>,
    stream: Option<String>,
}

impl Place {
    fn of(f: Fields<'_>, [domain, app, stream]: [&str; 3]) -> Self {
        Place {
            domain: f.text(domain),
            app: f.text(app),
            stream: f.text(stream),
        }
    }

    /// The domain, application and stream as parts of a key.
    fn key_parts(&self) -> [&[u8]; 3] {
        [&self.domain, &self.app, &self.stream].map(|v| v.as_deref().unwrap_or("").as_bytes())
    }

    /// The key of a `kind` of callback about this place, then `rest`.
    fn key(&self, kind: &[u8], rest: &[&[u8]]) -> String {
        key::derive(NAME, &[&[kind], self.key_parts().as_slice(), rest].concat())
    }

    /// One event of `data` about this place: its stream's identity, and the
    /// place and the raw body in the event's data.
    fn deliver(
        self,
        inbound: &Inbound<'_>,
        event_key: String,
        event_type: EventType,
        time: Option<OffsetDateTime>,
        data: EventData,
    ) -> Result<Delivery, Rejection> {
        let data = EventData {
            app: self.app.clone(),
            stream: self.stream.clone(),
            domain: self.domain.clone(),
            raw: super::raw_json(inbound.body)?,
            ..data
        };
        let domain = self.domain;
        Ok(single(
            NAME,
            inbound,
            event_key,
            event_type,
            Identity::of_stream(self.app, self.stream, |_| domain),
            time,
            data,
        ))
    }
}

/// `publish` / `publish_done`, from the query of a `GET`.
fn stream_callback(
    inbound: &Inbound<'_>,
    f: Fields<'_>,
    action: String,
) -> Result<Delivery, Rejection> {
    let event_type = match action.as_str() {
        "publish" => EventType::StreamStarted,
        "publish_done" => EventType::StreamStopped,
        _ => EventType::Unrecognized,
    };
    let place = Place::of(f, ["app", "appname", "id"]);
    let time = f.text("time").unwrap_or_default();
    let event_key = place.key(action.as_bytes(), &[time.as_bytes()]);
    let data = EventData {
        provider_event: action,
        client_ip: f.text("ip"),
        node: f.text("node"),
        url_params: f.text("usrargs"),
        ..EventData::default()
    };
    let time = f.int("time").and_then(from_unix_seconds);
    place.deliver(inbound, event_key, event_type, time, data)
}

/// A recording's status: started, paused, resumed (no time of its own).
fn record_status(
    inbound: &Inbound<'_>,
    f: Fields<'_>,
    event: String,
) -> Result<Delivery, Rejection> {
    let event_type = match event.as_str() {
        "record_started" => EventType::RecordingStarted,
        "record_paused" => EventType::RecordingPaused,
        "record_resumed" => EventType::RecordingResumed,
        _ => EventType::Unrecognized,
    };
    let place = Place::of(f, ["domain", "app", "stream"]);
    let event_key = if event_type == EventType::Unrecognized {
        key::derive(NAME, &[b"body", inbound.body])
    } else {
        place.key(event.as_bytes(), &[])
    };
    let data = EventData {
        provider_event: event,
        ..EventData::default()
    };
    place.deliver(inbound, event_key, event_type, None, data)
}

/// A recording file written to OSS.
fn record_file(inbound: &Inbound<'_>, f: Fields<'_>) -> Result<Delivery, Rejection> {
    let uri = f.required_text("uri")?;
    let place = Place::of(f, ["domain", "app", "stream"]);
    let event_key = key::derive(
        NAME,
        &[b"record_file", place.key_parts()[0], uri.as_bytes()],
    );
    let stop = f.int("stop_time").and_then(from_unix_seconds);
    let data = EventData {
        provider_event: "record_file".to_owned(),
        file: Some(FileInfo {
            path: Some(uri.clone()),
            format: file_extension(&uri),
            duration_seconds: f.float("duration"),
            start_time: f
                .int("start_time")
                .and_then(from_unix_seconds)
                .map(format_time),
            end_time: stop.map(format_time),
            ..FileInfo::default()
        }),
        ..EventData::default()
    };
    place.deliver(inbound, event_key, EventType::RecordingReady, stop, data)
}

/// A snapshot written to OSS.
fn snapshot(inbound: &Inbound<'_>, f: Fields<'_>) -> Result<Delivery, Rejection> {
    let place = Place::of(f, ["DomainName", "AppName", "StreamName"]);
    let object = f.text("OssObject");
    let event_key = place.key(
        b"live_snapshot",
        &[object.as_deref().unwrap_or("").as_bytes()],
    );
    let data = EventData {
        provider_event: "live_snapshot".to_owned(),
        snapshot_url: oss_url(f, object.as_deref()),
        ..EventData::default()
    };
    let time = f.int("CreateTime").and_then(from_unix_seconds);
    place.deliver(inbound, event_key, EventType::SnapshotReady, time, data)
}

/// The URL of the OSS object a callback names (its path when the bucket or
/// endpoint is missing).
fn oss_url(f: Fields<'_>, object: Option<&str>) -> Option<String> {
    match (f.text("OssBucket"), f.text("OssEndpoint"), object) {
        (Some(bucket), Some(endpoint), Some(object)) => {
            Some(format!("https://{bucket}.{endpoint}/{object}"))
        }
        _ => object.map(str::to_owned),
    }
}

/// The label of the first verdict that is not a pass: what was flagged.
/// `suggestion` and `label` name the verdict's fields (each moderation
/// callback spells them its own way).
fn flagged_label<'a>(
    verdicts: impl IntoIterator<Item = &'a Value>,
    [suggestion, label]: [&str; 2],
) -> Option<String> {
    verdicts
        .into_iter()
        .filter(|v| v.get(suggestion).and_then(Value::as_str) != Some("pass"))
        .find_map(|v| v.get(label).and_then(Value::as_str))
        .map(str::to_owned)
}

/// An audio moderation verdict: a stretch of a stream's sound the review
/// flagged (Alibaba calls back only what it flags).
fn audio_moderation(inbound: &Inbound<'_>, f: Fields<'_>) -> Result<Delivery, Rejection> {
    let place = Place::of(f, ["domain", "app", "stream"]);
    let verdicts = f
        .get("result")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    let label = flagged_label(verdicts, ["suggestion", "label"]);
    // The same verdict is resent as the same body; another one of the same
    // second differs in its result.
    let verdict = serde_json::to_vec(&f.get("result")).unwrap_or_default();
    let timestamp = f.text("timestamp").unwrap_or_default();
    let event_key = place.key(b"audio_moderation", &[timestamp.as_bytes(), &verdict]);
    let data = EventData {
        provider_event: "audio_moderation".to_owned(),
        reason: label,
        ..EventData::default()
    };
    let time = f.int("timestamp").and_then(from_unix_seconds);
    place.deliver(inbound, event_key, EventType::ModerationFlagged, time, data)
}

/// A video moderation verdict: a frame of a stream the review flagged,
/// saved to OSS (Alibaba calls back only what it flags). `Result` holds
/// each model's (`BizType`) verdicts in its own `Result`. No time of its
/// own.
fn video_moderation(inbound: &Inbound<'_>, f: Fields<'_>) -> Result<Delivery, Rejection> {
    let place = Place::of(f, ["DomainName", "AppName", "StreamName"]);
    let verdicts = f
        .get("Result")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|model| model.get("Result").and_then(Value::as_array))
        .flatten();
    let label = flagged_label(verdicts, ["Suggestion", "Label"]);
    // A resend is the same body: the frame and its verdicts.
    let object = f.text("OssObject");
    let verdict = serde_json::to_vec(&f.get("Result")).unwrap_or_default();
    let event_key = place.key(
        b"video_moderation",
        &[object.as_deref().unwrap_or("").as_bytes(), &verdict],
    );
    let data = EventData {
        provider_event: "video_moderation".to_owned(),
        reason: label,
        snapshot_url: oss_url(f, object.as_deref()),
        ..EventData::default()
    };
    place.deliver(inbound, event_key, EventType::ModerationFlagged, None, data)
}

/// Alibaba's own times of the event (stream callbacks, recording files,
/// snapshots, moderation verdicts).
const TIME_FIELDS: &[TimeField] = &[
    (&["time"], Unit::Seconds),
    (&["timestamp"], Unit::Seconds),
    (&["stop_time"], Unit::Seconds),
    (&["CreateTime"], Unit::Seconds),
    (&["start_time"], Unit::Seconds),
];

#[cfg(test)]
mod tests;
