//! The emulator itself (scripts/moto_serial.py): it must refuse what AWS
//! refuses, or a test passes here and the code fails in production. Black
//! box, through the AWS SDK the functions use: SNS's message-size, batch and
//! FIFO-id rules with SNS's own error codes, HTTP/1.1 keep-alive, atomic
//! conditional writes under concurrency, and all-or-nothing transactions.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use livehook_testkit::*;

/// Every topic's default `MaximumMessageSize`.
const DEFAULT_MAX: usize = 262_144;
/// The highest `MaximumMessageSize` a topic may set.
const HIGHEST_MAX: usize = 1_048_576;

/// Asserts the call was refused with `code` and HTTP 400.
fn assert_refused<T, E>(result: Result<T, SdkError<E, HttpResponse>>, code: &str, ctx: &str)
where
    T: std::fmt::Debug,
    E: ProvideErrorMetadata + std::fmt::Debug,
{
    match result {
        Ok(ok) => panic!("{ctx}: accepted ({ok:?}), AWS refuses it"),
        Err(e) => {
            assert_eq!(e.code(), Some(code), "{ctx}: error code ({e:?})");
            let status = e.raw_response().map(|r| r.status().as_u16());
            assert_eq!(status, Some(400), "{ctx}: HTTP status");
        }
    }
}

fn sns() -> aws_sdk_sns::Client {
    sns_client(&moto().endpoint, None)
}

/// A topic without subscriptions; `attributes` as in CreateTopic.
async fn topic(sns: &aws_sdk_sns::Client, label: &str, attributes: &[(&str, &str)]) -> String {
    let fifo = attributes
        .iter()
        .any(|(k, v)| *k == "FifoTopic" && *v == "true");
    let name = format!("{}{}", unique_name(label), if fifo { ".fifo" } else { "" });
    let mut create = sns.create_topic().name(name);
    for (k, v) in attributes {
        create = create.attributes(*k, *v);
    }
    create
        .send()
        .await
        .expect("CreateTopic")
        .topic_arn()
        .expect("topic arn")
        .to_owned()
}

fn string_attribute(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .expect("message attribute")
}

fn entry(id: usize, message: String) -> PublishBatchRequestEntry {
    PublishBatchRequestEntry::builder()
        .id(format!("e{id}"))
        .message(message)
        .build()
        .expect("batch entry")
}

#[tokio::test]
async fn publish_is_measured_in_bytes_with_attributes() {
    let sns = sns();
    let arn = topic(&sns, "size", &[]).await;

    sns.publish()
        .topic_arn(&arn)
        .message("x".repeat(DEFAULT_MAX))
        .send()
        .await
        .expect("a message of exactly 256 KiB is accepted");
    assert_refused(
        sns.publish()
            .topic_arn(&arn)
            .message("x".repeat(DEFAULT_MAX + 1))
            .send()
            .await,
        "InvalidParameter",
        "256 KiB + 1 byte",
    );

    // Bytes, not characters: 87 382 three-byte characters are 262 146 bytes.
    let chinese = "直".repeat(DEFAULT_MAX / 3 + 1);
    assert!(chinese.chars().count() < DEFAULT_MAX && chinese.len() > DEFAULT_MAX);
    assert_refused(
        sns.publish().topic_arn(&arn).message(chinese).send().await,
        "InvalidParameter",
        "multi-byte body over the limit in bytes",
    );

    // Attribute name ("k", 1) + data type ("String", 6) + value count too.
    let body = "x".repeat(DEFAULT_MAX - 10);
    sns.publish()
        .topic_arn(&arn)
        .message(&body)
        .message_attributes("k", string_attribute("abc"))
        .send()
        .await
        .expect("body + attribute of exactly 256 KiB is accepted");
    assert_refused(
        sns.publish()
            .topic_arn(&arn)
            .message(&body)
            .message_attributes("k", string_attribute("abcd"))
            .send()
            .await,
        "InvalidParameter",
        "body + attribute one byte over",
    );
}

#[tokio::test]
async fn topic_maximum_message_size_is_honoured() {
    let sns = sns();

    // Raised to 1 MiB at creation.
    let large = topic(&sns, "large", &[("MaximumMessageSize", "1048576")]).await;
    sns.publish()
        .topic_arn(&large)
        .message("x".repeat(600 * 1024))
        .send()
        .await
        .expect("a 1 MiB topic accepts 600 KiB");
    sns.publish()
        .topic_arn(&large)
        .message("x".repeat(HIGHEST_MAX))
        .send()
        .await
        .expect("a 1 MiB topic accepts exactly 1 MiB");
    assert_refused(
        sns.publish()
            .topic_arn(&large)
            .message("x".repeat(HIGHEST_MAX + 1))
            .send()
            .await,
        "InvalidParameter",
        "1 MiB + 1 byte on a 1 MiB topic",
    );

    // Lowered with SetTopicAttributes.
    let small = topic(&sns, "small", &[]).await;
    sns.set_topic_attributes()
        .topic_arn(&small)
        .attribute_name("MaximumMessageSize")
        .attribute_value("1024")
        .send()
        .await
        .expect("SetTopicAttributes MaximumMessageSize 1024");
    sns.publish()
        .topic_arn(&small)
        .message("x".repeat(1024))
        .send()
        .await
        .expect("exactly 1 KiB on a 1 KiB topic");
    assert_refused(
        sns.publish()
            .topic_arn(&small)
            .message("x".repeat(1025))
            .send()
            .await,
        "InvalidParameter",
        "1 KiB + 1 byte on a 1 KiB topic",
    );

    // Out of SNS's range, either way.
    for value in ["1023", "1048577", "big"] {
        assert_refused(
            sns.set_topic_attributes()
                .topic_arn(&small)
                .attribute_name("MaximumMessageSize")
                .attribute_value(value)
                .send()
                .await,
            "InvalidParameter",
            &format!("SetTopicAttributes MaximumMessageSize {value}"),
        );
        assert_refused(
            sns.create_topic()
                .name(unique_name("bad-max"))
                .attributes("MaximumMessageSize", value)
                .send()
                .await,
            "InvalidParameter",
            &format!("CreateTopic MaximumMessageSize {value}"),
        );
    }
}

#[tokio::test]
async fn publish_batch_limits() {
    let sns = sns();
    let arn = topic(&sns, "batch", &[]).await;

    let ten: Vec<_> = (0..10).map(|i| entry(i, format!("m{i}"))).collect();
    let accepted = sns
        .publish_batch()
        .topic_arn(&arn)
        .set_publish_batch_request_entries(Some(ten))
        .send()
        .await
        .expect("10 entries are accepted");
    assert_eq!(accepted.successful().len(), 10);

    let eleven: Vec<_> = (0..11).map(|i| entry(i, format!("m{i}"))).collect();
    assert_refused(
        sns.publish_batch()
            .topic_arn(&arn)
            .set_publish_batch_request_entries(Some(eleven))
            .send()
            .await,
        "TooManyEntriesInBatchRequest",
        "11 entries",
    );

    // Ten entries of 26 214 bytes, one of 26 218: exactly 256 KiB in total.
    let exact: Vec<_> = (0..10)
        .map(|i| entry(i, "x".repeat(DEFAULT_MAX / 10 + usize::from(i == 0) * 4)))
        .collect();
    let accepted = sns
        .publish_batch()
        .topic_arn(&arn)
        .set_publish_batch_request_entries(Some(exact))
        .send()
        .await
        .expect("a batch of exactly 256 KiB is accepted");
    assert_eq!(accepted.successful().len(), 10);

    let over: Vec<_> = (0..10)
        .map(|i| entry(i, "x".repeat(DEFAULT_MAX / 10 + usize::from(i == 0) * 5)))
        .collect();
    assert_refused(
        sns.publish_batch()
            .topic_arn(&arn)
            .set_publish_batch_request_entries(Some(over))
            .send()
            .await,
        "BatchRequestTooLong",
        "a batch one byte over 256 KiB",
    );

    // Attributes count towards the batch too.
    let with_attribute = PublishBatchRequestEntry::builder()
        .id("a")
        .message("x".repeat(DEFAULT_MAX - 10))
        .message_attributes("k", string_attribute("abcd"))
        .build()
        .expect("batch entry");
    assert_refused(
        sns.publish_batch()
            .topic_arn(&arn)
            .publish_batch_request_entries(with_attribute)
            .send()
            .await,
        "BatchRequestTooLong",
        "one entry whose attribute takes it over",
    );
}

#[tokio::test]
async fn fifo_ids_must_be_printable_ascii() {
    let sns = sns();
    let arn = topic(&sns, "fifo", &[("FifoTopic", "true")]).await;
    let publish = |group: &str, dedup: &str| {
        sns.publish()
            .topic_arn(&arn)
            .message("m")
            .message_group_id(group)
            .message_deduplication_id(dedup)
            .send()
    };

    let punctuation = r##"room-1_!"#$%&'()*+,-./:;<=>?@[\]^`{|}~"##;
    publish(punctuation, punctuation)
        .await
        .expect("letters, digits and punctuation are accepted");
    let longest = "g".repeat(128);
    publish(&longest, &longest)
        .await
        .expect("128 characters are accepted");

    for bad in ["直播 1", "live 1", "直播", "tab\there", &"g".repeat(129)] {
        assert_refused(
            publish(bad, "d1").await,
            "InvalidParameter",
            &format!("MessageGroupId {bad:?}"),
        );
        assert_refused(
            publish("g1", bad).await,
            "InvalidParameter",
            &format!("MessageDeduplicationId {bad:?}"),
        );
    }

    // In a batch, one bad entry refuses the request.
    let good = PublishBatchRequestEntry::builder()
        .id("good")
        .message("m")
        .message_group_id("g1")
        .message_deduplication_id("d-good")
        .build()
        .expect("batch entry");
    let bad = PublishBatchRequestEntry::builder()
        .id("bad")
        .message("m")
        .message_group_id("直播 1")
        .message_deduplication_id("d-bad")
        .build()
        .expect("batch entry");
    assert_refused(
        sns.publish_batch()
            .topic_arn(&arn)
            .publish_batch_request_entries(good.clone())
            .publish_batch_request_entries(bad)
            .send()
            .await,
        "InvalidParameter",
        "a batch entry with group id 直播 1",
    );
    let accepted = sns
        .publish_batch()
        .topic_arn(&arn)
        .publish_batch_request_entries(good)
        .send()
        .await
        .expect("a batch of valid ids");
    assert_eq!(accepted.successful().len(), 1);
}

/// Reads one HTTP response (status line, headers, Content-Length body) and
/// returns the status line and the headers, lower-cased.
fn read_response(reader: &mut BufReader<TcpStream>) -> (String, Vec<String>) {
    let mut status = String::new();
    reader.read_line(&mut status).expect("status line");
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("header line");
        let line = line.trim_end().to_ascii_lowercase();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("content-length:") {
            length = v.trim().parse().expect("Content-Length");
        }
        headers.push(line);
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("response body");
    (status.trim_end().to_owned(), headers)
}

#[test]
fn http11_connections_are_kept_alive() {
    let port = moto().port();
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    let mut writer = stream.try_clone().expect("clone stream");
    let mut reader = BufReader::new(stream);
    for n in 1..=2 {
        writer
            .write_all(b"GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap_or_else(|e| panic!("request {n} on the same connection: {e}"));
        let (status, headers) = read_response(&mut reader);
        assert_eq!(status, "HTTP/1.1 200 OK", "response {n}");
        assert!(
            !headers.iter().any(|h| h == "connection: close"),
            "response {n} closes the connection: {headers:?}"
        );
    }
}

/// 20 concurrent conditional puts on one key: exactly one wins. moto reads
/// the item, then parses the condition, then writes; the long condition and
/// the wide item stretch that window so that an emulator letting requests in
/// concurrently (moto_server itself) loses this race in practice every time
/// (measured: 3 of 3 rounds had several winners), and a serialized one never.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_conditional_puts_are_atomic() {
    let stack = Stack::new("atomic").await;
    // Under DynamoDB's 4 KB expression limit.
    let condition = format!(
        "attribute_not_exists(pk) AND ({})",
        (0..130)
            .map(|i| format!("attribute_not_exists(a{i})"))
            .collect::<Vec<_>>()
            .join(" OR ")
    );
    let tasks: Vec<_> = (0..20)
        .map(|writer| {
            let mut put = stack
                .dynamodb
                .put_item()
                .table_name(&stack.table)
                .item("pk", AttributeValue::S("one-key".into()))
                .item("writer", AttributeValue::N(writer.to_string()))
                .condition_expression(&condition);
            for i in 0..300 {
                put = put.item(format!("a{i}"), AttributeValue::S("v".repeat(10)));
            }
            tokio::spawn(put.send())
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => won += 1,
            Err(e) => assert!(
                e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()),
                "a loser must fail its condition, not {e:?}"
            ),
        }
    }
    assert_eq!(won, 1, "exactly one conditional put wins");
}

/// Another process's server already answers on the port an emulator is
/// started on (test processes run side by side: other test binaries, CI
/// jobs): the start fails, and never hands that server back as this
/// process's emulator, where its tests would meet another process's tables.
#[test]
fn an_emulator_never_takes_another_server_on_its_port_for_itself() {
    let foreign = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind");
    let port = foreign.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for mut stream in foreign.incoming().flatten() {
            let _ = stream.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let started = std::panic::catch_unwind(|| Moto::start_on(port));
    assert!(
        started.is_err(),
        "an emulator was started on port {port}, where another server answers"
    );
}

/// The emulator reports how long it took over each AWS request (the bench
/// subtracts it from the functions' latency): one timing per request, in
/// order, each within the time the client waited for it; its own API (the
/// faults, the published record, the timings) is not timed.
#[tokio::test]
async fn the_emulator_times_each_aws_request() {
    let moto = Moto::start();
    let dynamodb = dynamodb_client(&moto.endpoint, None);
    let unix_ns = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after the epoch")
            .as_nanos()
    };
    let mut waits = Vec::new();
    for _ in 0..3 {
        let sent = unix_ns();
        dynamodb.list_tables().send().await.expect("ListTables");
        waits.push((sent, unix_ns()));
        moto.clear_faults("nothing");
    }
    let timings = moto.timings(waits[0].0).expect("the timings");
    assert_eq!(timings.len(), 3, "one per AWS request: {timings:?}");
    for ((start, duration), (sent, answered)) in timings.iter().zip(&waits) {
        assert!(*duration > 0, "{timings:?}");
        assert!(
            sent <= start && start + duration <= *answered,
            "within the client's wait: {timings:?} {waits:?}"
        );
    }
    let later = moto.timings(waits[2].0).expect("the timings");
    assert_eq!(later, timings[2..], "from a start on");
}

/// A write that declares an expression value or name its expressions do not
/// use: AWS refuses it (ValidationException), moto accepts it. The same in a
/// transaction's operations (the stream keys' admission), and a used one
/// passes.
#[tokio::test]
async fn unused_expression_values_and_names_are_refused() {
    use aws_sdk_dynamodb::types::{ConditionCheck, Put, TransactWriteItem};
    let stack = Stack::new("unused-expr").await;
    let put = || {
        stack
            .dynamodb
            .put_item()
            .table_name(&stack.table)
            .item("pk", AttributeValue::S("k".into()))
            .condition_expression("attribute_not_exists(pk)")
    };
    assert_refused(
        put()
            .expression_attribute_values(":window", AttributeValue::N("1".into()))
            .send()
            .await,
        "ValidationException",
        "an unused value",
    );
    assert_refused(
        put()
            .expression_attribute_names("#type", "type")
            .send()
            .await,
        "ValidationException",
        "an unused name",
    );
    let transaction = |check_values: &[(&str, &str)]| {
        let mut check = ConditionCheck::builder()
            .table_name(&stack.table)
            .key("pk", AttributeValue::S("streamkey#publish#live/x".into()))
            .condition_expression("attribute_not_exists(pk) OR key_sha256 = :hash");
        for (name, value) in check_values {
            check = check.expression_attribute_values(*name, AttributeValue::S((*value).into()));
        }
        let put = Put::builder()
            .table_name(&stack.table)
            .item("pk", AttributeValue::S("record".into()))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .expect("a put");
        stack
            .dynamodb
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .condition_check(check.build().expect("a check"))
                    .build(),
            )
            .transact_items(TransactWriteItem::builder().put(put).build())
            .send()
    };
    assert_refused(
        transaction(&[(":hash", "h"), (":now", "t")]).await,
        "ValidationException",
        "an unused value in a transaction",
    );
    transaction(&[(":hash", "h")])
        .await
        .expect("every value used: accepted");
}

/// An iterator at the start of the table's stream.
async fn stream_start(stack: &Stack) -> (aws_sdk_dynamodbstreams::Client, Option<String>) {
    use aws_sdk_dynamodbstreams::types::ShardIteratorType;
    let streams = streams_client(&stack.endpoint);
    let arn = stack
        .dynamodb
        .describe_table()
        .table_name(&stack.table)
        .send()
        .await
        .expect("DescribeTable")
        .table
        .and_then(|t| t.latest_stream_arn)
        .expect("a stream");
    let shard = streams
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .expect("DescribeStream")
        .stream_description
        .and_then(|d| d.shards.and_then(|s| s.into_iter().next()))
        .and_then(|s| s.shard_id)
        .expect("a shard");
    let iterator = streams
        .get_shard_iterator()
        .stream_arn(&arn)
        .shard_id(&shard)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .expect("GetShardIterator")
        .shard_iterator;
    (streams, iterator)
}

/// The keys (`pk`) of the stream records an iterator reads, in order.
async fn stream_keys(
    streams: &aws_sdk_dynamodbstreams::Client,
    mut iterator: Option<String>,
) -> Vec<String> {
    let mut keys = Vec::new();
    for _ in 0..3 {
        let page = streams
            .get_records()
            .set_shard_iterator(iterator.take())
            .send()
            .await
            .expect("GetRecords");
        for record in page.records() {
            let key = record
                .dynamodb()
                .and_then(|d| d.keys())
                .and_then(|k| k.get("pk"))
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            keys.push(key);
        }
        iterator = page.next_shard_iterator;
    }
    keys
}

/// A cancelled transaction writes nothing to the table's stream, and a
/// stream reader that was already reading sees the writes after it (moto
/// leaves the cancelled writes in the stream its readers hold and hides the
/// later ones; the wrapper does as AWS does). A refused stream key's event
/// record must never be published.
#[tokio::test]
async fn a_cancelled_transaction_leaves_no_stream_record() {
    use aws_sdk_dynamodb::types::{ConditionCheck, Put, TransactWriteItem};
    let stack = Stack::new("cancelled-tx").await;
    let (streams, iterator) = stream_start(&stack).await;

    let check = ConditionCheck::builder()
        .table_name(&stack.table)
        .key("pk", AttributeValue::S("no-such-key".into()))
        .condition_expression("attribute_exists(pk)")
        .build()
        .expect("a check");
    let put = Put::builder()
        .table_name(&stack.table)
        .item("pk", AttributeValue::S("cancelled".into()))
        .build()
        .expect("a put");
    let cancelled = stack
        .dynamodb
        .transact_write_items()
        .transact_items(TransactWriteItem::builder().condition_check(check).build())
        .transact_items(TransactWriteItem::builder().put(put).build())
        .send()
        .await;
    assert!(cancelled.is_err(), "the condition fails");
    stack
        .put_item(std::collections::HashMap::from([(
            "pk".to_owned(),
            AttributeValue::S("after".into()),
        )]))
        .await;
    assert!(stack.item("cancelled").await.is_none());
    assert_eq!(
        stream_keys(&streams, iterator).await,
        ["after"],
        "the stream's records"
    );
}

/// A transaction cancelled by its last operation's condition leaves every
/// item as it was, though moto applied the operations before it: an item an
/// Update changed in place, one a Delete removed, one a Put created, each in
/// tables that hold other items; the reasons are AWS's, one per operation,
/// with the failed condition's old item when asked for; and the stream holds
/// nothing of it. A transaction that commits is all there.
#[tokio::test]
async fn a_cancelled_transaction_undoes_every_write() {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    use aws_sdk_dynamodb::types::{
        ConditionCheck, Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
    };
    use std::collections::HashMap;
    let stack = Stack::new("undone-tx").await;
    let item = |pk: &str, n: &str| {
        HashMap::from([
            ("pk".to_owned(), AttributeValue::S(pk.into())),
            ("n".to_owned(), AttributeValue::N(n.into())),
        ])
    };
    let (streams, iterator) = stream_start(&stack).await;
    let before = ["updated", "deleted", "bystander", "checked"];
    for pk in before {
        stack.put_item(item(pk, "1")).await;
    }
    let key = |pk: &str| AttributeValue::S(pk.into());
    let update = Update::builder()
        .table_name(&stack.table)
        .key("pk", key("updated"))
        .update_expression("SET n = n + :one, added = :one")
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .build()
        .expect("an update");
    let delete = Delete::builder()
        .table_name(&stack.table)
        .key("pk", key("deleted"))
        .build()
        .expect("a delete");
    let put = Put::builder()
        .table_name(&stack.table)
        .item("pk", key("created"))
        .build()
        .expect("a put");
    let check = ConditionCheck::builder()
        .table_name(&stack.table)
        .key("pk", key("checked"))
        .condition_expression("attribute_not_exists(pk)")
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .expect("a check");
    let transaction = |check: Option<ConditionCheck>| {
        let mut request = stack
            .dynamodb
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update.clone()).build())
            .transact_items(TransactWriteItem::builder().delete(delete.clone()).build())
            .transact_items(TransactWriteItem::builder().put(put.clone()).build());
        if let Some(check) = check {
            request =
                request.transact_items(TransactWriteItem::builder().condition_check(check).build());
        }
        request.send()
    };

    let error = transaction(Some(check))
        .await
        .expect_err("the last condition fails")
        .into_service_error();
    let TransactWriteItemsError::TransactionCanceledException(cancelled) = error else {
        panic!("not a cancellation: {error:?}");
    };
    let reasons: Vec<_> = cancelled
        .cancellation_reasons()
        .iter()
        .map(|r| r.code().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(reasons, ["None", "None", "None", "ConditionalCheckFailed"]);
    assert_eq!(
        cancelled.cancellation_reasons()[3].item(),
        Some(&item("checked", "1")),
        "the failed condition's old item"
    );
    assert_eq!(
        stack.item("updated").await,
        Some(item("updated", "1")),
        "updated in place"
    );
    assert_eq!(stack.item("deleted").await, Some(item("deleted", "1")));
    assert_eq!(stack.item("created").await, None);
    assert_eq!(stack.item("bystander").await, Some(item("bystander", "1")));
    assert_eq!(stack.items().await.len(), 4, "the table's items");

    transaction(None).await.expect("no condition: committed");
    let mut updated = item("updated", "2");
    updated.insert("added".into(), AttributeValue::N("1".into()));
    assert_eq!(stack.item("updated").await, Some(updated));
    assert_eq!(stack.item("deleted").await, None);
    assert!(stack.item("created").await.is_some());
    assert_eq!(
        stream_keys(&streams, iterator).await,
        [&before[..], &["updated", "deleted", "created"]].concat(),
        "the committed transaction's records, none of the cancelled one's"
    );
}

/// The reasons of a cancelled transaction, one code per operation, and the
/// items they returned.
fn cancellation(
    error: SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
        HttpResponse,
    >,
) -> (
    Vec<String>,
    Vec<Option<std::collections::HashMap<String, AttributeValue>>>,
) {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    let error = error.into_service_error();
    let TransactWriteItemsError::TransactionCanceledException(cancelled) = error else {
        panic!("not a cancellation: {error:?}");
    };
    cancelled
        .cancellation_reasons()
        .iter()
        .map(|r| (r.code().unwrap_or_default().to_owned(), r.item().cloned()))
        .unzip()
}

/// Conditions of one transaction with the same text are each evaluated with
/// their own values and names (the emulator parses a transaction's repeated
/// expressions once): the same `n = :v` with another `:v`, the same
/// `#f = :one` with another `#f`, on items where reusing the first one's
/// would answer the other way.
#[tokio::test]
async fn a_transactions_conditions_each_use_their_own_values_and_names() {
    use aws_sdk_dynamodb::types::{
        ConditionCheck, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
    };
    use std::collections::HashMap;
    let stack = Stack::new("same-text-tx").await;
    let n = |v: &str| AttributeValue::N(v.into());
    let item = |pk: &str, vn: &str, vm: &str| {
        HashMap::from([
            ("pk".to_owned(), AttributeValue::S(pk.into())),
            ("n".to_owned(), n(vn)),
            ("m".to_owned(), n(vm)),
        ])
    };
    stack.put_item(item("a", "1", "2")).await;
    stack.put_item(item("b", "2", "1")).await;
    stack.put_item(item("c", "1", "1")).await;
    let key = |pk: &str| AttributeValue::S(pk.into());
    // Checks `n = :v` on `pk`.
    let check = |pk: &str, v: &str| {
        let check = ConditionCheck::builder()
            .table_name(&stack.table)
            .key("pk", key(pk))
            .condition_expression("n = :v")
            .expression_attribute_values(":v", n(v))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .expect("a check");
        TransactWriteItem::builder().condition_check(check).build()
    };
    // Sets `seen = :v` on `pk` if `n = :v`.
    let update = |pk: &str, v: &str| {
        let update = Update::builder()
            .table_name(&stack.table)
            .key("pk", key(pk))
            .update_expression("SET seen = :v")
            .condition_expression("n = :v")
            .expression_attribute_values(":v", n(v))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .expect("an update");
        TransactWriteItem::builder().update(update).build()
    };
    let send = |items: Vec<TransactWriteItem>| {
        stack
            .dynamodb
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
    };

    // b's n is 2, not a's 1: cancelled by b alone, b's item returned.
    let error = send(vec![check("a", "1"), update("b", "1")])
        .await
        .expect_err("b's condition fails");
    let (reasons, items) = cancellation(error);
    assert_eq!(reasons, ["None", "ConditionalCheckFailed"]);
    assert_eq!(items, [None, Some(item("b", "2", "1"))]);
    assert_eq!(stack.item("b").await, Some(item("b", "2", "1")));

    // The same text with b's own value holds.
    send(vec![check("a", "1"), update("b", "2")])
        .await
        .expect("each condition with its own value: committed");
    let mut b = item("b", "2", "1");
    b.insert("seen".into(), n("2"));
    assert_eq!(stack.item("b").await, Some(b.clone()));
    // And the other way round: a's value on b fails.
    let error = send(vec![update("a", "1"), check("b", "1")])
        .await
        .expect_err("b's condition fails");
    let (reasons, items) = cancellation(error);
    assert_eq!(reasons, ["None", "ConditionalCheckFailed"]);
    assert_eq!(items, [None, Some(b.clone())]);
    assert_eq!(
        stack.item("a").await,
        Some(item("a", "1", "2")),
        "a's update undone"
    );

    // `#f = :one`: a's n is 1, b's m is 1.
    let named = |pk: &str, field: &str| {
        let check = ConditionCheck::builder()
            .table_name(&stack.table)
            .key("pk", key(pk))
            .condition_expression("#f = :one")
            .expression_attribute_names("#f", field)
            .expression_attribute_values(":one", n("1"))
            .build()
            .expect("a check");
        TransactWriteItem::builder().condition_check(check).build()
    };
    send(vec![named("a", "n"), named("b", "m"), update("c", "1")])
        .await
        .expect("each condition with its own name: committed");
    let error = send(vec![named("a", "n"), named("b", "n"), update("c", "1")])
        .await
        .expect_err("b's n is not 1");
    let (reasons, _) = cancellation(error);
    assert_eq!(reasons, ["None", "ConditionalCheckFailed", "None"]);
}

/// An admission's transaction, as the functions send it: the stream key's
/// Update (`last_used`, and here a use counter) under the key's condition,
/// and the event's conditional Put. Committed, the Update applies exactly
/// once and each item has one stream record; a duplicate event cancels it
/// (the Put's reason with the event's old item, the key's write undone); a
/// wrong key cancels it by the Update's reason with the key's old item, and
/// the event is not written.
#[tokio::test]
async fn an_admissions_transaction_applies_its_update_once() {
    use aws_sdk_dynamodb::types::{
        Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
    };
    use std::collections::HashMap;
    let stack = Stack::new("admission-tx").await;
    let s = |v: &str| AttributeValue::S(v.into());
    let key_item = HashMap::from([
        ("pk".to_owned(), s("streamkey#publish#live/cam")),
        ("key_sha256".to_owned(), s("right")),
        ("uses".to_owned(), AttributeValue::N("0".into())),
    ]);
    stack.put_item(key_item.clone()).await;
    let (streams, iterator) = stream_start(&stack).await;
    let event =
        |pk: &str| HashMap::from([("pk".to_owned(), s(pk)), ("envelope".to_owned(), s("{}"))]);
    let admission = |hash: &str, now: &str, event_pk: &str| {
        let update = Update::builder()
            .table_name(&stack.table)
            .key("pk", s("streamkey#publish#live/cam"))
            .update_expression("SET last_used = :now, uses = uses + :one")
            .condition_expression(
                "key_sha256 = :hash AND attribute_not_exists(revoked) \
                 AND (attribute_not_exists(expires_ms) OR expires_ms > :now_ms)",
            )
            .expression_attribute_values(":hash", s(hash))
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":now_ms", AttributeValue::N("1000".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .expect("an update");
        let put = Put::builder()
            .table_name(&stack.table)
            .set_item(Some(event(event_pk)))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .expect("a put");
        stack
            .dynamodb
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build())
            .transact_items(TransactWriteItem::builder().put(put).build())
            .send()
    };

    admission("right", "first", "event-1")
        .await
        .expect("the right key: committed");
    let mut used = key_item.clone();
    used.insert("last_used".into(), s("first"));
    used.insert("uses".into(), AttributeValue::N("1".into()));
    assert_eq!(
        stack.item("streamkey#publish#live/cam").await,
        Some(used.clone())
    );
    assert_eq!(stack.item("event-1").await, Some(event("event-1")));

    let error = admission("right", "second", "event-1")
        .await
        .expect_err("the event is a duplicate");
    let (reasons, items) = cancellation(error);
    assert_eq!(reasons, ["None", "ConditionalCheckFailed"]);
    assert_eq!(items, [None, Some(event("event-1"))]);
    assert_eq!(
        stack.item("streamkey#publish#live/cam").await,
        Some(used.clone()),
        "the key's update undone"
    );

    let error = admission("wrong", "third", "event-2")
        .await
        .expect_err("the wrong key");
    let (reasons, items) = cancellation(error);
    assert_eq!(reasons, ["ConditionalCheckFailed", "None"]);
    assert_eq!(items, [Some(used.clone()), None]);
    assert_eq!(stack.item("event-2").await, None);
    assert_eq!(stack.item("streamkey#publish#live/cam").await, Some(used));

    assert_eq!(
        stream_keys(&streams, iterator).await,
        [
            "streamkey#publish#live/cam",
            "streamkey#publish#live/cam",
            "event-1"
        ],
        "the key's Put, then one record of each committed write"
    );
}

/// What a topic accepted is read back from the emulator's own record, in
/// order and from a cursor: each Publish and each accepted PublishBatch
/// entry; never a request refused for its size, a request failed by an
/// injected outage, or an entry refused by an injected fault. (The soak
/// counts publications here.)
#[tokio::test]
async fn a_topics_accepted_messages_are_read_back() {
    let sns = sns();
    let moto = moto();
    let arn = topic(&sns, "accepted", &[]).await;
    assert_eq!(moto.accepted(&arn, 0), Ok(Vec::new()), "a new topic");

    let first = sns
        .publish()
        .topic_arn(&arn)
        .message("one")
        .send()
        .await
        .expect("Publish");
    assert_refused(
        sns.publish()
            .topic_arn(&arn)
            .message("x".repeat(DEFAULT_MAX + 1))
            .send()
            .await,
        "InvalidParameter",
        "a message over the topic's maximum",
    );
    // Both of the SDK's attempts meet the outage.
    moto.inject(&Fault {
        service: "sns",
        target: arn.clone(),
        operation: None,
        count: 2,
        kind: FaultKind::Error { status: 500 },
    });
    sns.publish()
        .topic_arn(&arn)
        .message("lost to the outage")
        .send()
        .await
        .expect_err("SNS is down for both attempts");
    moto.inject(&Fault {
        service: "sns",
        target: arn.clone(),
        operation: Some("PublishBatch"),
        count: 1,
        kind: FaultKind::Refuse {
            code: "ParameterValueInvalid",
            matching: Some("refused entry"),
            entries: true,
        },
    });
    let batch = sns
        .publish_batch()
        .topic_arn(&arn)
        .publish_batch_request_entries(entry(0, "two".into()))
        .publish_batch_request_entries(entry(1, "refused entry".into()))
        .publish_batch_request_entries(entry(2, "three".into()))
        .send()
        .await
        .expect("PublishBatch");
    assert_eq!(batch.failed().len(), 1, "{batch:?}");

    let accepted = moto.accepted(&arn, 0).expect("the topic's record");
    let messages: Vec<&str> = accepted.iter().map(|m| m.message.as_str()).collect();
    assert_eq!(messages, ["one", "two", "three"]);
    let ids: Vec<Option<&str>> = accepted
        .iter()
        .map(|m| Some(m.message_id.as_str()))
        .collect();
    let answered: Vec<Option<&str>> = std::iter::once(first.message_id())
        .chain(batch.successful().iter().map(|s| s.message_id()))
        .collect();
    assert_eq!(ids, answered, "the MessageIds SNS answered");
    assert_eq!(
        moto.accepted(&arn, 1),
        Ok(accepted[1..].to_vec()),
        "from the 2nd on"
    );
    assert_eq!(moto.accepted(&arn, 3), Ok(Vec::new()), "nothing new");
    assert!(
        moto.accepted(&format!("{arn}-none"), 0).is_err(),
        "a topic that does not exist"
    );
}

/// An SQS long poll waits beside the other calls, not in front of them (the
/// emulator lets one call at a time into moto): a message sent while the poll
/// waits is accepted at once and reaches that poll. Held behind the poll, the
/// send would be served only after the poll had come back empty.
#[tokio::test]
async fn a_long_poll_receives_what_is_sent_while_it_waits() {
    let stack = Stack::new("long-poll").await;
    let (sqs, url) = (stack.sqs.clone(), stack.queue_url.clone());
    let poll = tokio::spawn(async move {
        sqs.receive_message()
            .queue_url(&url)
            .wait_time_seconds(5)
            .send()
            .await
            .expect("ReceiveMessage")
    });
    // Time for the poll to reach the emulator: were the send first, the poll
    // would find its message at once and the test prove less, not fail.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stack
        .sqs
        .send_message()
        .queue_url(&stack.queue_url)
        .message_body("sent during the poll")
        .send()
        .await
        .expect("SendMessage");
    let received = poll.await.expect("the poll's task");
    let bodies: Vec<_> = received
        .messages()
        .iter()
        .filter_map(|m| m.body())
        .collect();
    assert_eq!(bodies, ["sent during the poll"]);
}
