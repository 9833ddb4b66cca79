#!/usr/bin/env python3
"""Create (idempotently) livehook's table (with its NEW_IMAGE stream: the outbox the
relay reads), the relay's dead-letter table, topic and, with --queue, an SQS queue
subscribed to the topic (a test's reader) on an AWS emulator.

Usage: aws_setup.py ENDPOINT [--table NAME] [--failed-table NAME] [--topic NAME] [--queue NAME]
Prints shell assignments: LIVEHOOK_TABLE=… LIVEHOOK_FAILED_TABLE=… LIVEHOOK_TOPIC_ARN=…
and, with --queue, TAIL_QUEUE_URL=…
"""
import argparse
import json

import boto3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("endpoint")
    parser.add_argument("--table", default="livehook-events")
    parser.add_argument("--failed-table", default="livehook-failed")
    parser.add_argument("--topic", default="livehook-events")
    parser.add_argument("--queue")
    args = parser.parse_args()
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    dynamodb = session.client("dynamodb", endpoint_url=args.endpoint)
    sns = session.client("sns", endpoint_url=args.endpoint)
    sqs = session.client("sqs", endpoint_url=args.endpoint)

    if args.table not in dynamodb.list_tables()["TableNames"]:
        dynamodb.create_table(
            TableName=args.table,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        )
        dynamodb.update_time_to_live(
            TableName=args.table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
        )
    # The relay's dead letters (LIVEHOOK_FAILED_TABLE): no stream.
    if args.failed_table not in dynamodb.list_tables()["TableNames"]:
        dynamodb.create_table(
            TableName=args.failed_table,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
    topic_arn = sns.create_topic(Name=args.topic)["TopicArn"]
    # Only for a reader that asks for one: an unread queue just fills up.
    if args.queue:
        queue_url = sqs.create_queue(QueueName=args.queue)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        subscribed = any(
            s["Endpoint"] == queue_arn
            for s in sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
        )
        if not subscribed:
            sns.subscribe(
                TopicArn=topic_arn,
                Protocol="sqs",
                Endpoint=queue_arn,
                Attributes={"RawMessageDelivery": "false"},
            )
    print(f"LIVEHOOK_TABLE={json.dumps(args.table)}")
    print(f"LIVEHOOK_FAILED_TABLE={json.dumps(args.failed_table)}")
    print(f"LIVEHOOK_TOPIC_ARN={json.dumps(topic_arn)}")
    if args.queue:
        print(f"TAIL_QUEUE_URL={json.dumps(queue_url)}")


if __name__ == "__main__":
    main()
