#!/usr/bin/env python3
"""A livehook subscriber to copy: SQS queue, SNS filter policy, schema validation.

Reads livehook's events from an SQS queue subscribed to the topic with a filter
policy (by default only `stream.started` from SRS), validates each one against
livehook's JSON Schemas (the envelope, then the schema its `dataschema` names)
and prints it as one JSON line.

Two ways to get the queue:

  consumer.py --queue-url URL
      a queue subscribed by examples/consumer/template.yaml (or by you);
  consumer.py --topic-arn ARN [--queue-name NAME] [--filter-policy JSON]
      creates the queue, lets the topic send to it and subscribes it with the
      filter policy (raw message delivery: the body is the CloudEvent, the SNS
      attributes become SQS message attributes); removes both on exit unless --keep.

Schemas come from a local copy of livehook's schemas/ (--schemas, default the
repository's): an event's `dataschema` is <base>data/<type>.json, and the same
data/<type>.json is read from the copy, so the deployment's base does not matter.

Needs boto3 and jsonschema (requirements.txt beside this file). --endpoint-url
points it at an emulator. Exit status: 0, or 1 if any event did not validate.
"""

import argparse
import json
import pathlib
import sys
import time

import boto3
import jsonschema

REPOSITORY_SCHEMAS = pathlib.Path(__file__).resolve().parent.parent.parent / "schemas"
DEFAULT_POLICY = {"type": ["stream.started"], "provider": ["srs"]}


class Catalog:
    """livehook's schemas: the envelope's and one per type's `data`."""

    def __init__(self, folder: pathlib.Path):
        self.folder = folder
        self.envelope = self._validator("cloudevent.json")
        self.data = {}

    def _validator(self, relative: str):
        schema = json.loads((self.folder / relative).read_text(encoding="utf-8"))
        return jsonschema.Draft202012Validator(schema)

    def problems(self, event: dict) -> list:
        """Every way `event` departs from its schemas (empty: valid)."""
        found = [f"envelope {e.json_path}: {e.message}" for e in self.envelope.iter_errors(event)]
        uri = event.get("dataschema", "")
        # <base>data/<type>.json: the last two segments name the file in the copy.
        relative = "/".join(uri.rsplit("/", 2)[-2:]) if isinstance(uri, str) else ""
        if relative != f"data/{event.get('type')}.json":
            return found + [f"dataschema {uri!r} does not name the schema of type {event.get('type')!r}"]
        if relative not in self.data:
            try:
                self.data[relative] = self._validator(relative)
            except FileNotFoundError:
                return found + [f"no schema {relative} in {self.folder} (a type newer than this copy)"]
        found += [f"data {e.json_path}: {e.message}" for e in self.data[relative].iter_errors(event.get("data"))]
        return found


def subscribe(sns, sqs, topic_arn: str, queue_name: str, policy: dict):
    """Creates the queue, allows the topic to send to it, subscribes it with `policy`."""
    queue_url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    allow_topic = {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
        }],
    }
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(allow_topic)})
    subscription = sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={
            "RawMessageDelivery": "true",
            "FilterPolicyScope": "MessageAttributes",
            "FilterPolicy": json.dumps(policy),
        },
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    return queue_url, subscription


def consume(sqs, queue_url: str, catalog: Catalog, until_idle: float, max_wait: float) -> int:
    """Prints every event until `until_idle` seconds pass without one (after
    the first) or `max_wait` in all (0: run until interrupted). Returns the
    number of invalid events."""
    invalid = 0
    started = last = time.monotonic()
    received = 0
    while True:
        now = time.monotonic()
        if max_wait and now - started > max_wait:
            break
        if until_idle and received and now - last > until_idle:
            break
        answer = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        )
        for message in answer.get("Messages", []):
            received += 1
            last = time.monotonic()
            try:
                event = json.loads(message["Body"])
                problems = catalog.problems(event) if isinstance(event, dict) else ["not a JSON object"]
            except json.JSONDecodeError as e:
                event, problems = message["Body"], [f"not JSON: {e}"]
            if problems:
                invalid += 1
                print(f"consumer: INVALID event: {'; '.join(problems)}: {message['Body'][:500]}", file=sys.stderr)
            else:
                print(json.dumps(event, ensure_ascii=False), flush=True)
            # Invalid events are removed too: redelivering them cannot fix them
            # (a real consumer might move them to a dead-letter queue instead).
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return invalid


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--queue-url", help="read this queue (already subscribed)")
    source.add_argument("--topic-arn", help="subscribe a new queue to this topic")
    parser.add_argument("--queue-name", default="livehook-consumer", help="the queue --topic-arn creates")
    parser.add_argument("--filter-policy", type=json.loads, default=DEFAULT_POLICY,
                        help=f"SNS filter policy on the message attributes (default {json.dumps(DEFAULT_POLICY)})")
    parser.add_argument("--keep", action="store_true", help="keep the queue and subscription --topic-arn made")
    parser.add_argument("--schemas", type=pathlib.Path, default=REPOSITORY_SCHEMAS,
                        help="a copy of livehook's schemas/ folder")
    parser.add_argument("--endpoint-url", help="an AWS emulator")
    parser.add_argument("--region", default=None)
    parser.add_argument("--until-idle", type=float, default=0,
                        help="stop SECONDS after the last event (0: never)")
    parser.add_argument("--max-wait", type=float, default=0, help="stop after SECONDS in all (0: never)")
    args = parser.parse_args()

    session = boto3.session.Session(region_name=args.region)
    sqs = session.client("sqs", endpoint_url=args.endpoint_url)
    sns = session.client("sns", endpoint_url=args.endpoint_url)
    catalog = Catalog(args.schemas)
    queue_url, subscription = args.queue_url, None
    if args.topic_arn:
        queue_url, subscription = subscribe(sns, sqs, args.topic_arn, args.queue_name, args.filter_policy)
        print(f"consumer: subscribed {queue_url} with {json.dumps(args.filter_policy)}", file=sys.stderr, flush=True)
    try:
        invalid = consume(sqs, queue_url, catalog, args.until_idle, args.max_wait)
    except KeyboardInterrupt:
        invalid = 0
    finally:
        if subscription and not args.keep:
            sns.unsubscribe(SubscriptionArn=subscription)
            sqs.delete_queue(QueueUrl=queue_url)
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main())
