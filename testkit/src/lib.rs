//! livehook's test kit: what the integration tests (`tests/`), the CLI's
//! tests and the benchmarks share.
//!
//! Everything is real: a `moto_server` process (one per test binary, started
//! on first use, killed when the binary exits), the AWS SDK clients the
//! functions use, [`DynamoStore`] and [`SnsSink`], and API Gateway HTTP API
//! (payload v2) events turned into `lambda_http::Request`s exactly as the
//! Lambda runtime does. Events reach the topic as in AWS: through the
//! table's stream, read by [`livehook_pump::Pump`] (the local event source
//! mapping) and handed to the relay, which runs in-process. What SNS
//! publishes is read back from an SQS queue subscribed to the topic.
//!
//! Every [`Stack`] has its own table, topic and queue, so tests of one binary
//! run in parallel against the one emulator.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use aws_sdk_dynamodb::config::{
    ConfigBag, Credentials, Region, RuntimeComponents, SharedCredentialsProvider,
};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, StreamSpecification, StreamViewType,
};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lambda_http::Request;
use lambda_http::http::HeaderMap;
use livehook::relay::Relay;
use livehook_pump::{Invoke, InvokeError, PollSummary, Pump};
use serde_json::{Value, json};

pub use livehook::config::Config;
pub use livehook::pipeline::Pipeline;
pub use livehook::providers::{Delivery, Provider};
pub use samples::Sample;

pub mod catalog;
pub mod fuzzing;
pub mod samples;
pub use livehook::sink::SnsSink;
pub use livehook::store::DynamoStore;

/// The `?token=` every token provider is configured with.
pub const TOKEN: &str = "it-token.0123~abcdef";
/// The Tencent callback key.
pub const TENCENT_KEY: &str = "it-tencent-key";

/// The pipeline under test: the production store.
pub type LivePipeline = Pipeline<DynamoStore>;

/// The relay under test: the production sink.
pub type LiveRelay = Relay<SnsSink>;

// ---------------------------------------------------------------------------
// moto_server

/// A running `moto_server`.
pub struct Moto {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    child: Mutex<Child>,
    // Held open for the life of the process: when the test binary exits (even
    // by a panic or a signal), the watchdog reads EOF and kills moto.
    _watchdog: Mutex<Option<ChildStdin>>,
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Ok(child) = self.child.get_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// How to start the emulator: `$MOTO_SERVER` (an executable taking
/// moto_server's flags), else the workspace venv's Python running
/// `scripts/moto_serial.py` — moto_server serving one request at a time, so
/// that conditional writes are atomic as in DynamoDB.
pub fn moto_command() -> (PathBuf, Vec<PathBuf>) {
    match std::env::var_os("MOTO_SERVER") {
        Some(path) => (PathBuf::from(path), Vec::new()),
        None => (
            workspace_dir().join(".venv").join("bin").join("python"),
            vec![workspace_dir().join("scripts").join("moto_serial.py")],
        ),
    }
}

/// The workspace root.
pub fn workspace_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A loopback port nothing listens on (at the time of asking).
pub fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding an ephemeral loopback port")
}

impl Moto {
    /// Starts `moto_server` on a free loopback port and waits until it answers.
    pub fn start() -> Moto {
        Moto::start_on(free_port())
    }

    /// Starts `moto_server` on `port` (again, after a restart) and waits
    /// until it answers.
    pub fn start_on(port: u16) -> Moto {
        let (path, prefix) = moto_command();
        assert!(
            path.exists(),
            "{} not found.\n\
             Install the emulator with:\n    python3 -m venv {venv} && {venv}/bin/pip install 'moto[server]'\n\
             (`make test` does this) or point MOTO_SERVER at an existing moto_server executable.",
            path.display(),
            venv = workspace_dir().join(".venv").display(),
        );
        let log_path = std::env::temp_dir().join(format!("livehook-moto-{port}.log"));
        let log = std::fs::File::create(&log_path).expect("creating the moto log file");
        let mut child = Command::new(&path)
            .args(&prefix)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("cloning the log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", path.display()));
        let watchdog = Command::new("sh")
            .args([
                "-c",
                "cat >/dev/null; kill \"$0\" 2>/dev/null",
                &child.id().to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()
            .and_then(|mut w| w.stdin.take());

        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!("moto_server exited with {status} before answering:\n{log}");
            }
            if answers(port) {
                break;
            }
            if started.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                panic!(
                    "moto_server did not answer on port {port} within 60 s (log: {})",
                    log_path.display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            child: Mutex::new(child),
            _watchdog: Mutex::new(watchdog),
        }
    }

    /// The PID of the `moto_server` process.
    pub fn pid(&self) -> u32 {
        self.child.lock().map_or(0, |c| c.id())
    }

    /// Injects a fault into the emulator (see `scripts/moto_serial.py`):
    /// the next `count` matching requests fail or have their reply held.
    pub fn inject(&self, fault: &Fault) {
        let mut body = json!({
            "service": fault.service,
            "target": fault.target,
            "operation": fault.operation,
            "count": fault.count,
        });
        match fault.kind {
            FaultKind::Error { status } => body["status"] = json!(status),
            FaultKind::HoldReply { seconds } => body["hold_seconds"] = json!(seconds),
            FaultKind::Refuse {
                code,
                matching,
                entries,
            } => {
                body["refuse"] = json!(code);
                body["match"] = json!(matching);
                body["entries"] = json!(entries);
            }
        }
        let body = body.to_string();
        control(&self.endpoint, "POST", &body);
    }

    /// Removes every fault still pending for `target`.
    pub fn clear_faults(&self, target: &str) {
        control(
            &self.endpoint,
            "DELETE",
            &json!({ "target": target }).to_string(),
        );
    }
}

/// A fault for [`Moto::inject`].
#[derive(Debug, Clone)]
pub struct Fault {
    /// `dynamodb` or `sns` (the request's signing service).
    pub service: &'static str,
    /// The table name or topic ARN the request names: faults never touch
    /// another test's resources.
    pub target: String,
    /// The operation (`PutItem`, `Publish`, `PublishBatch`…); `None`: any.
    pub operation: Option<&'static str>,
    /// How many matching requests it affects.
    pub count: u32,
    /// What happens to them.
    pub kind: FaultKind,
}

/// What a [`Fault`] does.
#[derive(Debug, Clone, Copy)]
pub enum FaultKind {
    /// Answer this HTTP status (5xx) with the service's error, without
    /// passing the request on.
    Error {
        /// The status.
        status: u16,
    },
    /// Pass the request on (a write applies), then hold the reply back this
    /// long before sending it: the client times out after the fact.
    HoldReply {
        /// Seconds.
        seconds: f64,
    },
    /// SNS refuses with this error `code`, as it refuses a message for its
    /// content (`InvalidParameter`, `ParameterValueInvalid`,
    /// `ValidationException`).
    Refuse {
        /// The wire code.
        code: &'static str,
        /// Only requests with a message containing this text meet the fault.
        matching: Option<&'static str>,
        /// A `PublishBatch` is answered entry by entry: the matching entries
        /// fail with `code`, the others are published.
        entries: bool,
    },
}

/// One request to the emulator's fault control endpoint.
fn control(endpoint: &str, method: &str, body: &str) {
    let address = endpoint.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).expect("connecting to the emulator");
    let request = format!(
        "{method} /_livehook/faults HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .expect("writing to the emulator");
    let mut status = String::new();
    BufReader::new(stream)
        .read_line(&mut status)
        .expect("reading the emulator's answer");
    assert!(status.contains(" 200 "), "fault control answered {status}");
}

/// Whether an HTTP server answers on `port`.
fn answers(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream
        .write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut status = String::new();
    BufReader::new(stream).read_line(&mut status).is_ok() && status.starts_with("HTTP/")
}

/// The emulator shared by the tests of this binary.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(Moto::start)
}

// ---------------------------------------------------------------------------
// AWS clients and call counting

/// The AWS operations a client made, in order (one entry per operation,
/// however many attempts it took).
#[derive(Debug, Clone, Default)]
pub struct Calls(Arc<Mutex<Vec<String>>>);

impl Calls {
    /// The operations so far, emptying the record.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().expect("calls lock"))
    }

    /// The operations so far.
    pub fn list(&self) -> Vec<String> {
        self.0.lock().expect("calls lock").clone()
    }
}

/// An SDK interceptor recording each operation's name.
///
/// It hooks `read_before_serialization`, which runs once per operation
/// (before the attempt loop, so retries are not counted twice) and is the
/// first hook of a client-level interceptor that sees the operation's
/// [`Metadata`] (`read_before_execution` of client interceptors runs before
/// the operation's configuration is applied).
#[derive(Debug)]
struct CountCalls(Calls);

impl Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "CountCalls"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let name = cfg
            .load::<Metadata>()
            .map_or_else(|| "<unknown>".to_owned(), |m| m.name().to_owned());
        self.0.0.lock().expect("calls lock").push(name);
        Ok(())
    }
}

/// The SDK configuration for an endpoint: dummy static credentials,
/// us-east-1, and the production retry policy (two attempts) and connect
/// timeout. Attempt timeouts are more generous than production's so that
/// a busy emulator on a small machine does not cause spurious retries.
pub fn sdk_config(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "livehook-tests",
        )))
        .endpoint_url(endpoint)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(500))
                .operation_attempt_timeout(Duration::from_secs(10))
                .operation_timeout(Duration::from_secs(20))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(2))
        .build()
}

/// A DynamoDB client on `endpoint`, counting its operations into `calls`.
pub fn dynamodb_client(endpoint: &str, calls: Option<&Calls>) -> aws_sdk_dynamodb::Client {
    let mut builder = aws_sdk_dynamodb::config::Builder::from(&sdk_config(endpoint));
    if let Some(calls) = calls {
        builder = builder.interceptor(CountCalls(calls.clone()));
    }
    aws_sdk_dynamodb::Client::from_conf(builder.build())
}

/// An SNS client on `endpoint`, counting its operations into `calls`.
pub fn sns_client(endpoint: &str, calls: Option<&Calls>) -> aws_sdk_sns::Client {
    let mut builder = aws_sdk_sns::config::Builder::from(&sdk_config(endpoint));
    if let Some(calls) = calls {
        builder = builder.interceptor(CountCalls(calls.clone()));
    }
    aws_sdk_sns::Client::from_conf(builder.build())
}

/// A DynamoDB Streams client on `endpoint` (the pump's; never counted).
pub fn streams_client(endpoint: &str) -> aws_sdk_dynamodbstreams::Client {
    aws_sdk_dynamodbstreams::Client::from_conf(
        aws_sdk_dynamodbstreams::config::Builder::from(&sdk_config(endpoint)).build(),
    )
}

/// An SQS client on `endpoint` (verification only, never counted).
pub fn sqs_client(endpoint: &str) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&sdk_config(endpoint)).build(),
    )
}

// ---------------------------------------------------------------------------
// Per-test resources

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
        for (k, v) in overrides {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        Config::from_lookup(provider.auth_scheme(), |k| vars.get(k).cloned())
            .expect("a valid configuration")
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
        Relay::new(SnsSink::new(
            sns_client(&self.endpoint, Some(&self.relay_calls)),
            &self.topic_arn,
            self.max_message_bytes.load(Ordering::SeqCst),
        ))
    }

    /// Every AWS operation the pipelines made since the last call, in order.
    pub fn take_calls(&self) -> Vec<String> {
        self.calls.take()
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
    pub async fn publish_pending_with(&self, relay: LiveRelay) -> PollSummary {
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
        self.dynamodb
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .send()
            .await
            .expect("Scan")
            .items
            .unwrap_or_default()
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
pub struct InProcessRelay {
    relay: LiveRelay,
    /// How many of the next invocations publish and then fail to answer.
    lose_answers: AtomicUsize,
}

impl Invoke for InProcessRelay {
    async fn invoke(&self, event: &Event) -> Result<DynamoDbEventResponse, InvokeError> {
        let report = self.relay.relay(event).await;
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

// ---------------------------------------------------------------------------
// Requests and responses

/// The provider of a function name.
pub fn provider_named(name: &str) -> &'static dyn Provider {
    livehook::providers::by_name(name).unwrap_or_else(|| panic!("no provider named {name}"))
}

/// An API Gateway HTTP API (payload v2) event, as JSON.
pub fn apigw_event(method: &str, path: &str, query: &str, body: &[u8]) -> Value {
    let body = std::str::from_utf8(body).expect("test bodies are UTF-8");
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "content-type": "application/json",
            "host": "abc123.execute-api.us-east-1.amazonaws.com",
            "user-agent": "livehook-tests",
            "x-forwarded-proto": "https"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "livehook-tests"
            },
            "requestId": "it-request",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 1767225600000_i64
        },
        "body": body,
        "isBase64Encoded": false
    })
}

/// A `lambda_http::Request` as the Lambda runtime builds it from an API
/// Gateway HTTP API event.
pub fn request(method: &str, path: &str, query: &str, body: &[u8]) -> Request {
    let event = apigw_event(method, path, query, body).to_string();
    lambda_http::request::from_str(&event).expect("an API Gateway v2 event")
}

/// `request` as invocation `request_id` (the Lambda context the runtime
/// attaches): two requests with one id are one invocation's attempts.
pub fn as_invocation(request: Request, request_id: &str) -> Request {
    use lambda_http::RequestExt;
    let mut context = lambda_http::Context::default();
    context.request_id = request_id.to_owned();
    request.with_lambda_context(context)
}

/// A POST with `?token=` of the configured token.
pub fn post(path: &str, body: &[u8]) -> Request {
    request("POST", path, &format!("token={TOKEN}"), body)
}

/// A handled request's answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body text.
    pub body: String,
}

impl Reply {
    /// `Retry-After` in seconds, if present and numeric.
    pub fn retry_after(&self) -> Option<u64> {
        self.headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("reply is not JSON ({e}): {}", self.body))
    }
}

/// Runs `request` through `pipeline`.
pub async fn handle(pipeline: &LivePipeline, request: Request) -> Reply {
    let response = pipeline.handle(request).await;
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: String::from_utf8_lossy(body.as_ref()).into_owned(),
    }
}

// ---------------------------------------------------------------------------
// The functions over HTTP

/// Serves `http://127.0.0.1:<port>/<provider>…` with that provider's pipeline, as API Gateway and
/// the Lambda runtime would hand the request over. Returns the base URL.
pub async fn serve_functions(pipelines: HashMap<&'static str, LivePipeline>) -> String {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("binding the test server");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let pipelines = Arc::new(pipelines);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let pipelines = pipelines.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<Incoming>| {
                    let pipelines = pipelines.clone();
                    async move { Ok::<_, Infallible>(route(&pipelines, request).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    base
}

/// Serves the relay behind the Lambda Invoke API, as `cargo lambda watch`
/// does (`POST /2015-03-31/functions/relay/invocations` with the stream
/// event; the batch response back), for `livehook pump --invoke-url`.
/// Returns the base URL.
pub async fn serve_relay(relay: LiveRelay) -> String {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("binding the relay server");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let relay = Arc::new(relay);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let relay = relay.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<Incoming>| {
                    let relay = relay.clone();
                    async move {
                        let wanted = request.method() == hyper::Method::POST
                            && request.uri().path() == "/2015-03-31/functions/relay/invocations";
                        let body = request
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let answer = match serde_json::from_slice::<Event>(&body) {
                            Ok(event) if wanted => {
                                let report = relay.relay(&event).await;
                                (
                                    200,
                                    serde_json::to_vec(&report.response()).unwrap_or_default(),
                                )
                            }
                            Ok(_) => (404, b"no such function".to_vec()),
                            Err(e) => (400, format!("not a DynamoDB event: {e}").into_bytes()),
                        };
                        Ok::<_, Infallible>(
                            hyper::Response::builder()
                                .status(answer.0)
                                .body(Full::new(Bytes::from(answer.1)))
                                .expect("response"),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    base
}

async fn route(
    pipelines: &HashMap<&'static str, LivePipeline>,
    request: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let provider = parts
        .uri
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("");
    let Some(pipeline) = pipelines.get(provider) else {
        return hyper::Response::builder()
            .status(404)
            .body(Full::new(Bytes::from_static(b"no such function")))
            .expect("response");
    };
    let mut request = lambda_http::Request::new(lambda_http::Body::from(body.to_vec()));
    *request.method_mut() = parts.method;
    *request.uri_mut() = parts.uri;
    *request.headers_mut() = parts.headers;
    let response = pipeline.handle(request).await;
    let (parts, body) = response.into_parts();
    hyper::Response::from_parts(parts, Full::new(Bytes::copy_from_slice(body.as_ref())))
}

// ---------------------------------------------------------------------------
// Logs

/// Every log line the pipelines write during this test binary (JSON, as in
/// Lambda), for tests that prove what never reaches the logs.
pub fn captured_logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let _ = tracing_subscriber::fmt()
            .json()
            .with_writer(move || LogWriter(sink.clone()))
            .try_init();
        logs
    })
}

/// The captured log text so far.
pub fn logs_text() -> String {
    String::from_utf8_lossy(&captured_logs().lock().expect("logs lock")).into_owned()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Samples

/// Now, in Unix seconds.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Now, in Unix milliseconds.
pub fn unix_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A valid Tencent `t`: ten minutes from now.
pub fn fresh_t() -> i64 {
    unix_now() + 600
}

/// The samples folder: `$LIVEHOOK_EVENTS_DIR`, else the workspace's `events/`.
pub fn events_dir() -> PathBuf {
    std::env::var_os("LIVEHOOK_EVENTS_DIR").map_or_else(samples::events_dir, PathBuf::from)
}

/// Every sample of [`events_dir`] (all providers; `events/apigw` and
/// non-JSON files skipped). Panics when there is none.
pub fn samples() -> Vec<Sample> {
    let dir = events_dir();
    let samples = samples::load_dir(&dir)
        .unwrap_or_else(|e| panic!("reading samples from {}: {e}", dir.display()));
    assert!(!samples.is_empty(), "no samples under {}", dir.display());
    samples
}

/// The sample `events/<provider>/<event>.json`.
pub fn sample(provider: &str, event: &str) -> Sample {
    samples()
        .into_iter()
        .find(|s| s.provider == provider && s.event == event)
        .unwrap_or_else(|| panic!("no sample events/{provider}/{event}.json"))
}

/// The body a provider would send for `sample` (Tencent's signed with `t`).
pub fn sample_body(sample: &Sample, t: i64) -> Vec<u8> {
    sample.body_signed(TENCENT_KEY, t)
}

/// The request a provider would send with `body`.
pub fn sample_request(sample: &Sample, body: &[u8]) -> Request {
    request("POST", &sample.path(), &sample.query(TOKEN), body)
}

/// The same as invocation `request_id` (see [`adapter_view_as`]).
pub fn sample_request_as(sample: &Sample, body: &[u8], request_id: &str) -> Request {
    as_invocation(sample_request(sample, body), request_id)
}

/// What the provider's adapter makes of `body` (the expected id, type and
/// stream of a delivery), computed without AWS. For providers that key
/// every delivery apart (lal, SRS) use [`adapter_view_as`].
pub fn adapter_view(stack: &Stack, sample: &Sample, body: &[u8]) -> Delivery {
    adapter_view_as(stack, sample, body, "adapter-view")
}

/// The same for invocation `request_id`.
pub fn adapter_view_as(stack: &Stack, sample: &Sample, body: &[u8], request_id: &str) -> Delivery {
    let provider = provider_named(&sample.provider);
    let config = stack.config(provider, &[]);
    let headers = HeaderMap::new();
    let path = sample.path();
    let query = sample.query(TOKEN);
    let inbound = livehook::inbound::Inbound {
        path: &path,
        query: &query,
        headers: &headers,
        body,
        received_at: time_now(),
        request_id,
        max_message_bytes: config.max_message_bytes,
    };
    provider
        .accept(&inbound, &config.verifier)
        .unwrap_or_else(|e| {
            panic!(
                "{}/{}: adapter refused the sample: {e}",
                sample.provider, sample.event
            )
        })
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// The string value of an item attribute.
pub fn s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

/// The numeric value of an item attribute.
pub fn n(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}
