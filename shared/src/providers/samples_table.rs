//! Every sample in `events/`: expected type, subject, time, stream attribute
//! and key. Keys are pinned: a change here means every deployed record stops
//! deduplicating the provider's retries, so it must be deliberate.

use super::testing::*;
use super::{Delivery, by_name};
use crate::samples::{Sample, events_dir, load_dir};

/// Delivers a sample as the invocation named after it, so that the keys of
/// providers that key per delivery (lal) are pinned too.
fn deliver_sample(sample: &Sample) -> Delivery {
    let provider = by_name(&sample.provider).unwrap();
    let body = sample.body_signed(TENCENT_KEY, fresh_t());
    let request_id = format!("{}/{}", sample.provider, sample.event);
    deliver_as(
        provider,
        &sample.path(),
        &sample.query(TOKEN),
        &body,
        &request_id,
        262_144,
    )
    .unwrap_or_else(|r| panic!("{}/{} refused: {r:?}", sample.provider, sample.event))
}

#[test]
#[ignore = "prints the table below from the current code"]
fn print_table() {
    for s in load_dir(&events_dir()).unwrap() {
        let d = deliver_sample(&s);
        let e = &d.events[0].event;
        println!(
            "    (\"{}/{}\", \"{}\", \"{}\", \"{}\", {:?}, \"{}\"),",
            s.provider, s.event, e.event_type, e.subject, e.time, d.events[0].stream, d.key
        );
    }
}

/// (provider/event, type, subject, time, stream attribute, key)
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
);

const EXPECTED: &[Row] = &[
    (
        "aodianyun/live_dvr",
        "recording.ready",
        "aodianyun/dyy_1/live1",
        "2015-07-09T02:19:07Z",
        Some("dyy_1/live1"),
        "832c84e929de2e2ef25c158046274aca",
    ),
    (
        "aodianyun/live_dvr_preview_image",
        "snapshot.ready",
        "aodianyun/dyy_1/live1",
        "2015-07-09T02:19:07Z",
        Some("dyy_1/live1"),
        "3f3f775434194ba9ae21afb7e6c6ac95",
    ),
    (
        "aodianyun/lss_fluency",
        "stream.health",
        "aodianyun/dyy_1/live1",
        "2016-12-15T10:11:40Z",
        Some("dyy_1/live1"),
        "e4f1611083171e54f54325db866bdf38",
    ),
    (
        "aodianyun/start_publish",
        "stream.started",
        "aodianyun/dyy_1/live1",
        "2016-12-15T10:06:40Z",
        Some("dyy_1/live1"),
        "c18dd295017b0be2a0a65779f1fdcb00",
    ),
    (
        "aodianyun/start_publish.retry-2",
        "stream.started",
        "aodianyun/dyy_1/live1",
        "2016-12-15T10:06:40Z",
        Some("dyy_1/live1"),
        "c18dd295017b0be2a0a65779f1fdcb00",
    ),
    (
        "aodianyun/start_publish.string-value",
        "stream.started",
        "aodianyun/dyy_1/live1",
        "2016-12-15T10:06:40Z",
        Some("dyy_1/live1"),
        "c18dd295017b0be2a0a65779f1fdcb00",
    ),
    (
        "aodianyun/stop_publish",
        "stream.stopped",
        "aodianyun/dyy_1/live1",
        "2016-12-15T11:06:31Z",
        Some("dyy_1/live1"),
        "6c773512eb1cf41cb7fd200f455f6116",
    ),
    (
        "aodianyun/upload_dvr",
        "vod.uploaded",
        "aodianyun/13830",
        "2016-12-15T10:07:47Z",
        None,
        "ba7962a0bbdf551d99124f2a635aad0f",
    ),
    (
        "aodianyun/upload_dvr.transcoded",
        "vod.transcoded",
        "aodianyun/13830",
        "2016-12-15T10:16:52Z",
        None,
        "e9ca33ba2f35349a61e9bff78bffd4ce",
    ),
    (
        "apiserver/channel_ended",
        "stream.ended",
        "apiserver/5f2b9c1e8a4d",
        "2016-10-17T10:49:33.034Z",
        Some("5f2b9c1e8a4d"),
        "8221daa006e9d839eb011db16e6b247b",
    ),
    (
        "apiserver/channel_live",
        "stream.started",
        "apiserver/5f2b9c1e8a4d",
        "2016-10-17T09:44:33.034Z",
        Some("5f2b9c1e8a4d"),
        "58eca4cf861fe4c27cfb2f4d5feddd2d",
    ),
    (
        "apiserver/channel_stop",
        "stream.stopped",
        "apiserver/5f2b9c1e8a4d",
        "2016-10-17T10:44:33.034Z",
        Some("5f2b9c1e8a4d"),
        "c7a5082a681df85e830418d06256f8b1",
    ),
    (
        "bililive/FileClosed",
        "recording.file_closed",
        "bililive/23058",
        "2021-05-14T09:52:54.9461101Z",
        Some("23058"),
        "5335113e424633734c66808b13d8c50a",
    ),
    (
        "bililive/FileOpening",
        "recording.file_opened",
        "bililive/23058",
        "2021-05-14T09:52:50.5256394Z",
        Some("23058"),
        "a7f008a40ee4ec6162044eb87397657c",
    ),
    (
        "bililive/SessionEnded",
        "recording.ended",
        "bililive/23058",
        "2021-05-14T09:52:54.9481095Z",
        Some("23058"),
        "1e47bf4cddf2b549a258f6110cd89e5b",
    ),
    (
        "bililive/SessionStarted",
        "recording.started",
        "bililive/23058",
        "2021-05-14T09:52:44.4960899Z",
        Some("23058"),
        "743b9eee484fe22cde36c07a50fdb8b5",
    ),
    (
        "bililive/v1",
        "recording.file_closed",
        "bililive/14846654",
        "2021-01-07T08:06:16.1693244Z",
        Some("14846654"),
        "781fdd224450852f63179d3fa85193b4",
    ),
    (
        "lal/on_hls_make_ts",
        "recording.segment_ready",
        "lal/test110",
        "2026-01-01T00:00:00Z",
        Some("test110"),
        "64a8e83ed8d82eb877d3113841dd4f8f",
    ),
    (
        "lal/on_hls_make_ts.close",
        "recording.segment_ready",
        "lal/test110",
        "2026-01-01T00:00:00Z",
        Some("test110"),
        "79be8a7545c5db3b6374e45afc8c5b42",
    ),
    (
        "lal/on_hls_make_ts.open",
        "unrecognized",
        "lal/test110",
        "2026-01-01T00:00:00Z",
        Some("test110"),
        "1d54a56377ad2b7f816aecbd3a60b0ff",
    ),
    (
        "lal/on_pub_start",
        "stream.started",
        "lal/live/test110",
        "2026-01-01T00:00:00Z",
        Some("live/test110"),
        "4ddd4f25b06f1422a681eb3066b8f119",
    ),
    (
        "lal/on_pub_start.doc",
        "stream.started",
        "lal/live/test110",
        "2026-01-01T00:00:00Z",
        Some("live/test110"),
        "80ab42f9ab67ea0da006b9614999b4e8",
    ),
    (
        "lal/on_pub_start.doc-rtmp",
        "stream.started",
        "lal/live/test110",
        "2026-01-01T00:00:00Z",
        Some("live/test110"),
        "629b4deda56f805acb816857ae126014",
    ),
    (
        "lal/on_pub_start.rtsp",
        "stream.started",
        "lal/live/test110",
        "2026-01-01T00:00:00Z",
        Some("live/test110"),
        "c636afa43314efe5e333916a39887bfb",
    ),
    (
        "lal/on_pub_start.rtsp-captured",
        "stream.started",
        "lal/live/rtsp110",
        "2026-01-01T00:00:00Z",
        Some("live/rtsp110"),
        "90c0463dff70891ab395041a7bbe5b7e",
    ),
    (
        "lal/on_pub_stop",
        "stream.stopped",
        "lal/live/test110",
        "2026-01-01T00:00:00Z",
        Some("live/test110"),
        "cf849c8101fde5e7530aaa7089e8df34",
    ),
    (
        "lal/on_pub_stop.rtsp-captured",
        "stream.stopped",
        "lal/live/rtsp110",
        "2026-01-01T00:00:00Z",
        Some("live/rtsp110"),
        "e92b71807d32c7aef4d8547610252a90",
    ),
    (
        "lal/on_relay_pull_start",
        "unrecognized",
        "lal/live/test110",
        "2026-01-01T00:00:00Z",
        Some("live/test110"),
        "98ab7e051410d650a4bae133e56425ea",
    ),
    (
        "lal/on_relay_pull_stop",
        "unrecognized",
        "lal/live/test110",
        "2026-01-01T00:00:00Z",
        Some("live/test110"),
        "1bbd0b6ededca87c4a5b35d84ea6a545",
    ),
    (
        "lal/on_rtmp_connect",
        "connection.opened",
        "lal/1",
        "2026-01-01T00:00:00Z",
        None,
        "6116dfc6ee1cc1067145da2eee47153e",
    ),
    (
        "lal/on_rtmp_connect.play",
        "connection.opened",
        "lal/1",
        "2026-01-01T00:00:00Z",
        None,
        "47912991b2121d90391cdf0a6b6a8c6c",
    ),
    (
        "lal/on_server_start",
        "server.started",
        "lal/1",
        "2026-01-01T00:00:00Z",
        None,
        "dd6183bd726ed0e65686b353639504e8",
    ),
    (
        "lal/on_server_start.cst",
        "server.started",
        "lal/1",
        "2026-01-01T00:00:00Z",
        None,
        "d439e5f26086af8856b9cae27ab98a99",
    ),
    (
        "lal/on_sub_start",
        "playback.started",
        "lal/live/test110",
        "2026-01-01T00:00:00Z",
        Some("live/test110"),
        "b578e22e8021ce3225668fd0913ef9b3",
    ),
    (
        "lal/on_sub_start.hls",
        "playback.started",
        "lal/test110",
        "2026-01-01T00:00:00Z",
        Some("test110"),
        "d51ae346d6822b24d72e5dd7b6dda632",
    ),
    (
        "lal/on_sub_start.http-flv",
        "playback.started",
        "lal/live/test110",
        "2026-01-01T00:00:00Z",
        Some("live/test110"),
        "4bec5c1eff59b8105eb5ddbd4ff85d40",
    ),
    (
        "lal/on_sub_start.http-ts",
        "playback.started",
        "lal/live/test110",
        "2026-01-01T00:00:00Z",
        Some("live/test110"),
        "48ee1d8457ba2c8e0f03e2862882299a",
    ),
    (
        "lal/on_sub_start.rtmp",
        "playback.started",
        "lal/live/test110",
        "2026-01-01T00:00:00Z",
        Some("live/test110"),
        "7c2034e80b39a2924208ca03efa51d01",
    ),
    (
        "lal/on_sub_start.rtsp",
        "playback.started",
        "lal/live/test110",
        "2026-01-01T00:00:00Z",
        Some("live/test110"),
        "b087f1e9dd00387431971d889f84c61b",
    ),
    (
        "lal/on_sub_start.ts",
        "playback.started",
        "lal/live/test110",
        "2026-01-01T00:00:00Z",
        Some("live/test110"),
        "1fb1ae9b9581228b0f36f237adb09397",
    ),
    (
        "lal/on_sub_stop",
        "playback.stopped",
        "lal/live/test110",
        "2026-01-01T00:00:00Z",
        Some("live/test110"),
        "033cc5bcce698e1b05303ed609d4369d",
    ),
    (
        "lal/on_sub_stop.hls",
        "playback.stopped",
        "lal/test110",
        "2026-01-01T00:00:00Z",
        Some("test110"),
        "0e5a37baf8666a742b44d4f4cea0a295",
    ),
    (
        "lal/on_sub_stop.rtmp",
        "playback.stopped",
        "lal/live/test110",
        "2026-01-01T00:00:00Z",
        Some("live/test110"),
        "448f84272636759c4f0bff537b556589",
    ),
    (
        "lal/on_sub_stop.rtsp",
        "playback.stopped",
        "lal/live/test110",
        "2026-01-01T00:00:00Z",
        Some("live/test110"),
        "a6738e5e01a70dce41bef12282263002",
    ),
    (
        "lal/on_update",
        "server.stats",
        "lal/1",
        "2026-01-01T00:00:00Z",
        None,
        "6844fc8364287a96cb715365f3c33c96",
    ),
    (
        "lal/on_update.doc",
        "server.stats",
        "lal/1",
        "2026-01-01T00:00:00Z",
        None,
        "e1d69462c17ec64b775ce597e08932b4",
    ),
    (
        "lal/on_update.empty",
        "server.stats",
        "lal/1",
        "2026-01-01T00:00:00Z",
        None,
        "c70d9502b396edddbd747346dcc5969b",
    ),
    (
        "lal/on_update.relay-pull",
        "server.stats",
        "lal/1",
        "2026-01-01T00:00:00Z",
        None,
        "692c0262596aaed3c1c37ce6aabdb1bf",
    ),
    (
        "srs/on_close",
        "connection.closed",
        "srs/341w361a",
        "2026-01-01T00:00:00Z",
        None,
        "dd7b8301f8070b348eea3df9f5f28b63",
    ),
    (
        "srs/on_connect",
        "connection.opened",
        "srs/341w361a",
        "2026-01-01T00:00:00Z",
        None,
        "c23b3dba1f047cce31c2652bbc49dc97",
    ),
    (
        "srs/on_dvr",
        "recording.file_closed",
        "srs/live/livestream",
        "2026-01-01T00:00:00Z",
        Some("live/livestream"),
        "fd5ee7b138091586c184785941c9ac4d",
    ),
    (
        "srs/on_forward",
        "unrecognized",
        "srs/live/livestream",
        "2026-01-01T00:00:00Z",
        Some("live/livestream"),
        "75f9b838075fab2d2dddae513b4ee0af",
    ),
    (
        "srs/on_hls",
        "recording.segment_ready",
        "srs/live/livestream",
        "2026-01-01T00:00:00Z",
        Some("live/livestream"),
        "e9bf5590ff265a9227669daef37d554b",
    ),
    (
        "srs/on_hls.srs3",
        "recording.segment_ready",
        "srs/live/livestream",
        "2026-01-01T00:00:00Z",
        Some("live/livestream"),
        "f5b764a0a0634ee52e0f7bd757a03906",
    ),
    (
        "srs/on_play",
        "playback.started",
        "srs/live/livestream",
        "2026-01-01T00:00:00Z",
        Some("live/livestream"),
        "c4497dbb053bd1dcdfaa346eac786810",
    ),
    (
        "srs/on_play.vhost",
        "playback.started",
        "srs/live/livestream",
        "2026-01-01T00:00:00Z",
        Some("live/livestream"),
        "7ea8e14f7c001a0d694308f58c5b120f",
    ),
    (
        "srs/on_publish",
        "stream.started",
        "srs/live/livestream",
        "2026-01-01T00:00:00Z",
        Some("live/livestream"),
        "121985b2e84ae8f58c04a7b0cc3c72b3",
    ),
    (
        "srs/on_publish.srs3",
        "stream.started",
        "srs/live/livestream",
        "2026-01-01T00:00:00Z",
        Some("live/livestream"),
        "d0c732ca58ba40e940e6f32d4b7c2fb6",
    ),
    (
        "srs/on_publish.srs4",
        "stream.started",
        "srs/live/livestream",
        "2026-01-01T00:00:00Z",
        Some("live/livestream"),
        "703a42e9cda5945ef297c584996a18d2",
    ),
    (
        "srs/on_stop",
        "playback.stopped",
        "srs/live/livestream",
        "2026-01-01T00:00:00Z",
        Some("live/livestream"),
        "8941e8ea54aa362afd482af557dc7ab1",
    ),
    (
        "srs/on_unpublish",
        "stream.stopped",
        "srs/live/livestream",
        "2026-01-01T00:00:00Z",
        Some("live/livestream"),
        "2830136409f881fcc60ed2d23eb73dce",
    ),
    (
        "tencent/push",
        "stream.started",
        "tencent/3954_ea88f7495ba711e6a2cba4dcbef5e35a",
        "2016-08-15T10:03:20Z",
        Some("3954_ea88f7495ba711e6a2cba4dcbef5e35a"),
        "39e43bd8acd48212253a69fee7528d38",
    ),
    (
        "tencent/record",
        "recording.ready",
        "tencent/2519_2500647",
        "2017-05-31T08:54:54Z",
        Some("2519_2500647"),
        "17a3634c45e9a792f9c24f8ef2b0706e",
    ),
    (
        "tencent/record.file-size-string",
        "recording.ready",
        "tencent/2519_2500647",
        "2017-05-31T08:54:54Z",
        Some("2519_2500647"),
        "17a3634c45e9a792f9c24f8ef2b0706e",
    ),
    (
        "tencent/snapshot",
        "snapshot.ready",
        "tencent/2016090090936",
        "2016-09-12T02:03:08Z",
        Some("2016090090936"),
        "38d5791e8ff9d86d7cd4f1b28c4a2a0e",
    ),
    (
        "tencent/stop",
        "stream.stopped",
        "tencent/3954_ea88f7495ba711e6a2cba4dcbef5e35a",
        "2016-08-15T10:16:40Z",
        Some("3954_ea88f7495ba711e6a2cba4dcbef5e35a"),
        "ebd230e87b905d50f8e5a8c4ef85c4ec",
    ),
    (
        "tencent/stop.push-duration",
        "stream.stopped",
        "tencent/3954_ea88f7495ba711e6a2cba4dcbef5e35a",
        "2016-08-15T10:30:00Z",
        Some("3954_ea88f7495ba711e6a2cba4dcbef5e35a"),
        "4d5ccbbfcd107796d3483fb151a3c0a0",
    ),
];

#[test]
fn every_sample_normalizes_as_expected() {
    let samples = load_dir(&events_dir()).unwrap();
    let names: Vec<String> = samples
        .iter()
        .map(|s| format!("{}/{}", s.provider, s.event))
        .collect();
    for (name, ..) in EXPECTED {
        assert!(
            names.iter().any(|n| n == name),
            "{name} is expected but not in events/"
        );
    }
    for (sample, name) in samples.iter().zip(&names) {
        let row = EXPECTED
            .iter()
            .find(|row| row.0 == name)
            .unwrap_or_else(|| panic!("{name} has no row in EXPECTED (run print_table)"));
        let d = deliver_sample(sample);
        let e = &d.events[0].event;
        assert_eq!(
            (
                e.event_type.as_str(),
                e.subject.as_str(),
                e.time.as_str(),
                d.events[0].stream.as_deref(),
                d.key.as_str()
            ),
            (row.1, row.2, row.3, row.4, row.5),
            "{name}"
        );
        assert_eq!(e.id, d.key);
        assert_eq!(e.source, format!("livehook/{}", sample.provider));
        assert_eq!(e.specversion, "1.0");
        assert_eq!(e.datacontenttype, "application/json");
        // `raw` is the body as sent, but for Tencent's `sign`, which is never published.
        let mut sent: serde_json::Value =
            serde_json::from_slice(&sample.body_signed(TENCENT_KEY, fresh_t())).unwrap();
        let signed = by_name(&sample.provider).map(|p| p.auth_scheme())
            == Some(super::AuthScheme::TencentSign);
        if let Some(object) = sent.as_object_mut().filter(|_| signed) {
            assert!(object.remove("sign").is_some(), "{name}");
        }
        assert!(!e.data.raw.get().contains("\"sign\""), "{name}");
        let raw: serde_json::Value = serde_json::from_str(e.data.raw.get()).unwrap();
        assert_eq!(raw, sent, "{name}");
        assert!(!e.data.provider_event.is_empty(), "{name}");
    }
}

#[test]
fn retry_variants_share_a_key_and_other_events_do_not() {
    let samples = load_dir(&events_dir()).unwrap();
    // Samples that are the same event as another one (a retry or another wire form).
    let same_event = [
        ("aodianyun/start_publish.retry-2", "aodianyun/start_publish"),
        (
            "aodianyun/start_publish.string-value",
            "aodianyun/start_publish",
        ),
        ("tencent/record.file-size-string", "tencent/record"),
    ];
    let mut keys: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for s in &samples {
        let name = format!("{}/{}", s.provider, s.event);
        let key = deliver_sample(s).key;
        if let Some((_, original)) = same_event.iter().find(|(variant, _)| *variant == name) {
            let original = samples
                .iter()
                .find(|o| format!("{}/{}", o.provider, o.event) == *original)
                .unwrap();
            assert_eq!(key, deliver_sample(original).key, "{name}");
            continue;
        }
        if let Some(other) = keys.insert(key, name.clone()) {
            panic!("{name} and {other} share a key");
        }
    }
}

#[test]
fn providers_that_never_resend_key_every_delivery_apart() {
    // The same body twice is two events (lal: a restarted server's
    // `RTMPPUBSUB1`, an idle server's identical `on_update`); the same
    // invocation (an SDK retry within it) is one.
    for s in load_dir(&events_dir()).unwrap() {
        let provider = by_name(&s.provider).unwrap();
        if provider.sending().resends {
            continue;
        }
        let body = s.body_signed(TENCENT_KEY, fresh_t());
        let key = |request_id: &str| {
            deliver_as(
                provider,
                &s.path(),
                &s.query(TOKEN),
                &body,
                request_id,
                262_144,
            )
            .unwrap()
            .key
        };
        assert_ne!(key("first"), key("second"), "{}/{}", s.provider, s.event);
        assert_eq!(key("first"), key("first"), "{}/{}", s.provider, s.event);
    }
}

#[test]
fn tencent_samples_keep_their_key_when_re_signed() {
    for s in load_dir(&events_dir())
        .unwrap()
        .iter()
        .filter(|s| s.provider == "tencent")
    {
        let provider = by_name("tencent").unwrap();
        let first = deliver(
            provider,
            "/tencent",
            "",
            &s.body_signed(TENCENT_KEY, fresh_t()),
        )
        .unwrap();
        let retry = deliver(
            provider,
            "/tencent",
            "",
            &s.body_signed(TENCENT_KEY, fresh_t() + 60),
        )
        .unwrap();
        assert_eq!(first.key, retry.key, "{}", s.event);
    }
}

#[test]
fn every_sample_survives_wrong_types_in_optional_fields() {
    // Optional fields of an unexpected type stay in `raw` and never refuse a delivery.
    const REQUIRED: &[&str] = &[
        "t",
        "sign",
        "event_type",
        "stream_id",
        "EventId",
        "EventType",
        "EventRandomId",
        "session_id",
        "event",
        "action",
    ];
    for s in load_dir(&events_dir()).unwrap() {
        let mut body: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
        for (key, value) in body.as_object_mut().unwrap().iter_mut() {
            if !REQUIRED.contains(&key.as_str()) {
                *value = serde_json::json!([{"unexpected": true}]);
            }
        }
        let sample = Sample {
            body: serde_json::to_vec(&body).unwrap(),
            ..s
        };
        let provider = by_name(&sample.provider).unwrap();
        let sent = sample.body_signed(TENCENT_KEY, fresh_t());
        if let Err(r) = deliver(provider, &sample.path(), &sample.query(TOKEN), &sent) {
            panic!(
                "{}/{} refused with mistyped optional fields: {r:?}",
                sample.provider, sample.event
            );
        }
    }
}
