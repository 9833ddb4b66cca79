"""The Python peer of livehook's Bililive function, as a team would write it
with AWS Lambda Powertools: ?token= check, CloudEvents envelope, idempotency
(Powertools' DynamoDB persistence layer: conditional put, then the function,
then the completed record) around an SNS publish, one structured log line and
one EMF metrics line per request. A baseline for bench/, not a product.
"""

import hmac
import json
import os
from datetime import datetime, timezone

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

TABLE = os.environ["LIVEHOOK_TABLE"]
TOPIC = os.environ["LIVEHOOK_TOPIC_ARN"]
TOKENS = [t for t in os.environ.get("LIVEHOOK_TOKEN", "").split(",") if t]
TYPES = {
    "SessionStarted": "recording.started",
    "FileOpening": "recording.file_opened",
    "FileClosed": "recording.file_closed",
    "SessionEnded": "recording.ended",
    "StreamStarted": "stream.started",
    "StreamEnded": "stream.stopped",
}

logger = Logger(service="bililive")
metrics = Metrics(namespace="livehook-python", service="bililive")
sns = boto3.client("sns")
persistence = DynamoDBPersistenceLayer(
    table_name=TABLE, key_attr="pk", expiry_attr="expires_at"
)
config = IdempotencyConfig(event_key_jmespath="EventId", expires_after_seconds=7 * 24 * 3600)


def answer(status, body):
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


@idempotent_function(data_keyword_argument="delivery", persistence_store=persistence, config=config)
def publish(delivery):
    data = delivery.get("EventData") or {}
    room = data.get("RoomId")
    event_type = TYPES.get(delivery.get("EventType"), "unrecognized")
    envelope = {
        "specversion": "1.0",
        "id": delivery["EventId"],
        "source": "livehook/bililive",
        "type": event_type,
        "subject": f"bililive/{room if room is not None else delivery['EventId']}",
        "time": delivery.get("EventTimestamp") or datetime.now(timezone.utc).isoformat(),
        "datacontenttype": "application/json",
        "data": {
            "provider_event": delivery.get("EventType"),
            "session_id": data.get("SessionId"),
            "room_id": None if room is None else str(room),
            "name": data.get("Name"),
            "title": data.get("Title"),
            "file": {"path": data.get("RelativePath"), "size_bytes": data.get("FileSize"),
                     "duration_seconds": data.get("Duration")} if "RelativePath" in data else None,
            "raw": delivery,
        },
    }
    attributes = {
        "provider": {"DataType": "String", "StringValue": "bililive"},
        "type": {"DataType": "String", "StringValue": event_type},
    }
    if room is not None:
        attributes["stream"] = {"DataType": "String", "StringValue": str(room)}
    sns.publish(TopicArn=TOPIC, Message=json.dumps(envelope), MessageAttributes=attributes)
    return {"ok": True, "id": delivery["EventId"]}


@metrics.log_metrics
def handler(event, context):
    config.register_lambda_context(context)
    token = (event.get("queryStringParameters") or {}).get("token", "")
    if not any(hmac.compare_digest(token, t) for t in TOKENS):
        metrics.add_metric(name="rejected", unit=MetricUnit.Count, value=1)
        return answer(401, {"error": "unauthenticated"})
    try:
        delivery = json.loads(event.get("body") or "")
        if not isinstance(delivery, dict) or not delivery.get("EventId"):
            raise ValueError("no EventId")
    except ValueError:
        metrics.add_metric(name="rejected", unit=MetricUnit.Count, value=1)
        return answer(400, {"error": "malformed"})
    reply = publish(delivery=delivery)
    metrics.add_metric(name="handled", unit=MetricUnit.Count, value=1)
    logger.info("delivery handled", extra={"event_id": delivery["EventId"], "request_id": context.aws_request_id})
    return answer(200, reply)
