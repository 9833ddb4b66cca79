#!/usr/bin/env python3
"""moto_server answering one request at a time.

moto_server runs werkzeug with threaded=True, and moto checks a DynamoDB
condition and then writes without a lock: two concurrent conditional puts can
both succeed, which real DynamoDB never allows. Served serially, every
conditional write is atomic, as in AWS. (Non-threaded werkzeug also answers
HTTP/1.0, closing each connection, so no client can hold the server.)

Usage: python scripts/moto_serial.py -H 127.0.0.1 -p 5050   (moto_server's flags)
"""
import sys

import moto.server as server

_run_simple = server.run_simple


def _run_serial(*args, **kwargs):
    kwargs["threaded"] = False
    return _run_simple(*args, **kwargs)


server.run_simple = _run_serial

if __name__ == "__main__":
    sys.exit(server.main())
