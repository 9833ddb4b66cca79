"""Agora's documented signature check (Notifications, "Add signature verification") on what
livehook signs: Agora publishes no verifier, so its algorithm as its page writes it, in Python's
hmac (its page's own examples use Python). The algorithm is first checked against the page's
known answer; then every Agora line of `cargo run -p livehook --example sign_samples` (stdin)
must carry Agora-Signature-V2 = hex HMAC-SHA256(secret, body), and a changed body must not.
"""

import hashlib
import hmac
import json
import sys

# Agora's page: secret `secret`, this body, this V2 signature.
VECTOR_BODY = (
    '{"eventType":10,"noticeId":"4eb720f0-8da7-11e9-a43e-53f411c2761f",'
    '"notifyMs":1560408533119,"payload":{"a":"1","b":2},"productId":1}'
)
VECTOR_V2 = "de96da5acf03b0021ac3b4fa2225e7ae6f3533a30d50bb02c08ea4fa748bda24"


def v2(secret: str, body: str) -> str:
    return hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()


def main() -> int:
    if v2("secret", VECTOR_BODY) != VECTOR_V2:
        print("agora: the documented vector does not verify", file=sys.stderr)
        return 1
    accepted = 0
    for line in sys.stdin:
        delivery = json.loads(line)
        if delivery["provider"] != "agora":
            continue
        body, secret = delivery["body"], delivery["secret"]
        signature = delivery["headers"].get("agora-signature-v2", "")
        if not hmac.compare_digest(signature, v2(secret, body)):
            print(f"agora {delivery['sample']}: signature does not verify", file=sys.stderr)
            return 1
        if hmac.compare_digest(signature, v2(secret, body.replace("}", ',"x":1}', 1))):
            print(f"agora {delivery['sample']}: a changed body verifies", file=sys.stderr)
            return 1
        accepted += 1
    if accepted == 0:
        print("no Agora deliveries to verify", file=sys.stderr)
        return 1
    print(f"Agora's documented algorithm: {accepted} signed deliveries accepted, changed bodies refused")
    return 0


if __name__ == "__main__":
    sys.exit(main())
