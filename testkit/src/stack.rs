//! Per-test resources: a table, a topic and a queue subscribed to it, and the
//! pipelines and relay built on them.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::clients::CountCalls;
use crate::{
    Calls, Config, DeadLetters, DynamoDeadLetters, DynamoKeyUses, DynamoStore, KeyUses,
    LivePipeline, LiveRelay, Pipeline, Provider, SnsSink, TENCENT_KEY, TOKEN, catalog,
    dynamodb_client, moto, provider_named, sdk_config, sns_client, sqs_client, streams_client,
};
use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, StreamSpecification, StreamViewType,
};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use livehook::providers::AuthScheme;
use livehook::relay::Relay;
use livehook::stream_event::StreamBatch;
use livehook_pump::{Invoke, InvokeError, PollSummary, Pump};
use serde_json::Value;

/// A unique resource name: `lh-<label>-<pid>-<n>` (valid for tables, topics
/// and queues).
pub fn unique_name(label: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let label: String = label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(40)
        .collect();
    format!("lh-{label}-{}-{n}", std::process::id())
}

/// One message read back from the queue subscribed to the topic.
#[derive(Debug, Clone)]
pub struct Received {
    /// The SNS message (the CloudEvents JSON) exactly as published.
    pub message: String,
    /// The envelope, parsed.
    pub envelope: Value,
    /// The SNS message attributes (name → string value).
    pub attributes: BTreeMap<String, String>,
    /// SQS FIFO `MessageGroupId`, when the queue is FIFO.
    pub group_id: Option<String>,
    /// SQS FIFO `MessageDeduplicationId`, when the queue is FIFO.
    pub deduplication_id: Option<String>,
}

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// One test's resources: a table, a topic and a queue subscribed to it, the
/// uncounted clients used to set up and verify, and the call record of the
/// pipelines built from it.
pub struct Stack {
    /// The emulator's endpoint.
    pub endpoint: String,
    /// Resource name prefix.
    pub name: String,
    /// Idempotency table.
    pub table: String,
    /// Dead-letter table (`LIVEHOOK_FAILED_TABLE`).
    pub failed_table: String,
    /// Topic name (`.fifo` for a FIFO stack).
    pub topic_name: String,
    /// Topic ARN.
    pub topic_arn: String,
    /// Queue URL.
    pub queue_url: String,
    /// Queue ARN.
    pub queue_arn: String,
    /// Whether the topic and queue are FIFO.
    pub fifo: bool,
    /// AWS operations (in order) made by the pipelines of this stack: the
    /// handlers' synchronous calls.
    pub calls: Calls,
    /// SNS operations made by this stack's relay (the stream's side).
    pub relay_calls: Calls,
    /// The topic's `MaximumMessageSize`, as the relay is configured.
    max_message_bytes: AtomicUsize,
    /// The local event source mapping (built on first use; a new table or
    /// topic limit builds a new one).
    pump: tokio::sync::Mutex<Option<Pump<InProcessRelay>>>,
    /// Verification clients (not counted).
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// Verification clients (not counted).
    pub sns: aws_sdk_sns::Client,
    /// Verification clients (not counted).
    pub sqs: aws_sdk_sqs::Client,
}

impl Stack {
    /// A table, a standard topic and a standard queue subscribed to it.
    pub async fn new(label: &str) -> Stack {
        Stack::build(label, false).await
    }

    /// The same with a FIFO topic and a FIFO queue.
    pub async fn fifo(label: &str) -> Stack {
        Stack::build(label, true).await
    }

    /// A table, a standard topic and a queue on the emulator at `endpoint`
    /// (one of the test's own, e.g. to restart it).
    pub async fn on(endpoint: &str, label: &str) -> Stack {
        Stack::build_on(endpoint.to_owned(), label, false).await
    }

    async fn build(label: &str, fifo: bool) -> Stack {
        Stack::build_on(moto().endpoint.clone(), label, fifo).await
    }

    async fn build_on(endpoint: String, label: &str, fifo: bool) -> Stack {
        let name = unique_name(label);
        let suffix = if fifo { ".fifo" } else { "" };
        let mut stack = Stack {
            table: name.clone(),
            failed_table: format!("{name}-failed"),
            topic_name: format!("{name}{suffix}"),
            topic_arn: String::new(),
            queue_url: String::new(),
            queue_arn: String::new(),
            fifo,
            calls: Calls::default(),
            relay_calls: Calls::default(),
            max_message_bytes: AtomicUsize::new(livehook::config::DEFAULT_MAX_MESSAGE_BYTES),
            pump: tokio::sync::Mutex::new(None),
            dynamodb: dynamodb_client(&endpoint, None),
            sns: sns_client(&endpoint, None),
            sqs: sqs_client(&endpoint),
            name,
            endpoint,
        };
        stack.create_resources().await;
        stack
    }

    /// Creates the table, the queue and the subscribed topic under this
    /// stack's names: again, after an emulator restart lost them (the table
    /// then has a new stream).
    pub async fn create_resources(&mut self) {
        create_table(&self.dynamodb, &self.table).await;
        create_table(&self.dynamodb, &self.failed_table).await;
        let suffix = if self.fifo { ".fifo" } else { "" };
        let queue_name = format!("{}-q{suffix}", self.name);
        let mut queue = self.sqs.create_queue().queue_name(&queue_name);
        if self.fifo {
            queue = queue.attributes(QueueAttributeName::FifoQueue, "true");
        }
        self.queue_url = queue
            .send()
            .await
            .expect("CreateQueue")
            .queue_url()
            .expect("queue url")
            .to_owned();
        self.queue_arn = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("GetQueueAttributes")
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .expect("queue arn")
            .clone();
        self.create_topic().await;
        *self.pump.get_mut() = None;
    }

    /// Creates the topic (again, after [`Stack::delete_topic`]) and
    /// subscribes the queue to it.
    pub async fn create_topic(&mut self) {
        let mut topic = self.sns.create_topic().name(&self.topic_name);
        if self.fifo {
            topic = topic.attributes("FifoTopic", "true");
        }
        self.topic_arn = topic
            .send()
            .await
            .expect("CreateTopic")
            .topic_arn()
            .expect("topic arn")
            .to_owned();
        self.sns
            .subscribe()
            .topic_arn(&self.topic_arn)
            .protocol("sqs")
            .endpoint(&self.queue_arn)
            .send()
            .await
            .expect("Subscribe");
    }

    /// Sets the topic's `MaximumMessageSize` (SNS allows up to 1 MiB).
    pub async fn set_max_message_bytes(&self, bytes: usize) {
        self.sns
            .set_topic_attributes()
            .topic_arn(&self.topic_arn)
            .attribute_name("MaximumMessageSize")
            .attribute_value(bytes.to_string())
            .send()
            .await
            .expect("SetTopicAttributes MaximumMessageSize");
        // One parameter sets both in the template.
        self.set_relay_max_message_bytes(bytes).await;
    }

    /// Configures the relay for a topic limit of `bytes` (as
    /// `LIVEHOOK_MAX_MESSAGE_BYTES` does), without changing the topic.
    pub async fn set_relay_max_message_bytes(&self, bytes: usize) {
        self.max_message_bytes.store(bytes, Ordering::SeqCst);
        *self.pump.lock().await = None;
    }

    /// Deletes the topic (its subscriptions go with it).
    pub async fn delete_topic(&self) {
        self.sns
            .delete_topic()
            .topic_arn(&self.topic_arn)
            .send()
            .await
            .expect("DeleteTopic");
    }

    /// Replaces the table with a new, empty one (the topic and queue stay).
    pub async fn fresh_table(&mut self) {
        self.table = unique_name("table");
        create_table(&self.dynamodb, &self.table).await;
        *self.pump.get_mut() = None;
    }

    /// The configuration a function of `provider` would load, with
    /// `overrides` on top: this stack's table and topic, both secrets, and
    /// the replay window off (the samples carry the documents' old dates).
    pub fn config(&self, provider: &dyn Provider, overrides: &[(&str, &str)]) -> Config {
        let mut vars: HashMap<String, String> = [
            ("LIVEHOOK_TABLE", self.table.as_str()),
            ("LIVEHOOK_TOPIC_ARN", self.topic_arn.as_str()),
            ("LIVEHOOK_TOKEN", TOKEN),
            ("LIVEHOOK_TENCENT_KEY", TENCENT_KEY),
            ("LIVEHOOK_REPLAY_WINDOW_SECONDS", "0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        if let AuthScheme::Signed(proof) = provider.auth_scheme() {
            vars.insert(
                proof.secret_variable.to_owned(),
                crate::SIGNING_SECRETS.to_owned(),
            );
        }
        for (k, v) in overrides {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        Config::for_provider(provider, |k| vars.get(k).cloned()).expect("a valid configuration")
    }

    /// The pipeline of `provider` (a function name) on this stack, with
    /// counted clients.
    pub fn pipeline(&self, provider: &str) -> LivePipeline {
        self.pipeline_with(provider, &[])
    }

    /// The same with configuration overrides.
    pub fn pipeline_with(&self, provider: &str, overrides: &[(&str, &str)]) -> LivePipeline {
        self.pipeline_on(provider, overrides, &self.endpoint)
    }

    /// The same with DynamoDB at `dynamodb_endpoint` (e.g. a closed port).
    pub fn pipeline_on(
        &self,
        provider: &str,
        overrides: &[(&str, &str)],
        dynamodb_endpoint: &str,
    ) -> LivePipeline {
        self.pipeline_with_client(
            provider,
            overrides,
            dynamodb_client(dynamodb_endpoint, Some(&self.calls)),
        )
    }

    /// The same with production's SDK deadlines (2.5 s per call, two
    /// attempts of at most 1 s): for tests of held-back replies.
    pub fn pipeline_with_production_timeouts(&self, provider: &str) -> LivePipeline {
        let config = aws_sdk_dynamodb::config::Builder::from(&sdk_config(&self.endpoint))
            .timeout_config(livehook::lambda::production_timeouts())
            .interceptor(CountCalls(self.calls.clone()))
            .build();
        self.pipeline_with_client(provider, &[], aws_sdk_dynamodb::Client::from_conf(config))
    }

    fn pipeline_with_client(
        &self,
        provider: &str,
        overrides: &[(&str, &str)],
        client: aws_sdk_dynamodb::Client,
    ) -> LivePipeline {
        let provider = provider_named(provider);
        let config = self.config(provider, overrides);
        Pipeline::new(provider, &config, DynamoStore::new(client, &config.table))
    }

    /// A relay on this stack's topic, its SNS calls counted in `relay_calls`.
    pub fn relay(&self) -> LiveRelay {
        self.relay_dead_lettering_after(livehook::relay::DEFAULT_DEAD_LETTER_AFTER)
    }

    /// The same, dead-lettering what is still unpublished `after` its record
    /// was written.
    pub fn relay_dead_lettering_after(&self, after: std::time::Duration) -> LiveRelay {
        Relay::new(SnsSink::new(
            sns_client(&self.endpoint, Some(&self.relay_calls)),
            &self.topic_arn,
            self.max_message_bytes.load(Ordering::SeqCst),
        ))
        .with_dead_letters(
            DynamoDeadLetters::new(dynamodb_client(&self.endpoint, None), &self.failed_table),
            after,
        )
        .with_key_uses(self.key_uses())
    }

    /// Stream keys' uses recorded in this stack's table, as the relay does
    /// (its calls not counted).
    pub fn key_uses(&self) -> DynamoKeyUses {
        DynamoKeyUses::new(dynamodb_client(&self.endpoint, None), &self.table)
    }

    /// The relay with the SDK deadlines of production's relay
    /// ([`livehook::lambda::relay_timeouts`]), or others.
    pub fn relay_with_timeouts(&self, timeouts: aws_config::timeout::TimeoutConfig) -> LiveRelay {
        let config = aws_sdk_sns::config::Builder::from(&sdk_config(&self.endpoint))
            .timeout_config(timeouts)
            .interceptor(CountCalls(self.relay_calls.clone()))
            .build();
        Relay::new(SnsSink::new(
            aws_sdk_sns::Client::from_conf(config),
            &self.topic_arn,
            self.max_message_bytes.load(Ordering::SeqCst),
        ))
        .with_dead_letters(
            DynamoDeadLetters::new(dynamodb_client(&self.endpoint, None), &self.failed_table),
            livehook::relay::DEFAULT_DEAD_LETTER_AFTER,
        )
        .with_key_uses(self.key_uses())
    }

    /// The ids kept in the dead-letter table (`livehook events list
    /// --failed`), sorted; with `include_replayed` false, only those not
    /// replayed yet.
    pub async fn failed_ids(&self, include_replayed: bool) -> Vec<String> {
        let mut ids: Vec<String> = scan_all(&self.dynamodb, &self.failed_table)
            .await
            .iter()
            .filter(|item| include_replayed || !item.contains_key("replayed_at"))
            .filter_map(|item| item_string(item, "pk").map(str::to_owned))
            .collect();
        ids.sort();
        ids
    }

    /// Every AWS operation the pipelines made since the last call, in order.
    pub fn take_calls(&self) -> Vec<String> {
        self.calls.take()
    }

    /// Every `TransactWriteItems` the pipelines made since the last call, as
    /// the kinds of its parts (see [`Calls::take_transactions`]).
    pub fn take_transactions(&self) -> Vec<Vec<&'static str>> {
        self.calls.take_transactions()
    }

    /// Publishes what the table's stream holds, as the event source mapping
    /// would: the pump reads the stream and invokes the in-process relay
    /// until nothing is new or a batch fails (kept for the next call, as the
    /// mapping retries it).
    pub async fn publish_pending(&self) -> PollSummary {
        self.publish_pending_in(livehook_pump::DEFAULT_BATCH_SIZE)
            .await
    }

    /// The same with batches of at most `batch_size` records (a new batch
    /// size starts a new pump, from the stream's start).
    pub async fn publish_pending_in(&self, batch_size: usize) -> PollSummary {
        let mut pump = self.pump(batch_size).await;
        let pump = pump.as_mut().expect("the pump was just built");
        pump.drain()
            .await
            .unwrap_or_else(|e| panic!("the pump could not read {}: {e}", self.table))
    }

    /// The stack's pump, built when missing or of another batch size.
    async fn pump(
        &self,
        batch_size: usize,
    ) -> tokio::sync::MutexGuard<'_, Option<Pump<InProcessRelay>>> {
        let mut pump = self.pump.lock().await;
        if pump.as_ref().is_none_or(|p| p.batch_size() != batch_size) {
            *pump = Some(Pump::new(
                dynamodb_client(&self.endpoint, None),
                streams_client(&self.endpoint),
                &self.table,
                InProcessRelay {
                    relay: self.relay(),
                    lose_answers: AtomicUsize::new(0),
                },
                batch_size,
            ));
        }
        pump
    }

    /// Publishes the stream from its start through `relay` (a one-off pump:
    /// the stack's own pump still starts from the stream's start).
    pub async fn publish_pending_with<D: DeadLetters, U: KeyUses>(
        &self,
        relay: Relay<SnsSink, D, U>,
    ) -> PollSummary {
        let mut pump = Pump::new(
            dynamodb_client(&self.endpoint, None),
            streams_client(&self.endpoint),
            &self.table,
            InProcessRelay {
                relay,
                lose_answers: AtomicUsize::new(0),
            },
            livehook_pump::DEFAULT_BATCH_SIZE,
        );
        pump.drain()
            .await
            .unwrap_or_else(|e| panic!("the pump could not read {}: {e}", self.table))
    }

    /// Publishes the stream through a pump started now that keeps its
    /// position in the checkpoint file `path`, as `livehook pump` does: each
    /// call is a pump restarted.
    pub async fn publish_pending_checkpointed(&self, path: &std::path::Path) -> PollSummary {
        let checkpoints =
            livehook_pump::Checkpoints::load(path).unwrap_or_else(|e| panic!("checkpoints: {e}"));
        let mut pump = Pump::new(
            dynamodb_client(&self.endpoint, None),
            streams_client(&self.endpoint),
            &self.table,
            InProcessRelay {
                relay: self.relay(),
                lose_answers: AtomicUsize::new(0),
            },
            livehook_pump::DEFAULT_BATCH_SIZE,
        )
        .with_checkpoints(checkpoints);
        pump.drain()
            .await
            .unwrap_or_else(|e| panic!("the pump could not read {}: {e}", self.table))
    }

    /// The relay's next `n` invocations publish, then die before answering
    /// (a timeout or crash mid-batch): the pump retries those batches.
    pub async fn lose_relay_answers(&self, n: usize) {
        if let Some(pump) = self.pump(livehook_pump::DEFAULT_BATCH_SIZE).await.as_ref() {
            pump.invoker().lose_answers.store(n, Ordering::SeqCst);
        }
    }

    /// Publishes what is pending ([`Stack::publish_pending`]), then drains
    /// the queue: every message published since the last drain.
    pub async fn messages(&self) -> Vec<Received> {
        self.publish_pending().await;
        self.queued().await
    }

    /// Drains the queue once nothing more arrives for a second: what a
    /// publisher running on its own (`livehook pump`) published.
    pub async fn settled(&self) -> Vec<Received> {
        let mut out = Vec::new();
        loop {
            let more = self.receive(1).await;
            if more.is_empty() {
                return out;
            }
            out.extend(more);
        }
    }

    /// Drains the queue without publishing what is pending.
    pub async fn queued(&self) -> Vec<Received> {
        self.receive(0).await
    }

    /// Drains the queue, each receive waiting up to `wait_seconds`.
    async fn receive(&self, wait_seconds: i32) -> Vec<Received> {
        let mut out = Vec::new();
        loop {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(wait_seconds)
                .visibility_timeout(600)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await
                .expect("ReceiveMessage");
            let messages = received.messages();
            if messages.is_empty() {
                return out;
            }
            for m in messages {
                let received = parse_notification(m);
                catalog::assert_valid(&received.envelope);
                out.push(received);
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().expect("receipt handle"))
                    .send()
                    .await
                    .expect("DeleteMessage");
            }
        }
    }

    /// The item of `pk` (consistent read).
    pub async fn item(&self, pk: &str) -> Option<Item> {
        self.dynamodb
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem")
            .item
    }

    /// Every item of the table.
    pub async fn items(&self) -> Vec<Item> {
        scan_all(&self.dynamodb, &self.table).await
    }

    /// Puts an item directly.
    pub async fn put_item(&self, item: Item) {
        self.dynamodb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .expect("PutItem");
    }
}

/// The relay invoked in-process by the tests' pump.
pub struct InProcessRelay<D = DynamoDeadLetters, U = DynamoKeyUses> {
    relay: Relay<SnsSink, D, U>,
    /// How many of the next invocations publish and then fail to answer.
    lose_answers: AtomicUsize,
}

impl<D: DeadLetters, U: KeyUses> Invoke for InProcessRelay<D, U> {
    async fn invoke(&self, event: &Event) -> Result<DynamoDbEventResponse, InvokeError> {
        // Through the event's JSON, as Lambda hands it to the relay.
        let batch: StreamBatch = serde_json::to_vec(event)
            .and_then(|json| serde_json::from_slice(&json))
            .map_err(|e| InvokeError(format!("the stream event does not read back: {e}")))?;
        let report = self.relay.relay(&batch).await;
        let lost = self
            .lose_answers
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if lost {
            return Err(InvokeError("the relay died before answering".to_owned()));
        }
        Ok(report.response())
    }
}

/// Every item of `table` (consistent, all pages).
async fn scan_all(client: &aws_sdk_dynamodb::Client, table: &str) -> Vec<Item> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("Scan");
        items.extend(page.items.unwrap_or_default());
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return items,
        }
    }
}

async fn create_table(client: &aws_sdk_dynamodb::Client, table: &str) {
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        // The outbox: the relay publishes the stream's new images.
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewImage)
                .build()
                .expect("stream specification"),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute definition"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .expect("key schema"),
        )
        .send()
        .await
        .expect("CreateTable");
}

/// Parses what an SNS → SQS subscription (not raw) delivers.
fn parse_notification(m: &aws_sdk_sqs::types::Message) -> Received {
    let body = m.body().expect("message body");
    let notification: Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("SQS body is not an SNS notification ({e}): {body}"));
    let message = notification["Message"]
        .as_str()
        .unwrap_or_else(|| panic!("no Message in {body}"))
        .to_owned();
    let envelope = serde_json::from_str(&message).unwrap_or(Value::Null);
    let attributes = notification["MessageAttributes"]
        .as_object()
        .map(|attrs| {
            attrs
                .iter()
                .map(|(k, v)| {
                    assert_eq!(v["Type"], "String", "attribute {k} is not a String: {v}");
                    (
                        k.clone(),
                        v["Value"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let system =
        |name: MessageSystemAttributeName| m.attributes().and_then(|a| a.get(&name)).cloned();
    Received {
        message,
        envelope,
        attributes,
        group_id: system(MessageSystemAttributeName::MessageGroupId),
        deduplication_id: system(MessageSystemAttributeName::MessageDeduplicationId),
    }
}

/// The string value of an item attribute.
pub fn item_string<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

/// The numeric value of an item attribute.
pub fn item_number(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}
