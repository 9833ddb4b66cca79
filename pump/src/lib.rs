//! `livehook pump`: the DynamoDB stream's event source mapping, played
//! locally.
//!
//! In AWS, Lambda reads the outbox table's stream and invokes the relay with
//! batches of records. Locally (`make dev`, the tests, the bench) nothing
//! does, so the pump reads the stream through the DynamoDB Streams API of the
//! emulator (every shard from its checkpoint, following each shard's
//! iterator), keeps the records the mapping's filter keeps
//! ([`livehook::relay::mapping_filter`]: `INSERT` and `MODIFY` of events,
//! never of stream keys), and invokes the relay with the very event Lambda
//! would send ([`aws_lambda_events::event::dynamodb::Event`]). `batchItemFailures`
//! resume the shard from the lowest failed sequence number, as the mapping
//! does; a failed invocation is retried with back-off. When the table is
//! re-created (a new stream ARN), it starts over on the new stream.
//!
//! It keeps its position as the mapping does: after every accepted batch,
//! the shard's last accepted sequence number goes to its [`Checkpoints`]; a
//! restarted pump resumes each shard after it, and reads from
//! `TRIM_HORIZON` only a stream (or a shard) it has never seen.

mod checkpoint;

pub use checkpoint::{CheckpointError, Checkpoints};

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::time::Duration;

use aws_lambda_events::event::dynamodb::{Event, EventRecord, StreamRecord, StreamViewType};
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use aws_sdk_dynamodbstreams::types::{OperationType, Record, ShardIteratorType};
use livehook::error::error_chain;

/// Lambda's default batch size for DynamoDB streams.
pub const DEFAULT_BATCH_SIZE: usize = 100;
/// The longest pause between retries of a failing batch: the mapping
/// retries at once, so a local pump should not wait much longer.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The pause between polls of a stream with nothing new.
pub const IDLE_POLL: Duration = Duration::from_millis(200);

/// Why a poll could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PumpError {
    /// DynamoDB or DynamoDB Streams failed (emulator down, table missing…).
    #[error("{0}")]
    Aws(String),
    /// The table has no stream to read.
    #[error("table {0} has no stream (it needs StreamSpecification NEW_IMAGE)")]
    NoStream(String),
    /// The checkpoint file could not be written.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

/// Why an invocation failed: the whole batch is retried.
#[derive(Debug, thiserror::Error)]
#[error("invoking the relay: {0}")]
pub struct InvokeError(pub String);

/// How the pump hands a batch to the relay.
pub trait Invoke: Send + Sync {
    /// Invokes the relay with `event`; its answer names the records to retry.
    fn invoke(
        &self,
        event: &Event,
    ) -> impl Future<Output = Result<DynamoDbEventResponse, InvokeError>> + Send;
}

/// [`Invoke`] through the Lambda Invoke API (what `cargo lambda watch`
/// serves): `POST <base>/2015-03-31/functions/<function>/invocations`.
#[derive(Debug, Clone)]
pub struct HttpInvoke {
    client: reqwest::Client,
    url: String,
}

impl HttpInvoke {
    /// Invokes `function` at `invoke_url` (e.g. `http://127.0.0.1:9000`).
    pub fn new(invoke_url: &str, function: &str) -> Self {
        HttpInvoke {
            // `cargo lambda watch` compiles a function on its first invocation.
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(900))
                .build()
                .unwrap_or_default(),
            url: format!(
                "{}/2015-03-31/functions/{function}/invocations",
                invoke_url.trim_end_matches('/')
            ),
        }
    }
}

impl Invoke for HttpInvoke {
    async fn invoke(&self, event: &Event) -> Result<DynamoDbEventResponse, InvokeError> {
        let response = self
            .client
            .post(&self.url)
            .json(event)
            .send()
            .await
            .map_err(|e| InvokeError(format!("{}: {e}", self.url)))?;
        let status = response.status();
        let function_error = response.headers().contains_key("x-amz-function-error");
        let body = response
            .text()
            .await
            .map_err(|e| InvokeError(e.to_string()))?;
        if !status.is_success() || function_error {
            return Err(InvokeError(format!(
                "{status}: {}",
                body.chars().take(500).collect::<String>()
            )));
        }
        serde_json::from_str(&body).map_err(|e| {
            InvokeError(format!(
                "the relay's answer is not a batch response ({e}): {body}"
            ))
        })
    }
}

/// What one batch came to, for the pump's one line per batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    /// The shard.
    pub shard: String,
    /// Records in the batch.
    pub records: usize,
    /// Records the relay asked to retry (from the lowest failed one on).
    pub retried: usize,
    /// The invocation's error, if it failed as a whole.
    pub error: Option<String>,
}

/// What one poll did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollSummary {
    /// Invocations made.
    pub invocations: usize,
    /// Records handed over and accepted (not to be retried).
    pub delivered: usize,
    /// Batches that failed (in whole or part).
    pub failed_batches: usize,
    /// Records read but not yet accepted by the relay.
    pub pending: usize,
}

#[derive(Debug, Default)]
struct Shard {
    iterator: Option<String>,
    /// Read, not yet accepted by the relay, in order.
    pending: VecDeque<EventRecord>,
    /// The last sequence number read (to resume after a lost iterator).
    last_read: Option<String>,
    /// The shard has ended (no next iterator).
    closed: bool,
}

/// The local event source mapping of one table.
pub struct Pump<I> {
    dynamodb: aws_sdk_dynamodb::Client,
    streams: aws_sdk_dynamodbstreams::Client,
    table: String,
    invoke: I,
    batch_size: usize,
    stream_arn: Option<String>,
    shards: BTreeMap<String, Shard>,
    checkpoints: Checkpoints,
    /// The current stream was resumed from checkpoints.
    resumed: bool,
}

/// Sequence numbers are decimal strings of varying length.
fn sequence_order(sequence: &str) -> (usize, &str) {
    (sequence.len(), sequence)
}

/// The record Lambda would hand the relay for a Streams API record.
pub fn lambda_record(record: &Record, stream_arn: &str) -> Option<EventRecord> {
    let change = record.dynamodb()?;
    let mut stream_record = StreamRecord::default();
    if let Some(at) = change.approximate_creation_date_time() {
        stream_record.approximate_creation_date_time =
            chrono::DateTime::from_timestamp(at.secs(), at.subsec_nanos()).unwrap_or_default();
    }
    stream_record.keys = change.keys().cloned().unwrap_or_default().into();
    stream_record.new_image = change.new_image().cloned().unwrap_or_default().into();
    stream_record.old_image = change.old_image().cloned().unwrap_or_default().into();
    stream_record.sequence_number = change.sequence_number().map(str::to_owned);
    stream_record.size_bytes = change.size_bytes().unwrap_or(0);
    stream_record.stream_view_type = change.stream_view_type().map(|view| match view.as_str() {
        "NEW_IMAGE" => StreamViewType::NewImage,
        "OLD_IMAGE" => StreamViewType::OldImage,
        "NEW_AND_OLD_IMAGES" => StreamViewType::NewAndOldImages,
        _ => StreamViewType::KeysOnly,
    });
    let mut event_record = EventRecord::default();
    event_record.aws_region = record.aws_region().unwrap_or("us-east-1").to_owned();
    event_record.change = stream_record;
    event_record.event_id = record.event_id().unwrap_or_default().to_owned();
    event_record.event_name = record
        .event_name()
        .map_or("", OperationType::as_str)
        .to_owned();
    event_record.event_source = Some("aws:dynamodb".to_owned());
    event_record.event_version = record.event_version().map(str::to_owned);
    event_record.event_source_arn = Some(stream_arn.to_owned());
    Some(event_record)
}

impl<I: Invoke> Pump<I> {
    /// A pump for `table`, invoking through `invoke` with batches of at most
    /// `batch_size` records.
    pub fn new(
        dynamodb: aws_sdk_dynamodb::Client,
        streams: aws_sdk_dynamodbstreams::Client,
        table: impl Into<String>,
        invoke: I,
        batch_size: usize,
    ) -> Self {
        Pump {
            dynamodb,
            streams,
            table: table.into(),
            invoke,
            batch_size: batch_size.max(1),
            stream_arn: None,
            shards: BTreeMap::new(),
            checkpoints: Checkpoints::in_memory(),
            resumed: false,
        }
    }

    /// The same pump keeping its position in `checkpoints` (resuming from
    /// what they hold).
    #[must_use]
    pub fn with_checkpoints(mut self, checkpoints: Checkpoints) -> Self {
        self.checkpoints = checkpoints;
        self
    }

    /// Whether the stream being read was resumed from a checkpoint (else it
    /// is read from `TRIM_HORIZON`).
    pub fn resumed(&self) -> bool {
        self.resumed
    }

    /// The largest batch it hands over.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The stream being read, once known.
    pub fn stream_arn(&self) -> Option<&str> {
        self.stream_arn.as_deref()
    }

    /// The invoker (tests reach the in-process relay through it).
    pub fn invoker(&self) -> &I {
        &self.invoke
    }

    /// One pass over every shard: reads what is new, invokes the relay with
    /// it batch by batch, and stops a shard at its first failed batch (which
    /// the next poll retries). `on_batch` sees each batch's outcome.
    pub async fn poll(
        &mut self,
        on_batch: &mut (dyn FnMut(&BatchOutcome) + Send),
    ) -> Result<PollSummary, PumpError> {
        self.follow_stream().await?;
        let Some(stream_arn) = self.stream_arn.clone() else {
            return Err(PumpError::NoStream(self.table.clone()));
        };
        let mut summary = PollSummary::default();
        let shard_ids: Vec<String> = self.shards.keys().cloned().collect();
        for shard_id in shard_ids {
            self.read_shard(&stream_arn, &shard_id).await?;
            while let Some(shard) = self
                .shards
                .get_mut(&shard_id)
                .filter(|s| !s.pending.is_empty())
            {
                let take = shard.pending.len().min(self.batch_size);
                let mut event = Event::default();
                event.records = shard.pending.iter().take(take).cloned().collect();
                summary.invocations += 1;
                let outcome = match self.invoke.invoke(&event).await {
                    Ok(response) => {
                        // Lambda resumes from the lowest failed sequence number.
                        let lowest = response
                            .batch_item_failures
                            .iter()
                            .filter_map(|f| f.item_identifier.as_deref())
                            .min_by_key(|s| sequence_order(s));
                        let resume_at = lowest.and_then(|lowest| {
                            event
                                .records
                                .iter()
                                .position(|r| r.change.sequence_number.as_deref() == Some(lowest))
                        });
                        let accepted = resume_at.unwrap_or(take);
                        let last_accepted = accepted
                            .checked_sub(1)
                            .and_then(|i| event.records[i].change.sequence_number.as_deref());
                        if let Some(sequence) = last_accepted {
                            self.checkpoints.set(&stream_arn, &shard_id, sequence)?;
                        }
                        shard.pending.drain(..accepted);
                        summary.delivered += accepted;
                        BatchOutcome {
                            shard: shard_id.clone(),
                            records: take,
                            retried: take - accepted,
                            error: None,
                        }
                    }
                    Err(e) => BatchOutcome {
                        shard: shard_id.clone(),
                        records: take,
                        retried: take,
                        error: Some(e.to_string()),
                    },
                };
                on_batch(&outcome);
                if outcome.retried > 0 {
                    summary.failed_batches += 1;
                    break;
                }
            }
        }
        summary.pending = self.shards.values().map(|s| s.pending.len()).sum();
        Ok(summary)
    }

    /// Polls until the stream has nothing new and nothing is pending, or a
    /// batch fails (the tests' "publish what was written"). Returns the sum.
    pub async fn drain(&mut self) -> Result<PollSummary, PumpError> {
        let mut total = PollSummary::default();
        loop {
            let poll = self.poll(&mut |_| {}).await?;
            total.invocations += poll.invocations;
            total.delivered += poll.delivered;
            total.failed_batches += poll.failed_batches;
            total.pending = poll.pending;
            if poll.failed_batches > 0 || (poll.invocations == 0 && poll.pending == 0) {
                return Ok(total);
            }
        }
    }

    /// Polls until `stop` completes, printing through `report` a line per
    /// batch and per error, backing off (up to [`MAX_BACKOFF`]) while
    /// batches fail or AWS is unreachable.
    pub async fn run(
        &mut self,
        stop: impl Future<Output = ()>,
        report: &mut (dyn FnMut(String) + Send),
    ) {
        tokio::pin!(stop);
        let mut backoff = Duration::from_millis(100);
        let mut last_stream: Option<String> = None;
        loop {
            let mut lines = Vec::new();
            let polled = self
                .poll(&mut |batch| {
                    lines.push(match &batch.error {
                        None if batch.retried == 0 => {
                            format!("pump: {} records → relay: ok", batch.records)
                        }
                        None => format!(
                            "pump: {} records → relay: {} to retry from the lowest failed",
                            batch.records, batch.retried
                        ),
                        Some(e) => format!("pump: {} records → {e}; retrying", batch.records),
                    })
                })
                .await;
            if self.stream_arn != last_stream {
                if let Some(arn) = &self.stream_arn {
                    let from = if self.resumed {
                        "its checkpoints"
                    } else {
                        "TRIM_HORIZON"
                    };
                    report(format!("pump: reading {arn} from {from}"));
                }
                last_stream = self.stream_arn.clone();
            }
            for line in lines {
                report(line);
            }
            let pause = match polled {
                Ok(summary) if summary.failed_batches > 0 => {
                    let pause = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    pause
                }
                Ok(_) => {
                    backoff = Duration::from_millis(100);
                    IDLE_POLL
                }
                Err(e) => {
                    report(format!("pump: {e}; retrying"));
                    let pause = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    pause
                }
            };
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Finds the table's current stream and its shards; a new stream (the
    /// table was re-created) starts over.
    async fn follow_stream(&mut self) -> Result<(), PumpError> {
        let described = self
            .dynamodb
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| {
                PumpError::Aws(format!("DescribeTable {}: {}", self.table, error_chain(&e)))
            })?;
        let arn = described
            .table()
            .and_then(|t| t.latest_stream_arn())
            .map(str::to_owned)
            .ok_or_else(|| PumpError::NoStream(self.table.clone()))?;
        if self.stream_arn.as_deref() != Some(arn.as_str()) {
            self.resumed = self.checkpoints.knows(&arn);
            self.stream_arn = Some(arn.clone());
            self.shards.clear();
        }
        let mut start: Option<String> = None;
        loop {
            let page = self
                .streams
                .describe_stream()
                .stream_arn(&arn)
                .set_exclusive_start_shard_id(start.clone())
                .send()
                .await
                .map_err(|e| PumpError::Aws(format!("DescribeStream: {}", error_chain(&e))))?;
            let Some(description) = page.stream_description() else {
                break;
            };
            for shard in description.shards() {
                if let Some(id) = shard.shard_id() {
                    self.shards.entry(id.to_owned()).or_default();
                }
            }
            start = description.last_evaluated_shard_id().map(str::to_owned);
            if start.is_none() {
                break;
            }
        }
        Ok(())
    }

    /// Reads a shard until it has nothing new or a batch's worth is pending.
    async fn read_shard(&mut self, stream_arn: &str, shard_id: &str) -> Result<(), PumpError> {
        let Some(shard) = self.shards.get_mut(shard_id) else {
            return Ok(());
        };
        if shard.closed {
            return Ok(());
        }
        if shard.iterator.is_none() {
            let mut request = self
                .streams
                .get_shard_iterator()
                .stream_arn(stream_arn)
                .shard_id(shard_id);
            // Where this pump last read, else where a former one's relay
            // last accepted, else (a shard never seen) the shard's start.
            let after = shard
                .last_read
                .as_deref()
                .or_else(|| self.checkpoints.get(stream_arn, shard_id));
            request = match after {
                Some(sequence) => request
                    .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                    .sequence_number(sequence),
                None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
            };
            let iterator = request
                .send()
                .await
                .map_err(|e| PumpError::Aws(format!("GetShardIterator: {}", error_chain(&e))))?;
            shard.iterator = iterator.shard_iterator().map(str::to_owned);
        }
        while shard.pending.len() < self.batch_size {
            let Some(iterator) = shard.iterator.clone() else {
                shard.closed = true;
                break;
            };
            let read = match self
                .streams
                .get_records()
                .shard_iterator(iterator)
                .send()
                .await
            {
                Ok(read) => read,
                Err(e) => {
                    // An expired or unknown iterator: the next poll asks again
                    // from the last record read.
                    shard.iterator = None;
                    return Err(PumpError::Aws(format!("GetRecords: {}", error_chain(&e))));
                }
            };
            shard.iterator = read.next_shard_iterator().map(str::to_owned);
            let records = read.records();
            if records.is_empty() {
                break;
            }
            for record in records {
                if let Some(sequence) = record.dynamodb().and_then(|d| d.sequence_number()) {
                    shard.last_read = Some(sequence.to_owned());
                }
                // The mapping's filter: INSERT and MODIFY, never the TTL's
                // REMOVE, and never a stream key.
                if let Some(lambda) = lambda_record(record, stream_arn)
                    && livehook::relay::mapping_admits(&lambda)
                {
                    shard.pending.push_back(lambda);
                }
            }
        }
        Ok(())
    }
}
