//! nginx-rtmp-module `on_*` notify (Debian's `libnginx-mod-rtmp`).
//!
//! What nginx-rtmp sends (recorded from nginx 1.22.1 with the module 1.2.2):
//! - One `POST` per notify directive, HTTP/1.0, `Content-Type:
//!   application/x-www-form-urlencoded`, `Connection: Close`, no
//!   User-Agent, `Host` without the port. Plain HTTP only: an `https://`
//!   notify URL is a configuration error ("invalid port in url"), so a
//!   deployment goes through nginx's own `proxy_pass` (see the README).
//! - The hook is the body's `call`: `connect` and `disconnect` (server
//!   level `on_connect`, `on_disconnect`; `disconnect` repeats `app`),
//!   `publish`, `play`, `update_publish` / `update_play` (every
//!   `notify_update_timeout`), `publish_done`, `play_done`, `done` (after
//!   each `*_done`, the same fields), `record_done` (with `recorder` and
//!   `path`).
//! - Fields: `app`, `flashver`, `swfurl`, `tcurl`, `pageurl`, `addr`, then
//!   `clientid` (a per-process counter) on all but `connect`, which has
//!   `epoch` (nginx's uptime in ms) instead; `name` on all but `connect`
//!   and `disconnect` (so there a `name` is the client's, and so is a
//!   `clientid` on `connect`: never read as nginx's); `type` on publish;
//!   `start`, `duration`, `reset` on play; `time` (seconds since the
//!   session began) and `timestamp` (the stream's, in ms) on update. The
//!   client's query follows as more fields (`secret=abc&user=alice`), so a
//!   client may repeat one of nginx's own names: nginx's value comes first.
//!   No wall-clock time (the receive time is used) and no retries.
//! - The reply is admission control: 2xx continues; a 3xx `Location`
//!   renames a publish or redirects a play; anything else closes the
//!   client (a refused `update` ends the session).
//! - With `notify_method get` the fields come as the query, appended with
//!   a second `?` to a notify URL that has one (`?token=T?app=…`, which
//!   spoils the token): livehook takes `POST` only (405 otherwise).

use serde_json::{Map, Value};

use super::{
    ADMISSION_SETTINGS, Delivery, Deployment, Identity, Imitate, Provider, Receiving, Sending,
    authenticated_body, into_map, per_delivery_key, raw_json, single,
};
use crate::auth::Verifier;
use crate::error::Rejection;
use crate::event::{EventData, EventType, FileInfo};
use crate::inbound::Inbound;
use crate::json::Fields;
use crate::stream_keys::{Action, Admission, KEY_PARAMETER, Presented};

/// nginx-rtmp-module notify adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Nginx;

const NAME: &str = "nginx";

/// The fields nginx-rtmp itself sends; any other field is the client's query.
const OWN_FIELDS: &[&str] = &[
    "app",
    "flashver",
    "swfurl",
    "tcurl",
    "pageurl",
    "addr",
    "clientid",
    "epoch",
    "call",
    "name",
    "type",
    "start",
    "duration",
    "reset",
    "time",
    "timestamp",
    "recorder",
    "path",
];

impl Provider for Nginx {
    fn name(&self) -> &'static str {
        NAME
    }

    fn deployment(&self) -> Deployment {
        Deployment {
            console: "nginx-rtmp on_publish, on_play, on_done, on_update, ... URL (notify_method post)",
            // Its reply is admission control: the stack chooses what it answers when DynamoDB
            // fails, and which admissions need a stream key.
            settings: ADMISSION_SETTINGS,
            own_settings: &[],
        }
    }

    fn accept(&self, inbound: &Inbound<'_>, verifier: &Verifier) -> Result<Delivery, Rejection> {
        let body = authenticated_body(inbound, verifier)?;
        let f = Fields(&body);
        let call =
            first(&body, "call").ok_or_else(|| Rejection::malformed("missing field `call`"))?;
        let event_type = match call.as_str() {
            "connect" => EventType::ConnectionOpened,
            "disconnect" => EventType::ConnectionClosed,
            "publish" => EventType::StreamStarted,
            "publish_done" => EventType::StreamStopped,
            "play" => EventType::PlaybackStarted,
            "play_done" => EventType::PlaybackStopped,
            // A session's periodic figures (`time`, `timestamp`).
            "update_publish" | "update_play" => EventType::StreamHealth,
            "record_done" => EventType::RecordingFileClosed,
            // `done` follows every `*_done` with the same fields and does
            // not say which it follows: the `*_done` carries the type.
            _ => EventType::Unrecognized,
        };
        // nginx sends each notification once: two identical bodies are two events.
        let event_key = per_delivery_key(NAME, inbound);

        let app = first(&body, "app");
        let sent = SentByNginx::of(&call);
        // Only what nginx itself sends for this call: on `connect` (and a
        // `name` on `disconnect`) the same field can only be the client's
        // query, which must not name a stream or session it does not own.
        let stream = sent.name.then(|| first(&body, "name")).flatten();
        let client_id = sent.clientid.then(|| first(&body, "clientid")).flatten();
        let path = first(&body, "path");
        let data = EventData {
            provider_event: call,
            app: app.clone(),
            stream: stream.clone(),
            protocol: Some("RTMP".to_owned()),
            url: first(&body, "tcurl"),
            url_params: client_query(&body, sent),
            client_ip: first(&body, "addr"),
            session_id: client_id.clone(),
            file: (event_type == EventType::RecordingFileClosed).then(|| FileInfo {
                id: f.text("recorder"),
                format: path.as_deref().and_then(super::file_extension),
                path,
                ..FileInfo::default()
            }),
            raw: raw_json(inbound.body)?,
            ..EventData::default()
        };
        // Publish and play are the questions nginx's reply answers; the
        // client's query (`?key=…`) comes as more form fields.
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
                    presented: Presented::of(match body.get(KEY_PARAMETER) {
                        Some(Value::Array(values)) => values.iter().map(text_of).collect(),
                        Some(one) => vec![text_of(one)],
                        None => Vec::new(),
                    }),
                });
        let identity = Identity::of_stream(app, stream, |app| client_id.or(app));
        let mut delivery = single(NAME, inbound, event_key, event_type, identity, None, data);
        delivery.admission = admission;
        Ok(delivery)
    }

    fn receiving(&self) -> Receiving {
        Receiving {
            // 2xx continues, anything else closes the client.
            admission: true,
            form_body: true,
            ..Receiving::DEFAULT
        }
    }
}

impl Imitate for Nginx {
    fn sending(&self) -> Sending {
        Sending {
            // One POST per notify, never resent.
            resends: false,
            // nginx-rtmp's netcall sends no User-Agent.
            user_agent: None,
            headers: &[("connection", "close")],
            ..Sending::DEFAULT
        }
    }

    fn synthetic(&self, stream: &str, nonce: &str) -> (&'static str, Map<String, Value>) {
        let body = serde_json::json!({
            "app": "livehook", "flashver": "FMLE/3.0 (compatible; Lavf59.27", "swfurl": "",
            "tcurl": "rtmp://127.0.0.1:1935/livehook", "pageurl": "", "addr": "127.0.0.1",
            "clientid": nonce, "call": "publish", "name": stream, "type": "live",
        });
        ("publish", into_map(body))
    }
}

/// The first value of a field: nginx's own when the client's query repeats
/// its name (the form then holds an array, nginx's value first).
fn first(body: &Map<String, Value>, name: &str) -> Option<String> {
    match body.get(name)? {
        Value::Array(values) => values.first().and_then(crate::json::value_text),
        other => crate::json::value_text(other),
    }
}

/// Which of nginx's session fields a call carries (`ngx_rtmp_notify_module.c`:
/// `connect` is built from the connection, without `clientid` or `name`;
/// `disconnect` has the session's fields but no `name`; every other call
/// has both).
#[derive(Debug, Clone, Copy)]
struct SentByNginx {
    name: bool,
    clientid: bool,
}

impl SentByNginx {
    fn of(call: &str) -> Self {
        match call {
            "connect" => SentByNginx {
                name: false,
                clientid: false,
            },
            "disconnect" => SentByNginx {
                name: false,
                clientid: true,
            },
            _ => SentByNginx {
                name: true,
                clientid: true,
            },
        }
    }

    /// Whether `field` is one of nginx's own on this call.
    fn owns(self, field: &str) -> bool {
        match field {
            "name" => self.name,
            "clientid" => self.clientid,
            other => OWN_FIELDS.contains(&other),
        }
    }
}

/// A form field's value as text.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The client's query: the fields nginx appended after its own, form-encoded
/// again (in name order: the decoded form keeps no order). `None` without
/// any.
fn client_query(body: &Map<String, Value>, sent: SentByNginx) -> Option<String> {
    let mut query = form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for (name, value) in body {
        if sent.owns(name) {
            continue;
        }
        let values = match value {
            Value::Array(values) => values.as_slice(),
            single => std::slice::from_ref(single),
        };
        for v in values {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            query.append_pair(name, &text);
            any = true;
        }
    }
    any.then(|| query.finish())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::pipeline::{Gate, Limits};
    use crate::providers::testing::{TOKEN, deliver, now, verifier};

    fn form_request(query: &str, body: &str, content_type: &str) -> lambda_http::Request {
        let event = json!({
            "version": "2.0", "routeKey": "$default", "rawPath": "/nginx", "rawQueryString": query,
            "headers": {"content-type": content_type, "connection": "Close", "host": "127.0.0.1"},
            "isBase64Encoded": false, "body": body,
            "requestContext": {"accountId": "1", "apiId": "a", "domainName": "x.example", "domainPrefix": "x",
                "http": {"method": "POST", "path": "/nginx", "protocol": "HTTP/1.0", "sourceIp": "127.0.0.1", "userAgent": ""},
                "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "", "timeEpoch": 0}
        });
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    fn gate(limit: usize) -> Gate {
        Gate::new(
            &Nginx,
            verifier(),
            Limits {
                max_body_bytes: limit,
                retention: Duration::from_secs(60),
                replay_window: Duration::from_secs(60),
                max_message_bytes: 262_144,
            },
        )
    }

    /// nginx-rtmp's own publish, as recorded.
    const PUBLISH: &str = "app=live&flashver=FMLE/3.0%20(compatible%3B%20Lavf59.27&swfurl=&tcurl=rtmp://127.0.0.1:19350/live&pageurl=&addr=127.0.0.1&clientid=30&call=publish&name=cam2&type=live&secret=abc&tag=a&tag=b";

    #[test]
    fn form_bodies_are_decoded_into_raw_with_repeated_keys_as_arrays() {
        let query = format!("token={TOKEN}");
        let d = gate(4096)
            .admit(
                &form_request(&query, PUBLISH, "application/x-www-form-urlencoded"),
                now(),
                "r1",
            )
            .unwrap();
        let e = &d.events[0].event;
        assert_eq!(e.event_type, EventType::StreamStarted);
        assert_eq!(e.subject, "nginx/live/cam2");
        let raw: Value = serde_json::from_str(e.data.raw.get()).unwrap();
        assert_eq!(raw["flashver"], "FMLE/3.0 (compatible; Lavf59.27");
        assert_eq!(raw["tag"], json!(["a", "b"]));
        assert_eq!(raw["swfurl"], "");
        assert_eq!(e.data.session_id.as_deref(), Some("30"));
        assert_eq!(e.data.client_ip.as_deref(), Some("127.0.0.1"));
        // The client's query, its secret masked (redaction, after the key).
        assert_eq!(e.data.url_params.as_deref(), Some("secret=***&tag=a&tag=b"));
        assert_eq!(raw["secret"], "***");
        // The same fields as a JSON object (as the samples hold them) are one reading.
        let as_json = serde_json::to_string(&raw).unwrap();
        let j = gate(4096)
            .admit(
                &form_request(&query, &as_json, "application/json"),
                now(),
                "r2",
            )
            .unwrap();
        assert_eq!(j.events[0].event.subject, e.subject);
        assert_eq!(j.events[0].event.data.raw.get(), e.data.raw.get());
    }

    #[test]
    fn a_form_is_held_to_the_limit_after_decoding() {
        // `a&a&…` is three bytes of JSON per two of form.
        let body = "a&".repeat(1000);
        let query = format!("token={TOKEN}");
        let refused = gate(2500).admit(
            &form_request(
                &query,
                &body,
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
            now(),
            "r",
        );
        assert_eq!(
            refused.unwrap_err(),
            Rejection::PayloadTooLarge { limit: 2500 }
        );
        // Without a `call` the form is a 400, after the token (401).
        let no_call = gate(4096).admit(
            &form_request(
                &query,
                "app=live&name=x",
                "application/x-www-form-urlencoded",
            ),
            now(),
            "r",
        );
        assert!(matches!(no_call, Err(Rejection::Malformed(_))));
        let no_token = gate(4096).admit(
            &form_request("", PUBLISH, "application/x-www-form-urlencoded"),
            now(),
            "r",
        );
        assert!(matches!(no_token, Err(Rejection::Unauthenticated(_))));
    }

    #[test]
    fn calls_map_to_types_and_unknown_calls_are_unrecognized() {
        let cases = [
            ("connect", EventType::ConnectionOpened),
            ("disconnect", EventType::ConnectionClosed),
            ("publish", EventType::StreamStarted),
            ("publish_done", EventType::StreamStopped),
            ("play", EventType::PlaybackStarted),
            ("play_done", EventType::PlaybackStopped),
            ("update_publish", EventType::StreamHealth),
            ("update_play", EventType::StreamHealth),
            ("record_done", EventType::RecordingFileClosed),
            ("done", EventType::Unrecognized),
            ("relay_done", EventType::Unrecognized),
        ];
        let query = format!("token={TOKEN}");
        for (call, expected) in cases {
            let body = json!({"app": "live", "name": "test", "clientid": "1", "call": call,
                "path": "/rec/test-1.flv", "recorder": ""});
            let d = deliver(
                &Nginx,
                "/nginx",
                &query,
                &serde_json::to_vec(&body).unwrap(),
            )
            .unwrap();
            assert_eq!(d.event_type(), expected, "{call}");
        }
    }

    #[test]
    fn a_client_cannot_shadow_nginx_fields() {
        // `?call=evil&name=other` on the client's URL: nginx's values come first.
        let body = json!({"app": "live", "call": ["publish", "evil"], "name": ["test", "other"], "clientid": "7"});
        let query = format!("token={TOKEN}");
        let d = deliver(
            &Nginx,
            "/nginx",
            &query,
            &serde_json::to_vec(&body).unwrap(),
        )
        .unwrap();
        let e = &d.events[0].event;
        assert_eq!(e.event_type, EventType::StreamStarted);
        assert_eq!(e.subject, "nginx/live/test");
        assert_eq!(e.data.url_params, None);
    }

    #[test]
    fn name_and_clientid_are_read_only_where_nginx_sends_them() {
        let query = format!("token={TOKEN}");
        let send = |body: Value| {
            let d = deliver(
                &Nginx,
                "/nginx",
                &query,
                &serde_json::to_vec(&body).unwrap(),
            )
            .unwrap();
            d.events[0].event.clone()
        };
        // `rtmp://h/live?name=victim&clientid=9`: on connect nginx sends
        // neither, so both are the client's query.
        let connect = send(
            json!({"app": "live", "tcurl": "rtmp://h/live", "addr": "10.0.0.5",
            "epoch": "1234", "call": "connect", "name": "victim", "clientid": "9"}),
        );
        assert_eq!(connect.data.stream, None);
        assert_eq!(connect.data.session_id, None);
        assert_eq!(connect.subject, "nginx/live");
        assert_eq!(
            connect.data.url_params.as_deref(),
            Some("clientid=9&name=victim")
        );
        // On disconnect nginx sends `clientid` (first) but no `name`.
        let disconnect = send(json!({"app": ["live", "live"], "clientid": ["3", "9"],
            "call": "disconnect", "name": "victim"}));
        assert_eq!(disconnect.data.stream, None);
        assert_eq!(disconnect.data.session_id.as_deref(), Some("3"));
        assert_eq!(disconnect.data.url_params.as_deref(), Some("name=victim"));
        // On publish both are nginx's own.
        let publish = send(json!({"app": "live", "clientid": "3", "call": "publish",
            "name": "cam", "type": "live"}));
        assert_eq!(publish.subject, "nginx/live/cam");
        assert_eq!(publish.data.session_id.as_deref(), Some("3"));
    }

    #[test]
    fn every_delivery_is_its_own_event_and_the_reply_is_200() {
        let body =
            json!({"app": "live", "name": "test", "clientid": "1", "call": "update_publish"});
        let bytes = serde_json::to_vec(&body).unwrap();
        let query = format!("token={TOKEN}");
        let a = deliver(&Nginx, "/nginx", &query, &bytes).unwrap();
        let b = deliver(&Nginx, "/nginx", &query, &bytes).unwrap();
        assert_ne!(a.key, b.key);
        assert_eq!(a.dedupe_window, None);
        assert!(Nginx.receiving().admission);
        assert!(Nginx.reply(&a.key).len() < 64);
    }

    #[test]
    fn the_wire_form_of_a_sample_decodes_back_to_it() {
        let sample = json!({"app": "live", "call": "publish", "flashver": "LNX 9,0,124,2",
            "name": "test", "secret": "abc", "tag": ["a", "b"], "swfurl": ""});
        let (content_type, wire) =
            super::super::imitate::wire_body(&Nginx, &serde_json::to_vec(&sample).unwrap());
        assert_eq!(content_type, "application/x-www-form-urlencoded");
        let wire = String::from_utf8(wire).unwrap();
        assert!(wire.contains("tag=a&tag=b"), "{wire}");
        let query = format!("token={TOKEN}");
        let d = gate(4096)
            .admit(&form_request(&query, &wire, content_type), now(), "r")
            .unwrap();
        let raw: Value = serde_json::from_str(d.events[0].event.data.raw.get()).unwrap();
        let mut expected = sample;
        expected["secret"] = json!("***");
        assert_eq!(raw, expected, "the sample, its secret masked");
    }
}
