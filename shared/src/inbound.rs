//! The parts of an HTTP request an adapter looks at, independent of Lambda.

use std::borrow::Cow;

use lambda_http::http::HeaderMap;
use time::OffsetDateTime;

/// One webhook delivery as received: path, raw query, headers, decoded body.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    /// The request path (any stage or `/lambda-url/<fn>` prefix included).
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// The body, already base64- and gzip-decoded.
    pub body: &'a [u8],
    /// When livehook received it: the clock every time check uses.
    pub received_at: OffsetDateTime,
    /// The invocation's request id (never empty): the key of providers that
    /// never resend, whose every delivery is a new event (lal, SRS).
    pub request_id: &'a str,
    /// The largest SNS message the topic takes (body and attributes): a
    /// provider that can split a large delivery (lal `on_update`) splits it
    /// into parts of at most this size.
    pub max_message_bytes: usize,
    /// The provider's own settings, read at start-up
    /// ([`crate::providers::Settings`]; [`crate::providers::settings::DEFAULTS`]
    /// where nothing was configured).
    pub settings: &'a crate::providers::Settings,
}

impl<'a> Inbound<'a> {
    /// Every value of a query parameter, percent-decoded, in order.
    pub fn query_values(&self, name: &'a str) -> impl Iterator<Item = Cow<'a, str>> + 'a {
        form_urlencoded::parse(self.query.as_bytes())
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The last non-empty path segment (lal names its hook only by URL).
    pub fn last_path_segment(&self) -> &'a str {
        self.path.rsplit('/').find(|s| !s.is_empty()).unwrap_or("")
    }
}

/// The query string with every `token` value replaced by `***`, for logs.
pub fn redact_query(query: &str) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if k.eq_ignore_ascii_case("token") {
            out.append_pair(&k, "***");
        } else {
            out.append_pair(&k, &v);
        }
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inbound<'a>(path: &'a str, query: &'a str, headers: &'a HeaderMap) -> Inbound<'a> {
        Inbound {
            path,
            query,
            headers,
            body: b"",
            received_at: OffsetDateTime::UNIX_EPOCH,
            request_id: "r",
            max_message_bytes: 262_144,
            settings: &crate::providers::settings::DEFAULTS,
        }
    }

    #[test]
    fn query_values_are_decoded_and_all_returned() {
        let h = HeaderMap::new();
        let i = inbound("/", "token=a%2Cb&x=1&token=c+d", &h);
        let got: Vec<_> = i.query_values("token").collect();
        assert_eq!(got, ["a,b", "c d"]);
        assert_eq!(i.query_values("nope").count(), 0);
    }

    #[test]
    fn last_segment_ignores_prefixes_and_trailing_slash() {
        let h = HeaderMap::new();
        assert_eq!(
            inbound("/prod/lal/on_pub_start", "", &h).last_path_segment(),
            "on_pub_start"
        );
        assert_eq!(
            inbound("/lambda-url/lal/on_update/", "", &h).last_path_segment(),
            "on_update"
        );
        assert_eq!(inbound("/", "", &h).last_path_segment(), "");
    }

    #[test]
    fn tokens_are_redacted_from_logged_queries() {
        let q = redact_query("token=s3cret&app=live&TOKEN=x");
        assert!(!q.contains("s3cret") && !q.contains("=x"));
        assert!(q.contains("app=live"));
    }
}
