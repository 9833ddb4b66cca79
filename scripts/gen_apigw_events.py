#!/usr/bin/env python3
"""Regenerate events/apigw/: API Gateway HTTP API (payload 2.0) events, as
Lambda receives them, for `cargo lambda invoke --data-file`.

The query carries `token=dev-token` (make dev's default). The Tencent event keeps
the sample's `sign`, so it is refused (401) until re-signed: put the output of
`scripts/sign_tencent.py` in `body`, or use `livehook send`.
"""
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
USER_AGENTS = {
    "tencent": "Tencent-Cloud-Live-Callback",
    "aodianyun": "Aodianyun-Webhook",
    "bililive": "BililiveRecorder/2.0",
    "lal": "Go-http-client/1.1",
    "apiserver": "ApiServer-Webhook",
}
SAMPLES = [
    ("tencent", "push"),
    ("aodianyun", "start_publish"),
    ("bililive", "SessionStarted"),
    ("lal", "on_pub_start"),
    ("lal", "on_update"),
    ("apiserver", "channel_live"),
]


def event_for(provider: str, event: str) -> dict:
    body = (ROOT / "events" / provider / f"{event}.json").read_text(encoding="utf-8")
    path = f"/lal/{event}" if provider == "lal" else f"/{provider}"
    route = "/lal/{hook}" if provider == "lal" else path
    query = "" if provider == "tencent" else "token=dev-token"
    request = {
        "version": "2.0",
        "routeKey": f"POST {route}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "content-type": "application/json",
            "user-agent": USER_AGENTS[provider],
            "host": "abc123.execute-api.us-east-1.amazonaws.com",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": "POST",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": USER_AGENTS[provider],
            },
            "requestId": f"sample-{provider}-{event}",
            "routeKey": f"POST {route}",
            "stage": "$default",
            "time": "25/Nov/2026:00:00:00 +0000",
            "timeEpoch": 1795564800000,
        },
        "body": body,
        "isBase64Encoded": False,
    }
    if query:
        request["queryStringParameters"] = {"token": "dev-token"}
    if provider == "lal":
        request["pathParameters"] = {"hook": event}
    return request


def main() -> None:
    out = ROOT / "events" / "apigw"
    out.mkdir(exist_ok=True)
    for provider, event in SAMPLES:
        name = f"{provider}-{event}.json" if provider == "lal" else f"{provider}.json"
        text = json.dumps(event_for(provider, event), ensure_ascii=False, indent=2) + "\n"
        (out / name).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
