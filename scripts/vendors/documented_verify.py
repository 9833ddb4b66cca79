"""The documented verification of the platforms that publish no verifier, on what livehook signs.

Cloudflare Stream ("Verify webhook signatures"): `Webhook-Signature: time=…,sig1=…`, hex
HMAC-SHA256(secret, time + "." + body), time within 5 minutes. Volcengine ("公共安全签名参数"):
the body's `sign` = md5(key + t), `t` an expiry, at the body's top or in its `data`. Alibaba
Cloud Live ("Callback authentication"): `ALI-LIVE-SIGNATURE` = md5(domain|ALI-LIVE-TIMESTAMP|key),
the domain being a stream callback's ingest domain (its `app`) or the callback URL's host; stream
callbacks ("Format of stream ingest callbacks") are GETs with their fields in the query.

Written from the vendors' documents with Python's own hmac/hashlib, not from livehook's code.
Reads the JSON lines of `cargo run -p livehook --example sign_samples` on stdin (the registered
platforms'): each delivery of these platforms must verify, and a changed one (body, or the signed field when the body is
not signed) must not.
"""

import hashlib
import hmac
import json
import sys
import time
from urllib.parse import parse_qsl


def cloudflare(headers, body, secret, host, query):
    pairs = dict(p.split("=", 1) for p in headers["webhook-signature"].split(","))
    expected = hmac.new(
        secret.encode(), f"{pairs['time']}.{body}".encode(), hashlib.sha256
    ).hexdigest()
    fresh = abs(time.time() - int(pairs["time"])) <= 300
    return hmac.compare_digest(expected, pairs["sig1"]) and fresh


def volcengine_fields(body):
    event = json.loads(body)
    if isinstance(event.get("data"), dict) and "event_type" in event["data"]:
        event = event["data"]
    return event


def volcengine(headers, body, secret, host, query):
    event = volcengine_fields(body)
    expected = hashlib.md5(f"{secret}{event['t']}".encode()).hexdigest()
    return hmac.compare_digest(expected, event["sign"].lower()) and int(event["t"]) >= time.time()


def alibaba(headers, body, secret, host, query):
    fields = dict(parse_qsl(query))
    if "action" in fields:
        # A stream callback: a GET, signed for its ingest domain.
        domain = fields["app"] if not body else None
    else:
        domain = host if "action" not in json.loads(body) else None
    if domain is None:
        return False
    stamp = headers["ali-live-timestamp"]
    expected = hashlib.md5(f"{domain}|{stamp}|{secret}".encode()).hexdigest()
    fresh = abs(time.time() - int(stamp)) <= 300
    return hmac.compare_digest(expected, headers["ali-live-signature"]) and fresh


def changed(provider, headers, body, query):
    """The delivery with what its proof covers changed."""
    if provider == "cloudflare":
        return headers, body.replace("}", ',"x":1}', 1), query
    if provider == "volcengine":
        event = json.loads(body)
        wrapped = isinstance(event.get("data"), dict) and "event_type" in event["data"]
        inner = event["data"] if wrapped else event
        inner["t"] = int(inner["t"]) + 1
        return headers, json.dumps(event), query
    stamp = str(int(headers["ali-live-timestamp"]) + 1)
    return {**headers, "ali-live-timestamp": stamp}, body, query


def changed_domain(provider, headers, body, query):
    """An Alibaba stream callback's ingest domain changed (None for the others)."""
    if provider != "alibaba" or not query:
        return None
    return headers, body, query.replace("app=", "app=other.", 1)


VERIFY = {"cloudflare": cloudflare, "volcengine": volcengine, "alibaba": alibaba}


def main() -> int:
    accepted = {name: 0 for name in VERIFY}
    for line in sys.stdin:
        delivery = json.loads(line)
        provider = delivery["provider"]
        if provider not in VERIFY:
            continue
        verify = VERIFY[provider]
        headers, body = delivery["headers"], delivery["body"]
        query = delivery.get("query", "")
        secret, host = delivery["secret"], delivery.get("host", "hooks.example.com")
        if not verify(headers, body, secret, host, query):
            print(f"{provider} {delivery['sample']}: refused", file=sys.stderr)
            return 1
        for change in (changed(provider, headers, body, query),
                       changed_domain(provider, headers, body, query)):
            if change is None:
                continue
            h, b, q = change
            if verify(h, b, secret, host, q):
                print(f"{provider} {delivery['sample']}: a changed delivery was accepted", file=sys.stderr)
                return 1
        accepted[provider] += 1
    # Only the registered platforms are signed by sign_samples.
    if not any(accepted.values()):
        print(f"no deliveries to verify for {', '.join(VERIFY)}", file=sys.stderr)
        return 1
    counts = ", ".join(f"{name} {count}" for name, count in accepted.items() if count)
    print(f"documented algorithms: {counts} signed deliveries accepted, changed ones refused")
    return 0


if __name__ == "__main__":
    sys.exit(main())
