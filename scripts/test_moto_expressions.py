#!/usr/bin/env python3
"""The emulator answers exactly as moto does with each expression text
parsed once (moto_expressions.py).

One script of DynamoDB requests (PutItem, UpdateItem, DeleteItem,
TransactWriteItems, a Scan of the table after each write) runs through the emulator's
application three times: with moto's own parsers, then with the kept
parses from empty (each text's first parse), then again with them warm
(every text kept from the run before, now met with other values and
names). Every answer (status and body) must be the same in the three
runs. The script reuses each text with other values, names and items,
so that an answer built from a kept parse with the first request's
values or names would differ; it has texts that do not parse, lookups
that fail once the text is kept, update expressions applied to items
that exist and that do not, and transactions cancelled by either
operation (both writes undone)."""

import io
import json
import logging
import os
import pathlib
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

from moto.dynamodb.comparisons import ConditionExpressionParser  # noqa: E402
from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # noqa: E402

MOTO_PARSE = ConditionExpressionParser.parse
MOTO_MAKE = UpdateExpressionParser.__dict__["make"]

import moto_expressions  # noqa: E402
import moto_serial  # noqa: E402  (installs the kept parses)
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    create_backend_app,
)

KEPT_PARSE = ConditionExpressionParser.parse
KEPT_MAKE = UpdateExpressionParser.__dict__["make"]

AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=host, Signature=0"
)
TABLE = "expressions"
KEY_CONDITION = (
    "key_sha256 = :hash AND attribute_not_exists(revoked) "
    "AND (attribute_not_exists(expires_ms) OR expires_ms > :now_ms)"
)


def s(v):
    return {"S": v}


def n(v):
    return {"N": str(v)}


def put(pk, condition=None, names=None, values=None, **attrs):
    body = {"TableName": TABLE, "Item": {"pk": s(pk), **attrs}}
    if condition is not None:
        body["ConditionExpression"] = condition
        body["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    if names is not None:
        body["ExpressionAttributeNames"] = names
    if values is not None:
        body["ExpressionAttributeValues"] = values
    return body


def update(pk, expression, condition=None, names=None, values=None):
    body = {"TableName": TABLE, "Key": {"pk": s(pk)}, "UpdateExpression": expression,
            "ReturnValues": "ALL_NEW"}
    if condition is not None:
        body["ConditionExpression"] = condition
    if names is not None:
        body["ExpressionAttributeNames"] = names
    if values is not None:
        body["ExpressionAttributeValues"] = values
    return body


def admission(hash_, now_ms, event):
    """An admission's transaction, as the functions send it."""
    return {"TransactItems": [
        {"Update": {"TableName": TABLE, "Key": {"pk": s("streamkey#live/cam")},
                    "UpdateExpression": "SET last_used = :now",
                    "ConditionExpression": KEY_CONDITION,
                    "ExpressionAttributeValues": {":hash": s(hash_), ":now_ms": n(now_ms),
                                                  ":now": s(f"t{now_ms}")},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
        {"Put": {"TableName": TABLE, "Item": {"pk": s(event), "envelope": s("{}")},
                 "ConditionExpression": "attribute_not_exists(pk)",
                 "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}]}


def script():
    """(operation, body) in order."""
    yield "CreateTable", {
        "TableName": TABLE,
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "BillingMode": "PAY_PER_REQUEST",
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    }
    yield "PutItem", put("a", n=n(1), m=n(2), tag=s("red"), tags={"L": [s("x"), s("y")]})
    yield "PutItem", put("b", n=n(2), m=n(1), tag=s("blue"))
    # The same text, other values: holds for one, fails for the other.
    for pk in ("a", "b"):
        for v in (1, 2):
            yield "PutItem", put(pk, "n = :v", values={":v": n(v)}, n=n(v), m=n(v))
    # The same text, other names.
    for field in ("n", "m", "tag", "missing"):
        yield "PutItem", put("a", "#f = :one", names={"#f": field}, values={":one": n(1)},
                             n=n(1), m=n(2), tag=s("red"))
    for text, names, values in [
        ("attribute_not_exists(pk)", None, None),
        ("attribute_not_exists(pk) OR m < :w", None, {":w": n(5)}),
        ("attribute_not_exists(pk) OR m < :w", None, {":w": n(0)}),
        ("begins_with(#t, :p) AND size(tags) > :z", {"#t": "tag"}, {":p": s("re"), ":z": n(1)}),
        ("begins_with(#t, :p) AND size(tags) > :z", {"#t": "tag"}, {":p": s("bl"), ":z": n(1)}),
        ("begins_with(#t, :p) AND size(tags) > :z", {"#t": "m"}, {":p": s("re"), ":z": n(0)}),
        ("n BETWEEN :lo AND :hi", None, {":lo": n(0), ":hi": n(1)}),
        ("n BETWEEN :lo AND :hi", None, {":lo": n(3), ":hi": n(9)}),
        ("n IN (:x, :y) AND NOT contains(tags, :t)", None,
         {":x": n(1), ":y": n(2), ":t": s("x")}),
        ("n IN (:x, :y) AND NOT contains(tags, :t)", None,
         {":x": n(1), ":y": n(2), ":t": s("z")}),
        ("attribute_type(n, :type)", None, {":type": s("N")}),
        ("attribute_type(n, :type)", None, {":type": s("S")}),
        # Kept, then met with a value or a name missing, or none given.
        ("n = :v", None, {":other": n(1)}),
        ("n = :v", None, None),
        ("#f = :one", {"#g": "n"}, {":one": n(1)}),
        ("#f = :one", None, {":one": n(1)}),
        # Never parse: a lexing error, a reserved word, grammar, parentheses.
        ("n = ", None, None),
        ("n == :v", None, {":v": n(1)}),
        ("status = :v", None, {":v": n(1)}),
        ("(n = :v", None, {":v": n(1)}),
        ("((n = :v))", None, {":v": n(1)}),
        ("n.:v = :w", None, {":v": n(1), ":w": n(1)}),
        ("nosuch(n)", None, None),
        # A value missing in a text that does not parse either.
        ("n = :missing AND (", None, {":v": n(1)}),
    ]:
        for pk in ("a", "b", "new"):
            yield "PutItem", put(pk, text, names, values, n=n(1), m=n(2), tag=s("red"),
                                 tags={"L": [s("x"), s("y")]})
    # Update expressions, the same text on items that exist and that do not,
    # with other values.
    for pk, one in (("a", 1), ("nothing", 5), ("a", 7), ("nothing", 2)):
        yield "UpdateItem", update(pk, "SET seen = :v, counter = if_not_exists(counter, :z) + :one",
                                   values={":v": n(one), ":z": n(0), ":one": n(one)})
    for pk, field in (("a", "seen"), ("a", "m"), ("b", "tag")):
        yield "UpdateItem", update(pk, "SET #f = :v REMOVE counter", "attribute_exists(#f)",
                                   names={"#f": field}, values={":v": s(field)})
    yield "UpdateItem", update("a", "ADD total :one", values={":one": n(3)})
    yield "UpdateItem", update("a", "ADD total :one", values={":one": n(4)})
    yield "UpdateItem", update("a", "ADD total :one", values={":one": s("x")})
    yield "UpdateItem", update("a", "SET = :v", values={":v": n(1)})
    yield "UpdateItem", update("a", "SET = :v", values={":v": n(1)})
    yield "UpdateItem", update("a", "SET a1 = :v SET a2 = :v", values={":v": n(1)})
    yield "UpdateItem", update("a", "SET pk = :v", values={":v": s("other")})
    yield "UpdateItem", update("a", "SET seen = :missing", values={":v": n(1)})
    yield "DeleteItem", {"TableName": TABLE, "Key": {"pk": s("b")},
                         "ConditionExpression": "n = :v",
                         "ExpressionAttributeValues": {":v": n(9)}}
    yield "DeleteItem", {"TableName": TABLE, "Key": {"pk": s("b")},
                         "ConditionExpression": "n = :v",
                         "ExpressionAttributeValues": {":v": n(2)}}
    # Admissions: the key's Update under its condition with the event's Put.
    yield "PutItem", put("streamkey#live/cam", key_sha256=s("right"))
    for hash_, now_ms, event in [
        ("right", 1000, "event-1"),
        ("right", 1001, "event-1"),  # a duplicate: cancelled, the key's write undone
        ("wrong", 1002, "event-2"),  # the wrong key: cancelled, no event
        ("right", 1003, "event-3"),
    ]:
        yield "TransactWriteItems", admission(hash_, now_ms, event)
    yield "UpdateItem", update("streamkey#live/cam", "SET expires_ms = :e", values={":e": n(1500)})
    yield "TransactWriteItems", admission("right", 2000, "event-4")  # expired
    yield "TransactWriteItems", admission("right", 1400, "event-5")
    # One transaction with the same texts twice, each with its own values.
    yield "TransactWriteItems", {"TransactItems": [
        {"ConditionCheck": {"TableName": TABLE, "Key": {"pk": s("a")},
                            "ConditionExpression": "n = :v",
                            "ExpressionAttributeValues": {":v": n(1)}}},
        {"Update": {"TableName": TABLE, "Key": {"pk": s("event-1")},
                    "UpdateExpression": "SET seen = :v", "ConditionExpression": "n = :v",
                    "ExpressionAttributeValues": {":v": n(1)},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}]}


def reads():
    yield "Scan", {"TableName": TABLE, "ConsistentRead": True}


def call(app, operation, body):
    data = json.dumps(body).encode()
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/", "QUERY_STRING": "",
        "SERVER_NAME": "localhost", "SERVER_PORT": "5000", "HTTP_HOST": "localhost:5000",
        "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http", "wsgi.version": (1, 0),
        "wsgi.input": io.BytesIO(data), "wsgi.errors": sys.stderr,
        "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
        "CONTENT_TYPE": "application/x-amz-json-1.0", "CONTENT_LENGTH": str(len(data)),
        "HTTP_X_AMZ_TARGET": f"DynamoDB_20120810.{operation}", "HTTP_AUTHORIZATION": AUTH,
    }
    status = []
    try:
        answer = b"".join(app(environ, lambda line, headers, exc_info=None: status.append(line)))
    except Exception as e:  # moto's own failure (the server answers 500)
        return "raised", type(e).__name__, str(e)
    return status[0], json.loads(answer or b"null")


def tree_shape(node):
    """A parsed update expression as nested tuples (its nodes' types and
    leaves' values; parents left out, they point back up)."""
    if isinstance(node, list):
        return tuple(tree_shape(c) for c in node)
    if hasattr(node, "children") and hasattr(node, "parent"):
        return (type(node).__name__, tree_shape(node.children or []))
    return repr(node)


def run(parse, make):
    """Every answer of the script, on a fresh table, with these parsers."""
    ConditionExpressionParser.parse = parse
    UpdateExpressionParser.make = make
    app = moto_serial.StrictSerialApp(DomainDispatcherApplication(create_backend_app))
    call(app, "DeleteTable", {"TableName": TABLE})
    answers = []
    for operation, body in script():
        answer = call(app, operation, body)
        if operation == "CreateTable":
            continue
        answers.append((operation, body, answer))
        if operation != "Scan":
            answers.extend((o, b, call(app, o, b)) for o, b in reads())
    return answers


class KeptParses(unittest.TestCase):
    def test_every_answer_is_motos_own(self):
        moto_expressions._CONDITIONS.entries.clear()
        moto_expressions._UPDATES.entries.clear()
        try:
            moto = run(MOTO_PARSE, MOTO_MAKE)
            cold = run(KEPT_PARSE, KEPT_MAKE)
            kept = len(moto_expressions._CONDITIONS.entries)
            warm = run(KEPT_PARSE, KEPT_MAKE)
        finally:
            ConditionExpressionParser.parse = KEPT_PARSE
            UpdateExpressionParser.make = KEPT_MAKE
        # The script means something: writes that succeed and fail, refusals.
        statuses = {answer[0] for _, _, answer in moto}
        self.assertIn("200 OK", statuses)
        self.assertIn("400 Bad Request", statuses)
        self.assertGreaterEqual(kept, 10, "texts kept")
        for label, run_answers in (("first parses", cold), ("kept parses", warm)):
            self.assertEqual(len(run_answers), len(moto))
            for (operation, body, expected), (_, _, got) in zip(moto, run_answers):
                self.assertEqual(got, expected, f"{label}: {operation} {json.dumps(body)}")

    def test_a_kept_update_expression_is_never_changed(self):
        tree = UpdateExpressionParser.make("SET a = :v, b = b + :one REMOVE c")
        before = tree_shape(tree)
        app = moto_serial.StrictSerialApp(DomainDispatcherApplication(create_backend_app))
        call(app, "DeleteTable", {"TableName": TABLE})
        call(app, "CreateTable", next(script())[1])
        for v in (1, 2):
            status, _ = call(app, "UpdateItem", update(
                "x", "SET a = :v, b = b + :one REMOVE c",
                values={":v": n(v), ":one": n(1)}))
            self.assertTrue(status.startswith("400") or status.startswith("200"))
        self.assertIs(UpdateExpressionParser.make("SET a = :v, b = b + :one REMOVE c"), tree)
        self.assertEqual(tree_shape(tree), before)


if __name__ == "__main__":
    logging.disable(logging.INFO)
    unittest.main()
