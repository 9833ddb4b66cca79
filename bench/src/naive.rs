//! The naive baseline: the three AWS calls of a Bililive delivery and nothing
//! else (no token, no normalization, no envelope, no logs, no metrics), as a
//! first version written in an afternoon would look. Not a product.

use aws_sdk_dynamodb::types::AttributeValue as Av;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let (db, sns) = (
        aws_sdk_dynamodb::Client::new(&sdk),
        aws_sdk_sns::Client::new(&sdk),
    );
    let (table, topic) = (
        std::env::var("LIVEHOOK_TABLE")?,
        std::env::var("LIVEHOOK_TOPIC_ARN")?,
    );
    let (db, sns, table, topic) = (&db, &sns, &table, &topic);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let body = event.payload["body"].as_str().unwrap_or("{}").to_owned();
        let id = serde_json::from_str::<Value>(&body)?["EventId"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let reply = json!({"statusCode": 200, "body": json!({"ok": true, "id": id}).to_string()});
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
            return Ok::<_, Error>(reply);
        }
        claim?;
        sns.publish().topic_arn(topic).message(body).send().await?;
        db.update_item()
            .table_name(table)
            .key("pk", Av::S(id))
            .update_expression("SET #s = :c")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":c", Av::S("COMPLETED".into()))
            .send()
            .await?;
        Ok(reply)
    }))
    .await
}
