//! MediaMTX's external HTTP authentication (`authMethod: http`).
//!
//! What MediaMTX sends (its authentication documentation):
//! - One `POST` of a JSON object to `authHTTPAddress` every time a client
//!   asks to publish or read a path (and, unless `authHTTPExclude` leaves
//!   them out, to use the API, metrics or pprof): `user`, `password`,
//!   `token` (the client's credentials, empty when it gave none), `ip`,
//!   `action` (`publish`, `read`, `playback`, `api`, `metrics`, `pprof`),
//!   `path`, `protocol` (`rtsp`, `rtmp`, `hls`, `webrtc`, `srt`), `id` (the
//!   session, `null` where there is none) and `query` (the client's URL
//!   query, `key=…`).
//! - The answer is admission control: a 2xx admits the client, anything
//!   else refuses it. MediaMTX never resends; the client may ask again.
//! - An HLS reader is asked about again for every playlist and segment it
//!   fetches (every few seconds while it watches), with the same body: the
//!   key of a `read` is its session (`id`; without one, the reader's
//!   address, user, protocol and query), so a viewer is one event, not one
//!   per segment. An id-less reader's key holds for [`READER_WINDOW`]: a
//!   viewer who comes back later is a new event.
//! - `password` and `token` are the client's credentials: never published
//!   or stored ([`Provider::secret_fields`]).
//!
//! Authenticated by `?token=` in `authHTTPAddress`.

use std::time::Duration;

use serde_json::{Map, Value};

use super::{
    ADMISSION_SETTINGS, Delivery, Deployment, Identity, Imitate, Provider, Receiving, Refusal,
    Sending, authenticated_body, into_map, per_delivery_key, single, windowed,
};
use crate::auth::Verifier;
use crate::error::Rejection;
use crate::event::{EventData, EventType};
use crate::inbound::Inbound;
use crate::json::{Fields, object_without};
use crate::stream_keys::{Action, Admission, Presented};

/// MediaMTX authHTTPAddress adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mediamtx;

const NAME: &str = "mediamtx";

/// How long the key of a reader without a session id holds: an HLS player
/// asks again every few seconds while it plays, so a window this long makes
/// a viewing one event (or one every ten minutes), never one per segment.
pub const READER_WINDOW: Duration = Duration::from_secs(600);

impl Provider for Mediamtx {
    fn name(&self) -> &'static str {
        NAME
    }

    fn deployment(&self) -> Deployment {
        Deployment {
            console: "MediaMTX mediamtx.yml authHTTPAddress (authMethod: http)",
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
        let path = f.text("path").filter(|p| !p.is_empty());
        let (event_type, admission) = match action.as_str() {
            "publish" => (EventType::StreamStarted, Some(Action::Publish)),
            "read" => (EventType::PlaybackStarted, Some(Action::Play)),
            _ => (EventType::Unrecognized, None),
        };
        let session = f.text("id").filter(|id| !id.is_empty());
        let query = f.text("query").filter(|q| !q.is_empty());
        let ip = f.text("ip");
        let (key, window) = match (action.as_str(), &session) {
            // Every check of one reading session is one event.
            ("read", Some(id)) => (crate::key::derive(NAME, &[b"read", id.as_bytes()]), None),
            ("read", None) => {
                let part = |name: &str| f.text(name).unwrap_or_default();
                let reader = [
                    part("path"),
                    part("ip"),
                    part("user"),
                    part("protocol"),
                    part("query"),
                ];
                let parts: Vec<&[u8]> = reader.iter().map(|p| p.as_bytes()).collect();
                (
                    crate::key::derive(NAME, &[&[b"read".as_slice()], parts.as_slice()].concat()),
                    Some(READER_WINDOW),
                )
            }
            // MediaMTX never resends: every other check is its own event.
            _ => (per_delivery_key(NAME, inbound), None),
        };
        let admission = admission
            .zip(path.clone())
            .map(|(action, stream)| Admission {
                action,
                stream,
                presented: Presented::in_query(query.as_deref().unwrap_or("")),
            });
        let data = EventData {
            provider_event: action,
            stream: path.clone(),
            protocol: f.text("protocol"),
            url_params: query,
            client_ip: ip,
            session_id: session,
            name: f.text("user").filter(|u| !u.is_empty()),
            // The client's credentials are left out as received.
            raw: object_without(inbound.body, self.secret_fields())?,
            ..EventData::default()
        };
        let identity = match path {
            Some(path) => Identity::Stream(path),
            None => Identity::Other(f.text("ip").unwrap_or_else(|| "unknown".to_owned())),
        };
        let delivery = single(NAME, inbound, key, event_type, identity, None, data);
        let mut delivery = match window {
            Some(window) => windowed(delivery, NAME, inbound, window),
            None => delivery,
        };
        delivery.admission = admission;
        Ok(delivery)
    }

    /// MediaMTX reads only the status. (No id: a reader's checks after the
    /// first are answered as duplicates of its first event.)
    fn reply(&self, _event_id: &str) -> String {
        r#"{"ok":true}"#.to_owned()
    }

    /// The client's credentials: what MediaMTX asks livehook to judge, never
    /// anyone else's to read.
    fn secret_fields(&self) -> &'static [&'static str] {
        &["password", "token"]
    }

    /// Anything but 2xx refuses the client.
    fn refusal(&self) -> Refusal {
        Refusal {
            status: 401,
            body: r#"{"error":"stream key refused"}"#,
        }
    }

    fn receiving(&self) -> Receiving {
        Receiving {
            // 2xx admits the publish or read, anything else refuses it.
            admission: true,
            ..Receiving::DEFAULT
        }
    }
}

impl Imitate for Mediamtx {
    fn sending(&self) -> Sending {
        Sending {
            // One POST per check; MediaMTX never resends it.
            resends: false,
            // Go's net/http client.
            user_agent: Some("Go-http-client/1.1"),
            headers: &[("content-type", "application/json")],
            ..Sending::DEFAULT
        }
    }

    fn synthetic(&self, stream: &str, nonce: &str) -> (&'static str, Map<String, Value>) {
        let body = serde_json::json!({
            "user": "", "password": "", "token": "", "ip": "127.0.0.1", "action": "publish",
            "path": format!("livehook/{stream}"), "protocol": "rtmp", "id": nonce, "query": "",
        });
        ("publish", into_map(body))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::providers::testing::{TOKEN, deliver};

    fn check(body: Value) -> Delivery {
        let query = format!("token={TOKEN}");
        deliver(
            &Mediamtx,
            "/mediamtx",
            &query,
            &serde_json::to_vec(&body).unwrap(),
        )
        .unwrap()
    }

    /// An HLS reader's check (it asks again per segment with the same body).
    fn read(id: Value) -> Value {
        json!({"user": "", "password": "", "token": "", "ip": "10.0.0.7", "action": "read",
            "path": "live/cam1", "protocol": "hls", "id": id, "query": "key=k"})
    }

    #[test]
    fn the_checks_of_one_reading_session_are_one_event() {
        let a = check(read(json!("a1b2")));
        let b = check(read(json!("a1b2")));
        assert_eq!(a.key, b.key, "one session, one key");
        assert_eq!(a.dedupe_window, None);
        assert_ne!(a.key, check(read(json!("c3d4"))).key);
        // Without a session id: the reader, for a window.
        let c = check(read(Value::Null));
        assert_eq!(c.key, check(read(Value::Null)).key);
        assert_eq!(c.dedupe_window, Some(READER_WINDOW));
        // A publish is never merged with another.
        let publish =
            json!({"action": "publish", "path": "live/cam1", "id": "p", "ip": "10.0.0.7"});
        assert_ne!(check(publish.clone()).key, check(publish).key);
    }

    #[test]
    fn publish_and_read_are_admissions_the_rest_is_published_as_is() {
        let d = check(read(json!("s")));
        assert_eq!(d.event_type(), EventType::PlaybackStarted);
        let admission = d.admission.as_ref().unwrap();
        assert_eq!(
            (admission.action, admission.stream.as_str()),
            (Action::Play, "live/cam1")
        );
        assert_eq!(admission.presented.key(), Some("k"));
        let e = &d.events[0].event;
        assert_eq!(e.subject, "mediamtx/live/cam1");
        assert_eq!(e.data.client_ip.as_deref(), Some("10.0.0.7"));
        let api = check(json!({"action": "api", "ip": "10.0.0.7", "path": ""}));
        assert_eq!(api.event_type(), EventType::Unrecognized);
        assert!(api.admission.is_none());
        assert!(Mediamtx.receiving().admission);
        assert_eq!(Mediamtx.refusal().status, 401);
    }

    #[test]
    fn the_clients_password_and_token_are_never_kept() {
        let d = check(
            json!({"user": "alice", "password": "hunter2-long-pass", "token": "jwt.abc.def",
            "action": "publish", "path": "live/cam1", "ip": "10.0.0.7", "id": "x", "query": ""}),
        );
        let raw = d.events[0].event.data.raw.get().to_owned();
        assert!(
            !raw.contains("hunter2") && !raw.contains("jwt.abc"),
            "{raw}"
        );
        assert!(
            !raw.contains("password") && !raw.contains(r#""token""#),
            "{raw}"
        );
        assert!(raw.contains("alice"), "{raw}");
    }
}
