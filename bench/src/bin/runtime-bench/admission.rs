//! Admission with stream keys (`--stream-key`): a publish key put in the
//! table before the run, presented in every delivery's query, and a wrong
//! one for the probe of a refusal's AWS calls.

use livehook::providers::imitate::by_name;
use livehook::stream_keys::{self, Action, KEY_LEN, KEY_PARAMETER};
use livehook_bench::events::Events;
use livehook_bench::runtime_api::{Answer, api_body};
use time::OffsetDateTime;

/// The deliveries of an admission run.
pub struct Admission {
    /// Every delivery presents the stream's key: admitted.
    pub admitted: Events,
    /// The same deliveries with a wrong key: refused.
    pub refused: Events,
    /// The provider's refusal body, to tell a refusal from an admission.
    refusal: &'static str,
}

impl Admission {
    /// Puts a new publish key for `stream` (`app/stream`, as the provider
    /// names it) in the table (`LIVEHOOK_TABLE`, at `AWS_ENDPOINT_URL`) and
    /// sets the client's query, `?key=…`, in the body field `field` of
    /// every delivery of `events`.
    pub fn prepare(provider: &str, events: Events, stream: &str, field: &str) -> Admission {
        let key = stream_keys::key_from_random(&random_bytes());
        let mut wrong = random_bytes();
        wrong[0] ^= 1;
        let wrong = stream_keys::key_from_random(&wrong);
        put_key(stream, &key);
        let refusal = by_name(provider)
            .map(|p| p.refusal().body)
            .unwrap_or_default();
        Admission {
            admitted: events
                .clone()
                .with_field(field, &format!("?{KEY_PARAMETER}={key}")),
            refused: events.with_field(field, &format!("?{KEY_PARAMETER}={wrong}")),
            refusal,
        }
    }

    /// Whether an answer is the provider's refusal.
    pub fn is_refusal(&self, answer: &Answer) -> bool {
        api_body(&answer.body).is_some_and(|body| body == self.refusal)
    }
}

fn random_bytes() -> [u8; KEY_LEN] {
    std::array::from_fn(|_| fastrand::u8(..))
}

/// The key's item as `livehook keys create` writes it (its hash only).
fn put_key(stream: &str, key: &str) {
    let table = std::env::var("LIVEHOOK_TABLE").expect("LIVEHOOK_TABLE names the table");
    let item = stream_keys::new_item(
        stream,
        Action::Publish,
        key,
        OffsetDateTime::now_utc(),
        None,
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        aws_sdk_dynamodb::Client::new(&sdk)
            .put_item()
            .table_name(&table)
            .set_item(Some(item))
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutItem of the stream key in {table}: {e:?}"));
    });
}
