#!/usr/bin/env python3
"""Print a Tencent sample re-signed as Tencent would send it now.

Usage: sign_tencent.py SAMPLE.json KEY   → the body with t = now + 600 and
sign = md5(KEY + t), ready for `curl --data-binary @-`.
"""
import hashlib
import json
import sys
import time


def main() -> None:
    path, key = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        body = json.load(f)
    t = int(time.time()) + 600
    body["t"] = t
    body["sign"] = hashlib.md5(f"{key}{t}".encode()).hexdigest()
    print(json.dumps(body, ensure_ascii=False, separators=(",", ":")))


if __name__ == "__main__":
    main()
