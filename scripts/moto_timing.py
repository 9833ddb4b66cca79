"""How long the emulator took over each AWS request, for the bench.

A function's latency against this emulator is mostly the emulator's own
time (moto interprets every request in Python: a conditional PutItem takes
it about a millisecond, where DynamoDB answers in a few). The bench reports,
beside each label's latency, how much of it the emulator spent, so that what
remains is the function's (and the loopback's).

The time of a request is taken around the whole application (the strict
wrapper, its lock, moto, the answer built in full) on the wall clock
(`time.time_ns`, the clock the bench's driver reads): from the moment the
server hands the parsed request over to the moment the answer is ready.
The server's own reading of the request and writing of the answer are not
in it, so the function's share is, if anything, overstated.

GET /_livehook/timings?from=NS: {"timings": [[start_ns, duration_ns], …]},
the requests that started at or after NS, in order (the last 100 000 are
kept). The emulator's own API (/_livehook/…, /moto-api/…) is not timed.
"""

import collections
import json
import threading
import time
from urllib.parse import parse_qsl

KEPT = 100_000


class Timed:
    """`app`, each AWS request's start and duration recorded."""

    def __init__(self, app):
        self.app = app
        self.timings = collections.deque(maxlen=KEPT)
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO") or ""
        if path == "/_livehook/timings":
            return self.serve(environ, start_response)
        if path.startswith("/_livehook/") or path.startswith("/moto-api/"):
            return self.app(environ, start_response)
        start = time.time_ns()
        body = self.app(environ, start_response)
        duration = time.time_ns() - start
        with self.lock:
            self.timings.append((start, duration))
        return body

    def serve(self, environ, start_response):
        params = dict(parse_qsl(environ.get("QUERY_STRING", "")))
        try:
            since = int(params.get("from") or 0)
        except ValueError:
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"from is a number of nanoseconds"]
        with self.lock:
            timings = [t for t in self.timings if t[0] >= since]
        body = json.dumps({"timings": timings}).encode()
        start_response(
            "200 OK",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]
