#!/usr/bin/env python3
"""moto, served as strictly as AWS answers: atomic, keep-alive, and refusing
what real SNS refuses.

A test that passes where AWS refuses is the costliest bug there is: it ships
green and fails in production on the first large or unusual event. So this
wrapper puts back, in front of moto, the rules moto leaves out and our code
depends on:

* Atomic conditional writes. moto checks a DynamoDB condition and then writes
  without a lock, so two concurrent conditional puts can both succeed, which
  real DynamoDB never allows (our idempotency claim relies on it). Waitress
  serves connections from a thread pool, but one global lock lets only one
  request at a time into moto (an SQS long poll takes it only for each
  immediate try of its receive, see moto_sqs.py: it would stall every other
  call for up to 20 s).
* Keep-alive. AWS endpoints speak HTTP/1.1 and keep connections open; the
  SDK's connection pool, its reuse of idle connections and what happens when
  one goes stale are only exercised if the emulator does the same.
  (moto_server's werkzeug, served serially, closed every connection.)
* SNS message size. SNS counts the message body plus, for every message
  attribute, its name, data type and value, in bytes, against the topic's
  `MaximumMessageSize` (1024..1048576, default 262144), and answers
  `InvalidParameter` ("Message too long"). moto only compares the body's
  length in characters with 262144: a 200 000-character Chinese message
  (600 KB) or a body just under the limit with large attributes passes moto
  and fails in AWS, and a topic raised to 1 MiB is refused by moto above
  256 Ki characters. moto stores `MaximumMessageSize` (CreateTopic
  Attributes or SetTopicAttributes) as `topic.maximum_message_size` without
  validating it; the wrapper validates the value and reads it from there.
* SNS batches. PublishBatch takes at most 10 entries
  (`TooManyEntriesInBatchRequest`, which moto does check) and no more than
  the topic's maximum in total, same measure (`BatchRequestTooLong`, which
  moto does not check); an empty batch is `EmptyBatchRequest`.
* DynamoDB expressions. A write (PutItem, UpdateItem, DeleteItem, each
  operation of a TransactWriteItems) that declares an
  `ExpressionAttributeValues` or `ExpressionAttributeNames` entry its
  expressions do not use is refused by AWS with a ValidationException;
  moto accepts it. So is a transaction's ConditionCheck without a condition.
* Cancelled transactions. moto undoes a cancelled TransactWriteItems by
  swapping in deep copies of its tables, copied before every call (time in
  the table's size), leaving the writes it had applied in the stream that
  open iterators read (a refused stream key's event record published) and
  hiding later writes from those iterators; the wrapper
  (moto_transactions.py) snapshots only the items the transaction names,
  puts them back and drops those stream records, as AWS writes none.
* FIFO ids. `MessageGroupId` and `MessageDeduplicationId` must be 1 to 128
  characters, each an ASCII letter, digit or punctuation mark: a space or a
  non-ASCII character (a Chinese stream name used as group id) is refused
  with `InvalidParameter`. moto accepts any string. The rule applies to
  standard topics too (they forward a group id to SQS fair queues).

Faults, for the tests of what an outage does (POST /_livehook/faults with a
JSON body; DELETE with {"target": …} clears a target's): for the next
`count` requests of `service` ("dynamodb" or "sns", the signing service)
that name `target` (the TableName or TopicArn, so that parallel tests never
touch each other's resources), optionally only `operation` (PutItem,
Publish, PublishBatch…):
* `{"status": 500}` answers that status with the service's error shape
  (DynamoDB's JSON InternalServerError, SNS's XML InternalError) without
  passing the request on: an outage;
* `{"hold_seconds": 1.5}` passes the request on (a write applies) and holds
  the reply back that long: the client times out after the fact, the lost
  reply of a write that happened;
* `{"refuse": "ParameterValueInvalid"}` (SNS only) refuses with that error
  code, as SNS refuses a message for its content: with `"match": "text"`
  only requests with a message containing the text meet the fault (and
  count); with `"entries": true` a PublishBatch is not refused whole, but
  each matching entry is answered as a `Failed` entry with that code
  (SenderFault true) and the other entries are published.

What a topic accepted (GET /_livehook/published?target=ARN&from=N, optionally
&limit=K, at most 1000 by default): {"total": T, "messages": [{"message_id",
"message", "group_id"}, ...]}, the messages moto published on that topic
(moto's own record, `Topic.sent_notifications`: each Publish, each accepted
PublishBatch entry, in order), from the N-th on. What the wrapper refused or
answered with an injected error never reached moto and is not in it. It is
how a long run counts publications without a subscribed queue: moto's SQS
recomputes a queue's attributes over every message it holds for each message
sent to or received from it, so with a backlog of thousands each Publish to
the topic (under the lock: every other call waits) and each ReceiveMessage
takes seconds.

How long the emulator took over each request, for the bench: GET
/_livehook/timings (moto_timing.py). moto parses a DynamoDB expression from
its text each time it meets it (two to three times a write); here each
distinct text is parsed once and every answer stays moto's
(moto_expressions.py).

Refusals use SNS's awsQuery error shape (XML ErrorResponse, HTTP 400), so the
AWS SDKs raise the same modelled errors as against AWS.

The log has one line per request (a refusal says which and why), as
moto_server's had: bench/ counts AWS calls by counting them.

Usage: python scripts/moto_serial.py -H 127.0.0.1 -p 5050   (moto_server's flags)
       python scripts/moto_serial.py -p 0 --port-file F   (any free port, written to F
       once bound: test processes started side by side never share one)

Waitress serves threads of one process: SIGKILL or SIGTERM of the process
leaves nothing behind. (Unlike werkzeug's handler, waitress drops request
headers whose names contain "_"; only S3 user metadata uses such names.)
"""

import argparse
import contextlib
import base64
import binascii
import io
import json
import logging
import os
import re
import threading
import time
import uuid
from urllib.parse import parse_qsl, urlencode

import moto.sns.models as sns_models
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    create_backend_app,
)
from waitress import create_server

import moto_expressions
import moto_sqs
import moto_timing
import moto_transactions

DEFAULT_MAXIMUM_MESSAGE_SIZE = 262144  # 256 KiB, every topic's default
LOWEST_MAXIMUM_MESSAGE_SIZE = 1024
HIGHEST_MAXIMUM_MESSAGE_SIZE = 1048576  # 1 MiB
MAX_BATCH_ENTRIES = 10

# moto's own check (body characters against 256 KiB) would refuse what a
# 1 MiB topic accepts; the middleware's byte count is the stricter check.
sns_models.MAXIMUM_MESSAGE_LENGTH = HIGHEST_MAXIMUM_MESSAGE_SIZE



moto_expressions.install()
moto_transactions.install()
# The lock that lets one request at a time into moto.
MOTO = moto_sqs.SerialLock()
moto_sqs.install(MOTO)

# ASCII letters, digits and punctuation (!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~).
FIFO_ID = re.compile(r"[!-~]{1,128}")

LOG = logging.getLogger("moto_serial")

SNS_XMLNS = "http://sns.amazonaws.com/doc/2010-03-31/"


class Refusal(Exception):
    """What AWS answers instead: an error code and message (HTTP 400)."""

    def __init__(self, code, message, dynamodb=False):
        super().__init__(message)
        self.code = code
        self.message = message
        # DynamoDB's JSON error shape, not SNS's XML one.
        self.dynamodb = dynamodb


def xml_escape(text):
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
    )


def refusal_response(refusal, start_response):
    request_id = str(uuid.uuid4())
    if refusal.dynamodb:
        body = json.dumps(
            {"__type": "com.amazon.coral.validate#ValidationException", "message": refusal.message}
        ).encode()
        start_response(
            "400 Bad Request",
            [
                ("Content-Type", "application/x-amz-json-1.0"),
                ("Content-Length", str(len(body))),
                ("x-amzn-RequestId", request_id),
            ],
        )
        return [body]
    body = (
        f'<ErrorResponse xmlns="{SNS_XMLNS}">'
        "<Error><Type>Sender</Type>"
        f"<Code>{xml_escape(refusal.code)}</Code>"
        f"<Message>{xml_escape(refusal.message)}</Message>"
        "</Error>"
        f"<RequestId>{request_id}</RequestId>"
        "</ErrorResponse>"
    ).encode("utf-8")
    start_response(
        "400 Bad Request",
        [
            ("Content-Type", "text/xml"),
            ("Content-Length", str(len(body))),
            ("x-amzn-RequestId", request_id),
        ],
    )
    return [body]


def signing_service(environ):
    """The service of a SigV4 credential scope (.../region/SERVICE/aws4_request)."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    match = re.search(r"Credential=[^/,]+/[^/,]+/[^/,]+/([^/,]+)/", auth)
    return match.group(1).lower() if match else None


def read_body(environ):
    """The request body; wsgi.input is replaced so moto can read it again."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def query_params(environ):
    """awsQuery parameters (form body and query string), or None if undecodable."""
    params = {}
    sources = [environ.get("QUERY_STRING", "")]
    if environ.get("REQUEST_METHOD") == "POST" and environ.get(
        "CONTENT_TYPE", ""
    ).startswith("application/x-www-form-urlencoded"):
        sources.append(read_body(environ))
    for source in sources:
        if isinstance(source, bytes):
            try:
                source = source.decode("ascii")
            except UnicodeDecodeError:
                return None
        try:
            pairs = parse_qsl(
                source, keep_blank_values=True, encoding="utf-8", errors="strict"
            )
        except (UnicodeDecodeError, ValueError):
            return None
        params.update(pairs)
    return params


def entry_size(params, prefix):
    """SNS's measure of one message: UTF-8 bytes of the body plus, for each
    message attribute, of its name, data type and value (binary values
    counted decoded)."""
    size = len(params.get(prefix + "Message", "").encode("utf-8"))
    n = 1
    while (prefix + f"MessageAttributes.entry.{n}.Name") in params:
        attr = prefix + f"MessageAttributes.entry.{n}."
        size += len(params[attr + "Name"].encode("utf-8"))
        size += len(params.get(attr + "Value.DataType", "").encode("utf-8"))
        if attr + "Value.BinaryValue" in params:
            try:
                value = base64.b64decode(params[attr + "Value.BinaryValue"])
            except (binascii.Error, ValueError):
                value = params[attr + "Value.BinaryValue"].encode("utf-8")
            size += len(value)
        else:
            size += len(params.get(attr + "Value.StringValue", "").encode("utf-8"))
        n += 1
    return size


def find_topic(arn):
    """moto's topic of that ARN, or None."""
    parts = (arn or "").split(":")
    if len(parts) < 6 or parts[2] != "sns":
        return None
    region, account = parts[3], parts[4]
    try:
        return sns_models.sns_backends[account][region].topics.get(arn)
    except (KeyError, ValueError):
        return None


def topic_maximum(arn):
    """The topic's MaximumMessageSize as moto stored it, else the default."""
    topic = find_topic(arn)
    value = getattr(topic, "maximum_message_size", None)
    try:
        return int(value) if value is not None else DEFAULT_MAXIMUM_MESSAGE_SIZE
    except (TypeError, ValueError):
        return DEFAULT_MAXIMUM_MESSAGE_SIZE


def check_fifo_ids(params, prefix):
    for name in ("MessageGroupId", "MessageDeduplicationId"):
        value = params.get(prefix + name)
        if value is not None and not FIFO_ID.fullmatch(value):
            raise Refusal(
                "InvalidParameter",
                f"Invalid parameter: {name} Reason: {name} can only include "
                "alphanumeric and punctuation characters. 1 to 128 in length.",
            )


def check_maximum_message_size(value):
    try:
        size = int(value)
    except (TypeError, ValueError):
        size = 0
    if not (
        str(value).strip().isdigit()
        and LOWEST_MAXIMUM_MESSAGE_SIZE <= size <= HIGHEST_MAXIMUM_MESSAGE_SIZE
    ):
        raise Refusal(
            "InvalidParameter",
            "Invalid parameter: Attributes Reason: MaximumMessageSize must be "
            f"an integer from {LOWEST_MAXIMUM_MESSAGE_SIZE} to "
            f"{HIGHEST_MAXIMUM_MESSAGE_SIZE}",
        )


def check_publish(params):
    check_fifo_ids(params, "")
    if params.get("PhoneNumber"):
        return  # SMS has its own limits, which moto checks
    arn = params.get("TopicArn") or params.get("TargetArn")
    if entry_size(params, "") > topic_maximum(arn):
        raise Refusal("InvalidParameter", "Invalid parameter: Message too long")


def check_publish_batch(params):
    entries = 0
    while f"PublishBatchRequestEntries.member.{entries + 1}.Id" in params:
        entries += 1
    if entries > MAX_BATCH_ENTRIES:
        raise Refusal(
            "TooManyEntriesInBatchRequest",
            "The batch request contains more entries than permissible.",
        )
    if entries == 0:
        raise Refusal("EmptyBatchRequest", "The batch request doesn't contain any entries.")
    prefixes = [f"PublishBatchRequestEntries.member.{n}." for n in range(1, entries + 1)]
    for prefix in prefixes:
        check_fifo_ids(params, prefix)
    total = sum(entry_size(params, prefix) for prefix in prefixes)
    if total > topic_maximum(params.get("TopicArn")):
        raise Refusal(
            "BatchRequestTooLong",
            "The length of all the batch messages put together is more than the limit.",
        )


def check_topic_attributes(params, action):
    if action == "CreateTopic":
        n = 1
        while f"Attributes.entry.{n}.key" in params:
            if params[f"Attributes.entry.{n}.key"] == "MaximumMessageSize":
                check_maximum_message_size(params.get(f"Attributes.entry.{n}.value"))
            n += 1
    elif params.get("AttributeName") == "MaximumMessageSize":
        check_maximum_message_size(params.get("AttributeValue"))


SNS_CHECKS = {
    "Publish": check_publish,
    "PublishBatch": check_publish_batch,
    "CreateTopic": lambda params: check_topic_attributes(params, "CreateTopic"),
    "SetTopicAttributes": lambda params: check_topic_attributes(
        params, "SetTopicAttributes"
    ),
}


def sns_refusal(environ):
    """The Refusal AWS would answer this request with, if it is an SNS one."""
    service = signing_service(environ)
    if service not in (None, "sns"):
        return None
    params = query_params(environ)
    if params is None:
        return None
    check = SNS_CHECKS.get(params.get("Action"))
    if check is None:
        return None
    if service is None and not (
        params.get("TopicArn") or params.get("TargetArn") or params.get("Name")
    ):
        return None  # unsigned and not recognisably SNS: moto decides
    try:
        check(params)
    except Refusal as refusal:
        return refusal
    return None


# The parts of a DynamoDB request that may use its ExpressionAttributeValues / Names.
EXPRESSIONS = (
    "ConditionExpression",
    "UpdateExpression",
    "FilterExpression",
    "KeyConditionExpression",
    "ProjectionExpression",
)
EXPRESSION_OPERATIONS = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"}


def unused_placeholders(request, field):
    text = " ".join(request.get(e) or "" for e in EXPRESSIONS)
    return [
        p
        for p in (request.get(field) or {})
        if not re.search(re.escape(p) + r"(?![A-Za-z0-9_])", text)
    ]


def dynamodb_refusal(environ):
    """The ValidationException AWS answers a write whose expressions leave a
    declared value or name unused (moto accepts it), or a transaction's
    ConditionCheck without a condition."""
    if signing_service(environ) != "dynamodb":
        return None
    operation = environ.get("HTTP_X_AMZ_TARGET", "").rsplit(".", 1)[-1]
    if operation not in EXPRESSION_OPERATIONS:
        return None
    try:
        body = json.loads(read_body(environ) or b"{}")
    except ValueError:
        return None
    if operation == "TransactWriteItems":
        requests = [
            (kind, request)
            for item in body.get("TransactItems") or []
            for kind, request in item.items()
        ]
    else:
        requests = [(operation, body)]
    for kind, request in requests:
        if kind == "ConditionCheck" and not request.get("ConditionExpression"):
            return Refusal(
                "ValidationException",
                "1 validation error detected: Value null at "
                "'transactItems.1.member.conditionCheck.conditionExpression' failed to "
                "satisfy constraint: Member must not be null",
                dynamodb=True,
            )
        for field in ("ExpressionAttributeValues", "ExpressionAttributeNames"):
            unused = unused_placeholders(request, field)
            if unused:
                return Refusal(
                    "ValidationException",
                    f"Value provided in {field} unused in expressions: "
                    f"keys: {{{', '.join(unused)}}}",
                    dynamodb=True,
                )
    return None


def is_sqs_receive(environ):
    """Whether the request is SQS ReceiveMessage (JSON or query protocol)."""
    if environ.get("HTTP_X_AMZ_TARGET", "") == "AmazonSQS.ReceiveMessage":
        return True
    if signing_service(environ) != "sqs":
        return False
    return (query_params(environ) or {}).get("Action") == "ReceiveMessage"


class Faults:
    """Pending faults, matched and used up under their own lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.pending = []

    def control(self, environ, start_response):
        body = read_body(environ)
        try:
            spec = json.loads(body or b"{}")
        except ValueError:
            spec = None
        if not isinstance(spec, dict) or not spec.get("target"):
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"a JSON object with a target is required"]
        with self.lock:
            if environ.get("REQUEST_METHOD") == "DELETE":
                self.pending = [f for f in self.pending if f["target"] != spec["target"]]
            else:
                spec["count"] = int(spec.get("count") or 1)
                self.pending.append(spec)
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    def take(self, environ):
        """The fault this request meets (used up by one), or None."""
        if not self.pending:
            return None
        service = signing_service(environ)
        if service == "dynamodb":
            target_header = environ.get("HTTP_X_AMZ_TARGET", "")
            operation = target_header.rsplit(".", 1)[-1]
            try:
                target = json.loads(read_body(environ) or b"{}").get("TableName")
            except ValueError:
                target = None
        elif service == "sns":
            params = query_params(environ) or {}
            operation = params.get("Action")
            target = params.get("TopicArn") or params.get("TargetArn")
        else:
            return None
        messages = sns_messages(params) if service == "sns" else []
        with self.lock:
            for fault in self.pending:
                if (
                    fault.get("service") == service
                    and fault["target"] == target
                    and fault.get("operation") in (None, operation)
                    and (
                        not fault.get("match")
                        or any(fault["match"] in m for m in messages)
                    )
                ):
                    fault["count"] -= 1
                    if fault["count"] <= 0:
                        self.pending.remove(fault)
                    return dict(fault)
        return None


def sns_messages(params):
    """The message bodies of a Publish or PublishBatch request."""
    if params.get("Action") == "Publish":
        return [params.get("Message", "")]
    return [
        params[f"{prefix}Message"]
        for prefix in batch_prefixes(params)
        if f"{prefix}Message" in params
    ]


def batch_prefixes(params):
    """The parameter prefix of each PublishBatch entry, in order."""
    prefixes = []
    while f"PublishBatchRequestEntries.member.{len(prefixes) + 1}.Id" in params:
        prefixes.append(f"PublishBatchRequestEntries.member.{len(prefixes) + 1}.")
    return prefixes


def refused_entries(fault, environ):
    """For an entry-wise refusal of a PublishBatch: the refused entries' ids,
    with the request rewritten to hold only the others (None when there are
    none left to pass on)."""
    params = query_params(environ) or {}
    refused, kept = [], []
    for prefix in batch_prefixes(params):
        if fault["match"] in params.get(f"{prefix}Message", ""):
            refused.append(params[f"{prefix}Id"])
        else:
            kept.append(prefix)
    rest = {
        k: v for k, v in params.items() if not k.startswith("PublishBatchRequestEntries.")
    }
    for n, prefix in enumerate(kept, start=1):
        for k, v in params.items():
            if k.startswith(prefix):
                rest[f"PublishBatchRequestEntries.member.{n}.{k[len(prefix):]}"] = v
    body = urlencode(rest).encode("ascii")
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ["QUERY_STRING"] = ""
    return refused, bool(kept)


def failed_members(fault, ids):
    return "".join(
        f"<member><Id>{xml_escape(i)}</Id><Code>{xml_escape(fault['refuse'])}</Code>"
        "<Message>refused by an injected fault</Message>"
        "<SenderFault>true</SenderFault></member>"
        for i in ids
    )


def with_failed_entries(body, fault, ids):
    """moto's PublishBatch answer with the refused entries added as Failed."""
    text = body.decode("utf-8")
    members = failed_members(fault, ids)
    if re.search(r"<Failed\s*/>", text):
        text = re.sub(r"<Failed\s*/>", f"<Failed>{members}</Failed>", text, count=1)
    elif "</Failed>" in text:
        text = text.replace("</Failed>", f"{members}</Failed>", 1)
    else:
        text = text.replace(
            "</PublishBatchResult>", f"<Failed>{members}</Failed></PublishBatchResult>", 1
        )
    return text.encode("utf-8")


def all_entries_failed(fault, ids, start_response):
    request_id = str(uuid.uuid4())
    body = (
        f'<PublishBatchResponse xmlns="{SNS_XMLNS}"><PublishBatchResult>'
        f"<Successful/><Failed>{failed_members(fault, ids)}</Failed>"
        "</PublishBatchResult><ResponseMetadata>"
        f"<RequestId>{request_id}</RequestId></ResponseMetadata></PublishBatchResponse>"
    ).encode("utf-8")
    start_response(
        "200 OK",
        [
            ("Content-Type", "text/xml"),
            ("Content-Length", str(len(body))),
            ("x-amzn-RequestId", request_id),
        ],
    )
    return [body]


def injected_error(fault, environ, start_response):
    """The service's own error shape for an injected outage."""
    status = int(fault.get("status") or 500)
    request_id = str(uuid.uuid4())
    if signing_service(environ) == "dynamodb":
        body = json.dumps(
            {
                "__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
                "message": "injected fault",
            }
        ).encode()
        content_type = "application/x-amz-json-1.0"
    else:
        body = (
            f'<ErrorResponse xmlns="{SNS_XMLNS}"><Error><Type>Receiver</Type>'
            "<Code>InternalError</Code><Message>injected fault</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        content_type = "text/xml"
    start_response(
        f"{status} Injected",
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("x-amzn-RequestId", request_id),
        ],
    )
    return [body]


class StrictSerialApp:
    """SNS's refusals in front of moto, one request at a time inside."""

    def __init__(self, app):
        self.app = app
        self.lock = MOTO
        self.faults = Faults()

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == "/_livehook/faults":
            return self.faults.control(environ, start_response)
        if environ.get("PATH_INFO") == "/_livehook/published":
            return self.published(environ, start_response)
        status = []

        def recording_start_response(line, headers, exc_info=None):
            status.append(line.split(" ", 1)[0])
            return start_response(line, headers, exc_info)

        note = ""
        fault = self.faults.take(environ)
        if fault is not None and fault.get("status"):
            body = injected_error(fault, environ, recording_start_response)
            note = f" injected: {fault['status']}"
            self.log(environ, status, note)
            return body
        refused_ids = None
        if fault is not None and fault.get("refuse"):
            action = (query_params(environ) or {}).get("Action")
            if fault.get("entries") and fault.get("match") and action == "PublishBatch":
                refused_ids, others = refused_entries(fault, environ)
                note = f" entries refused: {fault['refuse']} {refused_ids}"
                if not others:
                    body = all_entries_failed(fault, refused_ids, recording_start_response)
                    self.log(environ, status, note)
                    return body
            else:
                refusal = Refusal(fault["refuse"], "refused by an injected fault")
                body = refusal_response(refusal, recording_start_response)
                self.log(environ, status, f" injected refusal: {fault['refuse']}")
                return body
        # An SQS long poll (WaitTimeSeconds) waits for up to 20 s; under the
        # lock it would stall every other call for that long. Its receive
        # takes the lock for each try (moto_sqs.py), the rest of it only
        # reads its request.
        with self.lock if not is_sqs_receive(environ) else contextlib.nullcontext():
            refusal = sns_refusal(environ) or dynamodb_refusal(environ)
            if refusal is not None:
                note = f" refused: {refusal.code} {refusal.message}"
                body = refusal_response(refusal, recording_start_response)
            else:
                # The response is produced entirely under the lock: moto's
                # iterables may still touch its backends while being read.
                if refused_ids:
                    # The answer is rewritten: its headers wait for its length.
                    held = []

                    def answer(line, headers, exc_info=None):
                        held.append((line, headers))
                else:
                    answer = recording_start_response
                result = self.app(environ, answer)
                try:
                    body = [b"".join(result)]
                    if refused_ids:
                        line, headers = held[0]
                        if line.startswith("200"):
                            body = [with_failed_entries(body[0], fault, refused_ids)]
                        headers = [
                            (k, str(len(body[0])) if k.lower() == "content-length" else v)
                            for k, v in headers
                        ]
                        recording_start_response(line, headers)
                finally:
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()
        if fault is not None and fault.get("hold_seconds"):
            # Outside the lock: the write has applied, only its reply is late.
            note = f" reply held {fault['hold_seconds']} s"
            time.sleep(float(fault["hold_seconds"]))
        self.log(environ, status, note)
        return body

    def published(self, environ, start_response):
        """GET ?target=ARN&from=N[&limit=K]: what the topic accepted, from
        its N-th message on (see the module's docstring)."""
        params = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        try:
            start = max(0, int(params.get("from") or 0))
            limit = max(1, int(params.get("limit") or 1000))
        except ValueError:
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"from and limit are numbers"]
        topic = find_topic(params.get("target"))
        if topic is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no such topic"]
        # Under the lock only long enough to copy the page: a publication
        # in progress is either wholly in it or not yet.
        with self.lock:
            total = len(topic.sent_notifications)
            page = topic.sent_notifications[start : start + limit]
        body = json.dumps(
            {
                "total": total,
                "messages": [
                    {"message_id": m[0], "message": m[1], "group_id": m[4]} for m in page
                ],
            }
        ).encode("utf-8")
        start_response(
            "200 OK",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]

    @staticmethod
    def log(environ, status, note):
        # One line per request, as moto_server's werkzeug wrote: bench/ counts
        # AWS calls by counting these lines, and a refusal says why.
        LOG.info(
            '%s "%s %s %s" %s%s',
            environ.get("REMOTE_ADDR", "-"),
            environ.get("REQUEST_METHOD", "-"),
            environ.get("PATH_INFO", "-"),
            environ.get("SERVER_PROTOCOL", "-"),
            status[0] if status else "-",
            note,
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument(
        "-p",
        "--port",
        type=int,
        default=int(os.environ.get("MOTO_PORT", 5000)),
        help="0: a port the system gives (see --port-file)",
    )
    parser.add_argument(
        "--port-file",
        help="once the port is bound, write its number here: the starter "
        "knows the server answering on it is this one",
    )
    args = parser.parse_args()

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = DomainDispatcherApplication(create_backend_app)
    server = create_server(
        moto_timing.Timed(StrictSerialApp(app)),
        host=args.host,
        port=args.port,
        threads=8,
        # Every SDK client keeps its own pool of idle keep-alive connections,
        # and a test binary makes many clients; at waitress's default limit
        # (100) new connections would wait for idle ones to time out.
        connection_limit=1000,
        ident="moto",
        # Tests send 1 MiB SNS messages, form-encoded (up to ~3 MiB).
        max_request_body_size=64 * 1024 * 1024,
    )
    port = server.effective_port
    # moto builds some URLs (SQS queue URLs) from MOTO_PORT, as moto_server does.
    os.environ.setdefault("MOTO_PORT", str(port))
    if args.port_file:
        # Written whole or not at all: a reader never sees half a number.
        partial = f"{args.port_file}.partial"
        with open(partial, "w", encoding="ascii") as f:
            f.write(f"{port}\n")
        os.replace(partial, args.port_file)
    LOG.info("serving on http://%s:%s", args.host, port)
    server.run()


if __name__ == "__main__":
    main()
