#!/usr/bin/env python3
"""Puts every sample of `perf script` (with call stacks) in one category and
prints the profile table (markdown) of bench/profile.sh.

Usage: perf script -F comm,tid,ip,sym,dso --no-inline | profile.py EVENTS [HZ]

A sample's category is the first of COMPONENTS (most specific first) that
any frame of its stack matches: a syscall made by hyper for an SDK call
counts as the SDK's send, a malloc inside SigV4 as signing. Frames that say
nothing about who asked for the work (allocation, memcpy, core::fmt, serde,
the kernel) never decide. With LTO much is inlined, so a component's own
frames cover what was inlined into them. Columns split
each category by where the leaf is: kernel, malloc/free, memcpy/memmove.
"""
import re
import sys
from collections import Counter, defaultdict

# (category, pattern), most specific first.
COMPONENTS = [
    ("SDK: sign (SigV4)", r"aws_sigv4|sigv4"),
    ("SDK: serialize request", r"::ser_|serialize_input|aws_smithy_json::serialize|aws_smithy_query|SerializeRequest|ser_put_item|ser_publish|ser_update_item|ser_publish_batch"),
    ("SDK: parse response", r"::de_|deserialize_nonstreaming|DeserializeResponse|aws_smithy_json::deserialize|aws_smithy_xml|de_put_item|de_publish|de_update_item|de_publish_batch"),
    ("SDK: endpoint resolution", r"endpoint_lib|resolve_endpoint|ResolveEndpoint|orchestrator::endpoints|endpoint::DefaultResolver"),
    ("logs & metrics", r"tracing_subscriber|tracing_core|livehook::telemetry|emf_line|emit_metrics"),
    ("envelope serialization", r"CloudEvent.*Serialize|livehook::event::.*serialize|EventData.*Serialize"),
    ("parse & normalize (adapter, auth, key)", r"livehook::providers|livehook::json|livehook::auth|livehook::key|livehook::inbound|Gate.*admit|parse_rfc3339|format_time|livehook::event"),
    ("SDK: send (HTTP client, connection pool, socket I/O)", r"aws_smithy_http_client|aws_smithy_runtime::client::http"),
    ("SDK: orchestration (retries, interceptors, identity, user agent)", r"aws_smithy_runtime|aws_runtime|aws_sdk_dynamodb|aws_sdk_sns|aws_smithy_types|aws_smithy_runtime_api|aws_types|aws_config"),
    ("relay: stream record → messages (livehook::relay, livehook::record)", r"livehook::relay|livehook::record"),
    ("event types (aws_lambda_events: API Gateway request, DynamoDB stream batch; serde_dynamo)", r"aws_lambda_events|serde_dynamo"),
    ("idempotency store & sink (livehook)", r"livehook::store|livehook::sink"),
    ("HTTP (hyper)", r"hyper::|hyper_util::|h2::|http::"),  # no caller on the stack: see HTTP_TASKS
    ("pipeline (livehook)", r"livehook::pipeline"),
    ("Runtime API round trip and event (de)serialization (lambda_runtime, lambda_http)", r"lambda_runtime|lambda_http|lambda_runtime_api_client"),
    ("async runtime (tokio: scheduler, timers, epoll)", r"tokio::|mio::"),
]
# hyper drives each connection in a task of its own: its reads and writes have
# no SDK or lambda_runtime frame above them, for either kind of connection.
HTTP_TASKS = "HTTP/1 connection tasks (hyper; SDK and Runtime API connections alike)"
SDK = re.compile(r"aws_smithy|aws_sdk|aws_runtime")
LAMBDA = re.compile(r"lambda_runtime|lambda_http")
ALLOC = re.compile(r"^(__libc_)?(malloc|free|realloc|calloc|cfree)$|^_int_(malloc|free|realloc)|malloc_consolidate|^tcache|^mi_|^_mi_|^__rust_(alloc|dealloc|realloc)|^unlink_chunk|alloc::alloc::")
MEMCPY = re.compile(r"memcpy|memmove|memset|memcmp")
OPERATIONS = [("PutItem", r"put_item|PutItem"), ("PublishBatch", r"publish_batch|PublishBatch"),
              ("Publish", r"sns.*publish|Publish"), ("UpdateItem", r"update_item|UpdateItem")]


def samples(lines):
    frames = None
    for line in lines:
        if not line.strip():
            if frames is not None:
                yield frames
            frames = None
            continue
        if not line[0].isspace():
            frames = []
            continue
        if frames is None:
            continue
        m = re.match(r"\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$", line)
        if m:
            sym = re.sub(r"\+0x[0-9a-f]+$", "", m.group(1))
            frames.append((sym, m.group(2)))
    if frames:
        yield frames


def categorize(frames):
    stack = "\n".join(s for s, _ in frames)
    for name, pattern in COMPONENTS:
        if re.search(pattern, stack):
            if name == "HTTP (hyper)":
                if SDK.search(stack):
                    return next(n for n, _ in COMPONENTS if n.startswith("SDK: send"))
                if LAMBDA.search(stack):
                    return next(n for n, _ in COMPONENTS if n.startswith("Runtime API"))
            return HTTP_TASKS if name == "HTTP (hyper)" else name
    return "other (unresolved)"


def main():
    events = int(sys.argv[1])
    hz = float(sys.argv[2]) if len(sys.argv) > 2 else 4000.0
    total = Counter()
    split = defaultdict(Counter)
    operations = Counter()
    for frames in samples(sys.stdin):
        if not frames:
            continue
        leaf, dso = frames[0]
        cat = categorize(frames)
        total[cat] += 1
        if "kernel" in dso:
            split[cat]["kernel"] += 1
        elif ALLOC.search(leaf):
            split[cat]["alloc"] += 1
        elif MEMCPY.search(leaf):
            split[cat]["memcpy"] += 1
        if cat.startswith("SDK"):
            stack = " ".join(s for s, _ in frames)
            op = next((n for n, p in OPERATIONS if re.search(p, stack)), "unattributed")
            operations[op] += 1
    n = sum(total.values())
    if not n:
        print("no samples")
        return
    per_event_ms = lambda c: c / hz * 1000 / events  # noqa: E731
    print(f"{n} samples at {hz:.0f} Hz over {events} warm events ({per_event_ms(n):.3f} ms of CPU per event sampled).\n")
    print("| where the CPU goes | share | ms per event | of which kernel | of which malloc/free | of which memcpy |")
    print("|---|---:|---:|---:|---:|---:|")
    for cat, c in total.most_common():
        s = split[cat]
        print(f"| {cat} | {100 * c / n:.1f} % | {per_event_ms(c):.3f} | {100 * s['kernel'] / n:.1f} % | "
              f"{100 * s['alloc'] / n:.1f} % | {100 * s['memcpy'] / n:.1f} % |")
    k = sum(s["kernel"] for s in split.values())
    a = sum(s["alloc"] for s in split.values())
    mc = sum(s["memcpy"] for s in split.values())
    print(f"| **all** | 100 % | {per_event_ms(n):.3f} | {100 * k / n:.1f} % | {100 * a / n:.1f} % | {100 * mc / n:.1f} % |")
    sdk = sum(operations.values())
    if sdk:
        print("\nSDK samples by operation: " + ", ".join(
            f"{op} {100 * c / sdk:.0f} %" for op, c in operations.most_common()) + ".")


if __name__ == "__main__":
    main()
