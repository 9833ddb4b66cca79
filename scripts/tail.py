#!/usr/bin/env python3
"""e2e's reader of the queue it subscribed to the topic before sending (people use
`livehook tail`, which subscribes a queue of its own): prints and deletes what arrives.

Usage: tail.py [--endpoint URL] [--queue NAME] [--count N] [--wait SECONDS] [--json]
Each line: time  type  subject  id  (attributes). With --count, exits non-zero
if fewer than N messages arrive within --wait seconds.
"""
import argparse
import json
import sys
import time

import boto3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", default="http://127.0.0.1:5050")
    parser.add_argument("--queue", default="livehook-tail")
    parser.add_argument("--count", type=int, default=0, help="stop after N messages")
    parser.add_argument("--wait", type=float, default=0, help="give up after SECONDS (0: forever)")
    parser.add_argument("--json", action="store_true", help="print whole envelopes")
    args = parser.parse_args()
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    sqs = session.client("sqs", endpoint_url=args.endpoint)
    queue_url = sqs.get_queue_url(QueueName=args.queue)["QueueUrl"]
    seen = 0
    deadline = time.monotonic() + args.wait if args.wait else None
    while not args.count or seen < args.count:
        if deadline and time.monotonic() > deadline:
            print(f"tail: {seen} of {args.count} messages arrived", file=sys.stderr)
            return 1
        answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in answer.get("Messages", []):
            notification = json.loads(message["Body"])
            envelope = json.loads(notification["Message"])
            attributes = {k: v["Value"] for k, v in notification.get("MessageAttributes", {}).items()}
            if args.json:
                print(json.dumps(envelope, ensure_ascii=False, indent=2))
            else:
                print(
                    f'{envelope["time"]}  {envelope["type"]:<22} {envelope["subject"]:<40} '
                    f'{envelope["id"]}  {json.dumps(attributes, ensure_ascii=False)}'
                )
            sys.stdout.flush()
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            seen += 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
