//! Alibaba Cloud ApsaraVideo Live callbacks, at one route:
//!
//! - stream ingest callbacks arrive as `GET` with their fields in the query
//!   (`action` `publish` / `publish_done`, `ip`, `id` (the stream), `app`
//!   (the ingest domain), `appname`, `time`, `usrargs`, `node`, …): the gate
//!   hands them over as a JSON object ([`Receiving::query_on_get`]);
//! - the others are `POST`ed JSON: recording status (`event`
//!   `record_started` / `record_paused` / `record_resumed`), recording files
//!   (`uri`, `duration`, `start_time`, `stop_time`, `push_args`), snapshots
//!   (`event` `live_snapshot`) and audio moderation verdicts (the default
//!   template of `AddLiveAudioAuditNotifyConfig`: `domain`, `app`,
//!   `stream`, `timestamp`, `result`).
//!
//! Proven, when the callback's authentication key (`NotifyAuthKey`) is set,
//! by `ALI-LIVE-SIGNATURE = md5(<domain>|<ALI-LIVE-TIMESTAMP>|<key>)` in the
//! headers: the domain is the ingest domain for stream callbacks (their
//! query's `app`) and the callback URL's host for the others. The signature
//! covers no byte of the body or query: only the timestamp (5 minutes, as
//! Alibaba suggests) limits its replay.

use std::time::Duration;

use serde_json::{Map, Value};

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
/// snapshots) is one event: Alibaba retries 5 times, 1 s apart, each
/// waiting 5 s, so its resends are over within a minute; the same status of
/// the same stream later is a new event.
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
    let (domain, app, stream) = (f.text("app"), f.text("appname"), f.text("id"));
    let time = f.text("time").unwrap_or_default();
    let event_key = key::derive(
        NAME,
        &[
            action.as_bytes(),
            domain.as_deref().unwrap_or("").as_bytes(),
            app.as_deref().unwrap_or("").as_bytes(),
            stream.as_deref().unwrap_or("").as_bytes(),
            time.as_bytes(),
        ],
    );
    let data = EventData {
        provider_event: action,
        app: app.clone(),
        stream: stream.clone(),
        domain: domain.clone(),
        client_ip: f.text("ip"),
        node: f.text("node"),
        url_params: f.text("usrargs"),
        raw: super::raw_json(inbound.body)?,
        ..EventData::default()
    };
    Ok(single(
        NAME,
        inbound,
        event_key,
        event_type,
        Identity::of_stream(app, stream, |_| domain),
        f.int("time").and_then(from_unix_seconds),
        data,
    ))
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
    let (domain, app, stream) = (f.text("domain"), f.text("app"), f.text("stream"));
    let event_key = if event_type == EventType::Unrecognized {
        key::derive(NAME, &[b"body", inbound.body])
    } else {
        key::derive(
            NAME,
            &[
                event.as_bytes(),
                domain.as_deref().unwrap_or("").as_bytes(),
                app.as_deref().unwrap_or("").as_bytes(),
                stream.as_deref().unwrap_or("").as_bytes(),
            ],
        )
    };
    let data = EventData {
        provider_event: event,
        app: app.clone(),
        stream: stream.clone(),
        domain: domain.clone(),
        raw: super::raw_json(inbound.body)?,
        ..EventData::default()
    };
    Ok(single(
        NAME,
        inbound,
        event_key,
        event_type,
        Identity::of_stream(app, stream, |_| domain),
        None,
        data,
    ))
}

/// A recording file written to OSS.
fn record_file(inbound: &Inbound<'_>, f: Fields<'_>) -> Result<Delivery, Rejection> {
    let uri = f.required_text("uri")?;
    let (domain, app, stream) = (f.text("domain"), f.text("app"), f.text("stream"));
    let event_key = key::derive(
        NAME,
        &[
            b"record_file",
            domain.as_deref().unwrap_or("").as_bytes(),
            uri.as_bytes(),
        ],
    );
    let stop = f.int("stop_time").and_then(from_unix_seconds);
    let data = EventData {
        provider_event: "record_file".to_owned(),
        app: app.clone(),
        stream: stream.clone(),
        domain: domain.clone(),
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
        raw: super::raw_json(inbound.body)?,
        ..EventData::default()
    };
    Ok(single(
        NAME,
        inbound,
        event_key,
        EventType::RecordingReady,
        Identity::of_stream(app, stream, |_| domain),
        stop,
        data,
    ))
}

/// A snapshot written to OSS.
fn snapshot(inbound: &Inbound<'_>, f: Fields<'_>) -> Result<Delivery, Rejection> {
    let (domain, app, stream) = (
        f.text("DomainName"),
        f.text("AppName"),
        f.text("StreamName"),
    );
    let object = f.text("OssObject");
    let event_key = key::derive(
        NAME,
        &[
            b"live_snapshot",
            domain.as_deref().unwrap_or("").as_bytes(),
            app.as_deref().unwrap_or("").as_bytes(),
            stream.as_deref().unwrap_or("").as_bytes(),
            object.as_deref().unwrap_or("").as_bytes(),
        ],
    );
    let url = match (f.text("OssBucket"), f.text("OssEndpoint"), &object) {
        (Some(bucket), Some(endpoint), Some(object)) => {
            Some(format!("https://{bucket}.{endpoint}/{object}"))
        }
        _ => object.clone(),
    };
    let data = EventData {
        provider_event: "live_snapshot".to_owned(),
        app: app.clone(),
        stream: stream.clone(),
        domain: domain.clone(),
        snapshot_url: url,
        raw: super::raw_json(inbound.body)?,
        ..EventData::default()
    };
    Ok(single(
        NAME,
        inbound,
        event_key,
        EventType::SnapshotReady,
        Identity::of_stream(app, stream, |_| domain),
        f.int("CreateTime").and_then(from_unix_seconds),
        data,
    ))
}

/// An audio moderation verdict: a stretch of a stream's sound the review
/// flagged (Alibaba calls back only what it flags).
fn audio_moderation(inbound: &Inbound<'_>, f: Fields<'_>) -> Result<Delivery, Rejection> {
    let (domain, app, stream) = (f.text("domain"), f.text("app"), f.text("stream"));
    let verdicts = f.get("result").and_then(Value::as_array);
    // The label of the first verdict that is not a pass: what was flagged.
    let label = verdicts
        .into_iter()
        .flatten()
        .filter(|v| v.get("suggestion").and_then(Value::as_str) != Some("pass"))
        .find_map(|v| v.get("label").and_then(Value::as_str))
        .map(str::to_owned);
    // The same verdict is resent as the same body; another one of the same
    // second differs in its result.
    let verdict = serde_json::to_vec(&f.get("result")).unwrap_or_default();
    let event_key = key::derive(
        NAME,
        &[
            b"audio_moderation",
            domain.as_deref().unwrap_or("").as_bytes(),
            app.as_deref().unwrap_or("").as_bytes(),
            stream.as_deref().unwrap_or("").as_bytes(),
            f.text("timestamp").unwrap_or_default().as_bytes(),
            &verdict,
        ],
    );
    let data = EventData {
        provider_event: "audio_moderation".to_owned(),
        app: app.clone(),
        stream: stream.clone(),
        domain: domain.clone(),
        reason: label,
        raw: super::raw_json(inbound.body)?,
        ..EventData::default()
    };
    Ok(single(
        NAME,
        inbound,
        event_key,
        EventType::ModerationFlagged,
        Identity::of_stream(app, stream, |_| domain),
        f.int("timestamp").and_then(from_unix_seconds),
        data,
    ))
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
