"""LiveKit's own verifier (PyPI livekit-api, WebhookReceiver) on what livehook signs.

Reads the JSON lines of `cargo run -p livehook --example sign_samples` on stdin; every
LiveKit line must be received, and the same token must be refused for a changed body.
"""

import json
import sys

from livekit.api import TokenVerifier, WebhookReceiver


def main() -> int:
    accepted = 0
    for line in sys.stdin:
        delivery = json.loads(line)
        if delivery["provider"] != "livekit":
            continue
        key, secret = delivery["secret"].split(":", 1)
        receiver = WebhookReceiver(TokenVerifier(key, secret))
        token = delivery["headers"]["authorization"]
        body = delivery["body"]
        event = receiver.receive(body, token)
        if event.event != json.loads(body)["event"]:
            print(f"livekit {delivery['sample']}: received as {event.event}", file=sys.stderr)
            return 1
        try:
            receiver.receive(body.replace("}", ',"x":1}', 1), token)
        except Exception:  # the SDK raises a bare Exception on a hash mismatch
            pass
        else:
            print(f"livekit {delivery['sample']}: a changed body was accepted", file=sys.stderr)
            return 1
        accepted += 1
    if accepted == 0:
        print("no LiveKit deliveries to verify", file=sys.stderr)
        return 1
    print(f"livekit-api WebhookReceiver: {accepted} signed deliveries accepted, changed bodies refused")
    return 0


if __name__ == "__main__":
    sys.exit(main())
