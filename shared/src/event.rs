//! The canonical event: a CloudEvents 1.0 envelope (structured JSON mode)
//! whose `data` holds normalized fields plus the provider payload as received.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The CloudEvents spec version livehook emits.
pub const SPEC_VERSION: &str = "1.0";

/// Every kind of event livehook publishes. Serializes to the dotted names of
/// DESIGN.md (`stream.started`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum EventType {
    /// A publisher started pushing a stream.
    #[serde(rename = "stream.started")]
    StreamStarted,
    /// A publisher stopped pushing (the stream may resume).
    #[serde(rename = "stream.stopped")]
    StreamStopped,
    /// The live event is over for good.
    #[serde(rename = "stream.ended")]
    StreamEnded,
    /// Periodic stream health figures (fluency).
    #[serde(rename = "stream.health")]
    StreamHealth,
    /// A media server made a stream playable in one more format
    /// (ZLMediaKit `on_stream_changed` with `regist` true, once per
    /// format: `data.protocol` names it).
    #[serde(rename = "stream.registered")]
    StreamRegistered,
    /// A media server stopped serving a stream in one format (ZLMediaKit
    /// `on_stream_changed` with `regist` false).
    #[serde(rename = "stream.unregistered")]
    StreamUnregistered,
    /// A stream has had no viewers for the server's delay (ZLMediaKit
    /// `on_stream_none_reader`); livehook's answer keeps it open.
    #[serde(rename = "stream.idle")]
    StreamIdle,
    /// A media server asked whether a client may publish or play, and
    /// livehook refused it for its stream key (`LIVEHOOK_STREAM_KEYS`):
    /// `data.reason` says why, `data.client_ip` who.
    #[serde(rename = "stream.refused")]
    StreamRefused,
    /// A platform created a live stream, its ingest endpoint (Mux
    /// `video.live_stream.created`).
    #[serde(rename = "stream.created")]
    StreamCreated,
    /// A live stream's settings or metadata changed (Mux
    /// `video.live_stream.updated`/`enabled`/`disabled` and its simulcast
    /// targets' configuration, Twitch `channel.update`): `provider_event`
    /// says which.
    #[serde(rename = "stream.updated")]
    StreamUpdated,
    /// A platform deleted a live stream (Mux `video.live_stream.deleted`).
    #[serde(rename = "stream.deleted")]
    StreamDeleted,
    /// A platform reports a problem with a live stream's input (Cloudflare
    /// `live_input.errored`, Mux `video.live_stream.warning`):
    /// `data.error_message` says what (the platform's code is in `raw`);
    /// the stream may still be live.
    #[serde(rename = "stream.errored")]
    StreamErrored,
    /// A viewer started playing a stream.
    #[serde(rename = "playback.started")]
    PlaybackStarted,
    /// A viewer stopped playing a stream.
    #[serde(rename = "playback.stopped")]
    PlaybackStopped,
    /// A viewer acted on a channel: followed, subscribed, gifted,
    /// cheered or raided it (Twitch `channel.follow`, `channel.subscribe`,
    /// `channel.cheer`, `channel.raid`, …): `provider_event` says which.
    #[serde(rename = "audience.activity")]
    AudienceActivity,
    /// A recording session started.
    #[serde(rename = "recording.started")]
    RecordingStarted,
    /// A recording session ended.
    #[serde(rename = "recording.ended")]
    RecordingEnded,
    /// A recording was paused (Alibaba `record_paused`).
    #[serde(rename = "recording.paused")]
    RecordingPaused,
    /// A paused recording resumed (Alibaba `record_resumed`).
    #[serde(rename = "recording.resumed")]
    RecordingResumed,
    /// A recorder opened a new file.
    #[serde(rename = "recording.file_opened")]
    RecordingFileOpened,
    /// A recorder closed a file; it is complete on the recorder's disk.
    #[serde(rename = "recording.file_closed")]
    RecordingFileClosed,
    /// A live segment (an HLS `.ts` file) is complete and listed in its
    /// playlist: SRS `on_hls`, lal `on_hls_make_ts` with `event` `close`.
    #[serde(rename = "recording.segment_ready")]
    RecordingSegmentReady,
    /// A recording is available for download.
    #[serde(rename = "recording.ready")]
    RecordingReady,
    /// A recording's progress or state changed without it starting,
    /// ending or being ready (Agora's upload progress, stream states,
    /// warnings and failover, LiveKit `egress_updated`): `provider_event`
    /// says which.
    #[serde(rename = "recording.updated")]
    RecordingUpdated,
    /// A recording failed (Agora `cloud_recording_error` and
    /// `download_failed`, a LiveKit egress that ended failed):
    /// `data.error_code` and `data.error_message` say why when the platform
    /// does.
    #[serde(rename = "recording.failed")]
    RecordingFailed,
    /// A snapshot image is available.
    #[serde(rename = "snapshot.ready")]
    SnapshotReady,
    /// A platform's automated review flagged a live stream's picture or
    /// sound (Alibaba's video and audio moderation): `data.reason` is the
    /// label it gave, `data.snapshot_url` the flagged frame when there is
    /// one, its full verdict is in `raw`.
    #[serde(rename = "moderation.flagged")]
    ModerationFlagged,
    /// A video file finished uploading to a VOD service.
    #[serde(rename = "vod.uploaded")]
    VodUploaded,
    /// A VOD file finished transcoding.
    #[serde(rename = "vod.transcoded")]
    VodTranscoded,
    /// A VOD file could not be processed (Cloudflare Stream's `error`
    /// state): `data.error_message` says why.
    #[serde(rename = "vod.failed")]
    VodFailed,
    /// A platform created a VOD asset (Mux `video.asset.created`); it is
    /// not playable yet.
    #[serde(rename = "vod.created")]
    VodCreated,
    /// A VOD asset or one of its parts changed (Mux `video.asset.updated`,
    /// its static renditions, master and tracks, its warnings):
    /// `provider_event` says which.
    #[serde(rename = "vod.updated")]
    VodUpdated,
    /// A platform deleted a VOD asset (Mux `video.asset.deleted`).
    #[serde(rename = "vod.deleted")]
    VodDeleted,
    /// A client opened a (RTMP) connection.
    #[serde(rename = "connection.opened")]
    ConnectionOpened,
    /// A client's connection closed (SRS `on_close`, with its byte counts
    /// in `raw`).
    #[serde(rename = "connection.closed")]
    ConnectionClosed,
    /// A participant switched between publishing and watching in a channel
    /// (Agora 111 to host, 112 to audience): `provider_event` says which.
    #[serde(rename = "connection.role_changed")]
    ConnectionRoleChanged,
    /// A participant started publishing a media track into a room
    /// (LiveKit `track_published`): `data.session_id` is the participant,
    /// the track itself is in `raw.track`.
    #[serde(rename = "track.published")]
    TrackPublished,
    /// A participant stopped publishing a track (LiveKit
    /// `track_unpublished`).
    #[serde(rename = "track.unpublished")]
    TrackUnpublished,
    /// A platform started forwarding a live stream to another destination
    /// (Mux simulcast target `broadcasting`).
    #[serde(rename = "restream.started")]
    RestreamStarted,
    /// A platform stopped forwarding a live stream (Mux simulcast target
    /// `idle`).
    #[serde(rename = "restream.stopped")]
    RestreamStopped,
    /// Forwarding a live stream failed (Mux simulcast target `errored`).
    #[serde(rename = "restream.failed")]
    RestreamFailed,
    /// A media server started.
    #[serde(rename = "server.started")]
    ServerStarted,
    /// A media server is shutting down (ZLMediaKit `on_server_exited`).
    #[serde(rename = "server.stopped")]
    ServerStopped,
    /// Periodic server statistics.
    #[serde(rename = "server.stats")]
    ServerStats,
    /// A platform confirmed a webhook subscription pointing at livehook
    /// (Twitch's `webhook_callback_verification`, answered with its
    /// challenge).
    #[serde(rename = "subscription.verified")]
    SubscriptionVerified,
    /// A platform revoked a webhook subscription (Twitch `revocation`: the
    /// user revoked the authorization, or the callback kept failing).
    #[serde(rename = "subscription.revoked")]
    SubscriptionRevoked,
    /// An authenticated, well-formed event of a type this version does not
    /// know; published with its raw payload so nothing is lost.
    #[serde(rename = "unrecognized")]
    Unrecognized,
}

impl EventType {
    /// Every type, in DESIGN.md's order.
    pub const ALL: [EventType; 47] = [
        EventType::StreamStarted,
        EventType::StreamStopped,
        EventType::StreamEnded,
        EventType::StreamHealth,
        EventType::StreamRegistered,
        EventType::StreamUnregistered,
        EventType::StreamIdle,
        EventType::StreamRefused,
        EventType::StreamCreated,
        EventType::StreamUpdated,
        EventType::StreamDeleted,
        EventType::StreamErrored,
        EventType::PlaybackStarted,
        EventType::PlaybackStopped,
        EventType::AudienceActivity,
        EventType::RecordingStarted,
        EventType::RecordingEnded,
        EventType::RecordingPaused,
        EventType::RecordingResumed,
        EventType::RecordingFileOpened,
        EventType::RecordingFileClosed,
        EventType::RecordingSegmentReady,
        EventType::RecordingReady,
        EventType::RecordingUpdated,
        EventType::RecordingFailed,
        EventType::SnapshotReady,
        EventType::ModerationFlagged,
        EventType::VodUploaded,
        EventType::VodTranscoded,
        EventType::VodFailed,
        EventType::VodCreated,
        EventType::VodUpdated,
        EventType::VodDeleted,
        EventType::ConnectionOpened,
        EventType::ConnectionClosed,
        EventType::ConnectionRoleChanged,
        EventType::TrackPublished,
        EventType::TrackUnpublished,
        EventType::RestreamStarted,
        EventType::RestreamStopped,
        EventType::RestreamFailed,
        EventType::ServerStarted,
        EventType::ServerStopped,
        EventType::ServerStats,
        EventType::SubscriptionVerified,
        EventType::SubscriptionRevoked,
        EventType::Unrecognized,
    ];

    /// The dotted name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::StreamStarted => "stream.started",
            EventType::StreamStopped => "stream.stopped",
            EventType::StreamEnded => "stream.ended",
            EventType::StreamHealth => "stream.health",
            EventType::StreamRegistered => "stream.registered",
            EventType::StreamUnregistered => "stream.unregistered",
            EventType::StreamIdle => "stream.idle",
            EventType::StreamRefused => "stream.refused",
            EventType::StreamCreated => "stream.created",
            EventType::StreamUpdated => "stream.updated",
            EventType::StreamDeleted => "stream.deleted",
            EventType::StreamErrored => "stream.errored",
            EventType::PlaybackStarted => "playback.started",
            EventType::PlaybackStopped => "playback.stopped",
            EventType::AudienceActivity => "audience.activity",
            EventType::RecordingStarted => "recording.started",
            EventType::RecordingEnded => "recording.ended",
            EventType::RecordingPaused => "recording.paused",
            EventType::RecordingResumed => "recording.resumed",
            EventType::RecordingFileOpened => "recording.file_opened",
            EventType::RecordingFileClosed => "recording.file_closed",
            EventType::RecordingSegmentReady => "recording.segment_ready",
            EventType::RecordingReady => "recording.ready",
            EventType::RecordingUpdated => "recording.updated",
            EventType::RecordingFailed => "recording.failed",
            EventType::SnapshotReady => "snapshot.ready",
            EventType::ModerationFlagged => "moderation.flagged",
            EventType::VodUploaded => "vod.uploaded",
            EventType::VodTranscoded => "vod.transcoded",
            EventType::VodFailed => "vod.failed",
            EventType::VodCreated => "vod.created",
            EventType::VodUpdated => "vod.updated",
            EventType::VodDeleted => "vod.deleted",
            EventType::ConnectionOpened => "connection.opened",
            EventType::ConnectionClosed => "connection.closed",
            EventType::ConnectionRoleChanged => "connection.role_changed",
            EventType::TrackPublished => "track.published",
            EventType::TrackUnpublished => "track.unpublished",
            EventType::RestreamStarted => "restream.started",
            EventType::RestreamStopped => "restream.stopped",
            EventType::RestreamFailed => "restream.failed",
            EventType::ServerStarted => "server.started",
            EventType::ServerStopped => "server.stopped",
            EventType::ServerStats => "server.stats",
            EventType::SubscriptionVerified => "subscription.verified",
            EventType::SubscriptionRevoked => "subscription.revoked",
            EventType::Unrecognized => "unrecognized",
        }
    }

    /// Parses a dotted name (`stream.started`); `None` for anything else.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One published event: CloudEvents 1.0 in structured JSON mode.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
// Strict: the envelope has exactly these attributes, so a schema that
// drifted from this type fails the tests that validate published events.
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct CloudEvent {
    /// Always `1.0` ([`SPEC_VERSION`]).
    #[cfg_attr(feature = "schema", schemars(extend("const" = SPEC_VERSION)))]
    pub specversion: &'static str,
    /// The idempotency key: stable across the provider's retries.
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub id: String,
    /// `livehook/<provider>`.
    #[cfg_attr(
        feature = "schema",
        schemars(regex(pattern = r"^livehook/[a-z0-9_-]+$"))
    )]
    pub source: String,
    /// The canonical type.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// `<provider>/<stream identity>`, or `<provider>/<most specific id>`
    /// when the event concerns no stream.
    #[cfg_attr(feature = "schema", schemars(regex(pattern = r"^[a-z0-9_-]+/.")))]
    pub subject: String,
    /// RFC 3339 UTC, from the provider's own timestamp when it has one.
    #[cfg_attr(feature = "schema", schemars(extend("format" = "date-time")))]
    pub time: String,
    /// Always `application/json`.
    #[cfg_attr(feature = "schema", schemars(extend("const" = DATA_CONTENT_TYPE)))]
    pub datacontenttype: &'static str,
    /// The URI of the JSON Schema of `data`: its type's schema,
    /// `<base>data/<type>.json`, the base being where the deployment
    /// publishes livehook's schemas/. (Set by the gate after the adapter;
    /// empty only on envelopes that never left an adapter.)
    #[cfg_attr(feature = "schema", schemars(extend("format" = "uri")))]
    pub dataschema: String,
    /// Normalized fields plus `raw`.
    pub data: EventData,
}

/// The `datacontenttype` of every event.
pub const DATA_CONTENT_TYPE: &str = "application/json";

/// Where the schemas of `schemas/` are published unless
/// `LIVEHOOK_SCHEMA_BASE_URL` says otherwise: the folder in the repository,
/// as raw files (one constant, so a fork changes one line).
pub const DEFAULT_SCHEMA_BASE_URL: &str =
    "https://raw.githubusercontent.com/livehook/livehook/main/schemas/";

/// The envelope's schema file, relative to the schema base (beside `data/`).
pub const ENVELOPE_SCHEMA_FILE: &str = "cloudevent.json";

/// The schema file of a type's `data`, relative to the schema base.
pub fn data_schema_path(event_type: EventType) -> String {
    format!("data/{}.json", event_type.as_str())
}

/// The `dataschema` URI of every type under one base, computed once at
/// start-up so that an event costs one copy of its string.
#[derive(Debug, Clone)]
pub struct DataSchemas {
    /// Indexed by the type's position in [`EventType::ALL`].
    uris: Vec<String>,
}

impl DataSchemas {
    /// The URIs under `base` (a trailing `/` is added when missing).
    pub fn new(base: &str) -> Self {
        let separator = if base.ends_with('/') { "" } else { "/" };
        DataSchemas {
            uris: EventType::ALL
                .iter()
                .map(|&t| format!("{base}{separator}{}", data_schema_path(t)))
                .collect(),
        }
    }

    /// The URI of `event_type`'s data schema.
    pub fn uri(&self, event_type: EventType) -> &str {
        // `ALL` lists the variants in declaration order (a test pins it).
        self.uris
            .get(event_type as usize)
            .map_or("", String::as_str)
    }

    /// Sets `dataschema` on every event of `events`.
    pub fn stamp<'a>(&self, events: impl IntoIterator<Item = &'a mut CloudEvent>) {
        for event in events {
            event.dataschema.clear();
            event.dataschema.push_str(self.uri(event.event_type));
        }
    }
}

impl Default for DataSchemas {
    /// The URIs under [`DEFAULT_SCHEMA_BASE_URL`].
    fn default() -> Self {
        DataSchemas::new(DEFAULT_SCHEMA_BASE_URL)
    }
}

/// Normalized fields shared by all providers. Every field is optional and
/// omitted when the provider does not send it; `raw` is always present.
///
/// Field names are part of livehook's public contract (see the README's
/// schema table); add fields, never rename them.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
// Strict: a field the schema does not name is drift between it and this type.
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct EventData {
    /// The provider's own name for the event (`1`, `StartPublish`,
    /// `SessionStarted`, `on_pub_start`, `channel_live`, …).
    pub provider_event: String,
    /// RTMP application / path segment (`live`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// Stream name or id within the app.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// Push or play domain (Tencent `app`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Streaming protocol (`RTMP`, `RTSP`, `HTTP-FLV`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Full stream URL as the client used it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Query parameters of the push/play URL, as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_params: Option<String>,
    /// Client (publisher or viewer) IP address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    /// Client address including the port, when the provider gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_addr: Option<String>,
    /// Provider ingest node / edge IP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Media server id (lal `server_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_id: Option<String>,
    /// Connection or recording session id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Provider sequence that ties a start to its stop (Tencent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence: Option<String>,
    /// Provider retry counter of this delivery (Aodianyun `retry_times`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_times: Option<i64>,
    /// Stop reason code, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i64>,
    /// Stop reason text, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Why livehook refused a client (`stream.refused`): `missing_key`,
    /// `no_key_for_stream`, `wrong_key`, `expired_key`, `revoked_key`; why
    /// a platform's review flagged a stream (`moderation.flagged`): its
    /// label (`ad`, `porn`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// How long the stream was pushed, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub push_duration_ms: Option<i64>,
    /// Room id (Bililive `RoomId`, Aodianyun `room_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room_id: Option<String>,
    /// Account / user that owns the stream (Aodianyun `admin_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
    /// Channel id (Api Server).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
    /// Streamer or channel name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Live title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Recording / VOD file details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<FileInfo>,
    /// Snapshot image URL (or path when the provider gives no host).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_url: Option<String>,
    /// Stream fluency figures (percent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fluency: Option<Fluency>,
    /// Whether the stream's group has a publisher (lal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_publisher: Option<bool>,
    /// Whether the stream's group has viewers (lal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_viewers: Option<bool>,
    /// For a provider message split into several events (lal `on_update`
    /// with many groups): this part's position and the total, 1-based.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part: Option<Part>,
    /// The provider payload exactly as received (for a split message: this
    /// part's slice of it).
    #[cfg_attr(feature = "schema", schemars(with = "serde_json::Value"))]
    pub raw: Box<RawValue>,
}

/// A recording or VOD file.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct FileInfo {
    /// Provider file id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Download URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Path relative to the recorder's work directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Container format (`flv`, `mp4`, `hls`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Size in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// Duration in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    /// Start of the recorded span, RFC 3339 UTC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// End of the recorded span, RFC 3339 UTC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// A live segment's sequence number in its playlist (SRS `seq_no`,
    /// lal `id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq_no: Option<i64>,
    /// The playlist a live segment belongs to, as a path on the recorder
    /// (SRS `m3u8`, lal `live_m3u8_file`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub playlist_path: Option<String>,
    /// The playlist's URL path (SRS `m3u8_url`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub playlist_url: Option<String>,
    /// Transcoded renditions (name → URL), e.g. `m3u8_240`, `adaptive`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renditions: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Fluency figures, in percent.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct Fluency {
    /// Publisher-side fluency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish: Option<f64>,
    /// Viewer-side fluency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub play: Option<f64>,
    /// Relay/forward fluency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forward: Option<f64>,
}

/// Position of one event among the parts of a split provider message.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(deny_unknown_fields))]
pub struct Part {
    /// 1-based index of this part.
    pub index: usize,
    /// Number of parts the provider message was split into.
    pub count: usize,
}

/// Formats a timestamp as RFC 3339 in UTC (`…Z`), keeping sub-second digits.
pub fn format_time(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

/// A Unix time in seconds, if representable.
pub fn from_unix_seconds(seconds: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(seconds).ok()
}

/// A Unix time in milliseconds, if representable.
pub fn from_unix_millis(millis: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).ok()
}

/// An RFC 3339 timestamp with any offset and up to nine fractional digits
/// (Bililive sends `2021-05-14T17:52:44.4960899+08:00`).
pub fn parse_rfc3339(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_serialize_to_dotted_names_and_back() {
        for t in EventType::ALL {
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
            assert_eq!(serde_json::from_str::<EventType>(&json).unwrap(), t);
            assert_eq!(EventType::from_name(t.as_str()), Some(t));
        }
        assert_eq!(EventType::from_name("stream.exploded"), None);
    }

    #[test]
    fn all_lists_the_types_in_declaration_order() {
        // `DataSchemas::uri` indexes by discriminant.
        for (i, t) in EventType::ALL.into_iter().enumerate() {
            assert_eq!(t as usize, i, "{t}");
        }
    }

    #[test]
    fn data_schemas_name_each_type_under_the_base() {
        let schemas = DataSchemas::new("https://example.com/s");
        assert_eq!(
            schemas.uri(EventType::StreamStarted),
            "https://example.com/s/data/stream.started.json"
        );
        let default = DataSchemas::default();
        for t in EventType::ALL {
            assert_eq!(
                default.uri(t),
                format!("{DEFAULT_SCHEMA_BASE_URL}data/{t}.json")
            );
        }
    }

    #[test]
    fn bililive_timestamps_become_utc_with_their_fraction() {
        let at = parse_rfc3339("2021-05-14T17:52:44.4960899+08:00").unwrap();
        assert_eq!(format_time(at), "2021-05-14T09:52:44.4960899Z");
    }

    #[test]
    fn unix_times_format_as_utc() {
        assert_eq!(
            format_time(from_unix_seconds(1471256200).unwrap()),
            "2016-08-15T10:16:40Z"
        );
        assert_eq!(
            format_time(from_unix_millis(1476697473034).unwrap()),
            "2016-10-17T09:44:33.034Z"
        );
        assert!(from_unix_seconds(i64::MAX).is_none());
        assert!(from_unix_millis(i64::MAX).is_none());
    }
}
