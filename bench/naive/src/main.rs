//! The naive baselines: a Bililive delivery handled as a first version
//! written in an afternoon would handle it (no token, no normalization, no
//! envelope, no logs, no metrics). Not a product.
//!
//! `NAIVE_CALLS` picks the AWS calls:
//! - `3` (default): claim (`PutItem` of the key), `Publish` of the body,
//!   `UpdateItem` to completed: the dual write livehook used to make;
//! - `1`: one conditional `PutItem` of the whole record (key, provider,
//!   type, times, TTL and the body as the envelope) with
//!   `ReturnValuesOnConditionCheckFailure=ALL_OLD`, the duplicate's answer
//!   built from the returned item: the floor of the outbox design.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue as Av, ReturnValuesOnConditionCheckFailure};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

/// The record's lifetime, as livehook's default retention (7 days).
const RETENTION_SECONDS: u64 = 7 * 24 * 3600;

fn reply(id: &str) -> Value {
    json!({"statusCode": 200, "body": json!({"ok": true, "id": id}).to_string()})
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let (db, sns) = (
        aws_sdk_dynamodb::Client::new(&sdk),
        aws_sdk_sns::Client::new(&sdk),
    );
    let table = std::env::var("LIVEHOOK_TABLE")?;
    let one_call = std::env::var("NAIVE_CALLS").is_ok_and(|calls| calls.trim() == "1");
    // The one-call handler needs no topic.
    let topic = if one_call {
        String::new()
    } else {
        std::env::var("LIVEHOOK_TOPIC_ARN")?
    };
    let (db, sns, table, topic) = (&db, &sns, &table, &topic);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let body = event.payload["body"].as_str().unwrap_or("{}").to_owned();
        let delivery = serde_json::from_str::<Value>(&body)?;
        let id = delivery["EventId"].as_str().unwrap_or("").to_owned();
        if one_call {
            let now = SystemTime::now().duration_since(UNIX_EPOCH)?;
            let written = db
                .put_item()
                .table_name(table)
                .item("pk", Av::S(id.clone()))
                .item("provider", Av::S("bililive".into()))
                .item(
                    "type",
                    Av::S(delivery["EventType"].as_str().unwrap_or("").to_owned()),
                )
                .item("first_seen_ms", Av::N(now.as_millis().to_string()))
                .item(
                    "expires_at",
                    Av::N((now.as_secs() + RETENTION_SECONDS).to_string()),
                )
                .item("envelope", Av::S(body))
                .condition_expression("attribute_not_exists(pk)")
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            return match written {
                Ok(_) => Ok::<_, Error>(reply(&id)),
                Err(e) => match e.as_service_error() {
                    // A duplicate: the first delivery's id from the returned item.
                    Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                        let first = failed
                            .item()
                            .and_then(|item| item.get("pk"))
                            .and_then(|pk| pk.as_s().ok());
                        Ok(reply(first.map_or(id.as_str(), String::as_str)))
                    }
                    _ => Err(e.into()),
                },
            };
        }
        let claim = db
            .put_item()
            .table_name(table)
            .item("pk", Av::S(id.clone()))
            .item("status", Av::S("IN_PROGRESS".into()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        if claim.as_ref().is_err_and(|e| {
            e.as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception())
        }) {
            return Ok(reply(&id));
        }
        claim?;
        sns.publish().topic_arn(topic).message(body).send().await?;
        db.update_item()
            .table_name(table)
            .key("pk", Av::S(id.clone()))
            .update_expression("SET #s = :c")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":c", Av::S("COMPLETED".into()))
            .send()
            .await?;
        Ok(reply(&id))
    }))
    .await
}
