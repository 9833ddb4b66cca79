#!/usr/bin/env python3
"""Collects the benchmark outputs into bench/results.json and bench/results.md,
and prints the side-by-side table and the goals.

Usage: report.py RUNS.jsonl   (run from the repository root by bench/run.sh)

RUNS.jsonl holds runtime-bench's cold, warm and relay results and
`{"mode": "size"}` lines (deployment sizes per label). The side-by-side labels
(same events, same emulator, same run, interleaved rounds):
- `livehook`: the handler (the bililive bootstrap: one conditional PutItem);
- `relay/b1`, `relay/b10`: the relay fed the handler's stream records, 1 and
  10 per invocation (`"kind": "relay"`);
- `naive-1call`, `naive-3call`: the naive Rust handler (bench/naive) with one
  conditional PutItem of the record, or claim + publish + complete;
- `python`: the Powertools peer (three calls).
`livehook+xray` is the handler with the X-Ray trace header. `admission/srs`
is the srs function with `LIVEHOOK_STREAM_KEYS=publish` on SRS on_publish
deliveries that present the stream's key (one `TransactWriteItems` each),
in the same rounds. Every warm result also carries the emulator's own time
in its invocations (scripts/moto_timing.py): `emulator_ms` and the latency
less it, `latency_less_emulator_ms`. The goals are
the outbox design's (README, Performance). bench/notes.md (profiles, changes tried) is appended.
"""
import json
import os
import pathlib
import platform
import subprocess
import sys

HANDLERS = ["livehook", "naive-1call", "naive-3call", "python"]
# Admission with stream keys: the srs function checking a publish key.
ADMISSION = "admission/srs"
# A second naive one-call process paired with the first: a ratio of equal code.
CONTROL = "control/naive-1call"
RELAYS = ["relay/b1", "relay/b10"]
# Limits for every livehook function, handlers and relay alike.
LIMITS = {"init_ms": 8.0, "peak_rss_mb": 10.0, "zip_mb": 4.0}
# The goals' ratios: livehook's handler and relay against the naive baselines.
HANDLER_OVER_ONE_CALL = 1.15
RELAY_B10_OVER_THREE_CALL = 0.08
SUM_B10_OVER_THREE_CALL = 0.8
SUM_B1_OVER_THREE_CALL = 1.2
P50_OVER_ONE_CALL = 1.25
P50_OVER_THREE_CALL = 0.5
RELAY_B10_CALLS_PER_EVENT = 0.1
ADMISSION_OVER_ONE_CALL = 1.2
ADMISSION_P50_OVER_ONE_CALL = 1.25
ADMISSION_REFUSAL_CALLS = 2


def machine() -> dict:
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return {"cores": os.cpu_count(), "cpu": cpu, "kernel": platform.release(), "rustc": rustc}


def criterion() -> dict:
    results = {}
    for group in ("core", "core+envelope"):
        base = pathlib.Path("target/criterion") / group
        # Criterion names the folder `<provider>_<event>` for the id `<provider>/<event>`.
        for estimates in sorted(base.glob("*/new/estimates.json")):
            name = estimates.parts[-3].replace("_", "/", 1)
            results.setdefault(group, {})[name] = json.loads(estimates.read_text())["median"]["point_estimate"] / 1000
    return results


def fmt(value, spec=".2f", unit=""):
    return "–" if value is None else f"{value:{spec}}{unit}"


def ratio(a, b):
    return None if a is None or not b else a / b


def label_of(r: dict) -> str:
    return r.get("label") or r["provider"]


def merge_rounds(runs: list) -> dict:
    """One warm result per label: the rounds of a label merged. CPU per event
    is over all events (per invocation over all invocations); latency
    percentiles are the mean of the rounds' (the emulator's time and the
    latency less it too, when every round has them); peak RSS the highest;
    AWS calls from the first round."""
    by_label: dict = {}
    for r in runs:
        by_label.setdefault(label_of(r), []).append(r)
    merged = {}
    for name, rs in by_label.items():
        events = sum(r["events"] for r in rs)
        invocations = sum(r.get("invocations") or r["events"] for r in rs)

        def weighted(key, weight):
            if any(r.get(key) is None for r in rs):
                return None
            total = sum(weight(r) for r in rs)
            return sum(r[key] * weight(r) for r in rs) / max(total, 1)

        def mean_of(key, fields):
            if any(not r.get(key) for r in rs):
                return None
            return {f: sum(r[key][f] for r in rs) / len(rs) for f in fields}

        statuses: dict = {}
        for r in rs:
            for k, v in (r.get("statuses") or {}).items():
                statuses[k] = statuses.get(k, 0) + v
        merged[name] = {**rs[0], "events": events, "invocations": invocations, "rounds": len(rs),
                        "cpu_ms_per_event": weighted("cpu_ms_per_event", lambda r: r["events"]),
                        "user_ms_per_event": weighted("user_ms_per_event", lambda r: r["events"]),
                        "system_ms_per_event": weighted("system_ms_per_event", lambda r: r["events"]),
                        "cpu_ms_per_invocation": weighted("cpu_ms_per_invocation",
                                                          lambda r: r.get("invocations") or r["events"]),
                        "cpu_ms_per_event_by_round": [r.get("cpu_ms_per_event") for r in rs],
                        "latency_ms": {p: sum(r["latency_ms"][p] for r in rs) / len(rs) for p in ("p50", "p99")},
                        "emulator_ms": mean_of("emulator_ms", ("p50", "mean")),
                        "latency_less_emulator_ms": mean_of("latency_less_emulator_ms", ("p50", "p99")),
                        "peak_rss_kb": max(r.get("peak_rss_kb") or 0 for r in rs),
                        "batch_failures": sum(r.get("batch_failures") or 0 for r in rs),
                        "invocation_errors": sum(r.get("invocation_errors") or 0 for r in rs),
                        "statuses": statuses}
    return merged


def percentile(sorted_values: list, p: float):
    """As runtime-bench's: the nearest rank."""
    if not sorted_values:
        return None
    return sorted_values[min(round(p / 100 * (len(sorted_values) - 1)), len(sorted_values) - 1)]


def merge_cold(runs: list) -> dict:
    """One cold result per label: the spawns of its rounds pooled (medians
    and p90 over all of them; a result without its spawns, as is)."""
    by_label: dict = {}
    for r in runs:
        by_label.setdefault(label_of(r), []).append(r)
    merged = {}
    for name, rs in by_label.items():
        if len(rs) == 1 or any("inits_ms" not in r for r in rs):
            merged[name] = rs[-1]
            continue
        inits = sorted(v for r in rs for v in r["inits_ms"])
        firsts = sorted(v for r in rs for v in r["firsts_ms"])
        init_cpus = sorted(v for r in rs for v in r.get("init_cpus_ms") or [])
        statuses: dict = {}
        for r in rs:
            for k, v in (r.get("statuses") or {}).items():
                statuses[k] = statuses.get(k, 0) + v
        merged[name] = {**rs[0], "runs": len(inits), "rounds": len(rs), "statuses": statuses,
                        "init_ms": {"median": percentile(inits, 50), "p90": percentile(inits, 90),
                                    "min": inits[0], "max": inits[-1]},
                        "init_ms_median_by_round": [(r.get("init_ms") or {}).get("median") for r in rs],
                        "init_cpu_ms": {"median": percentile(init_cpus, 50), "p90": percentile(init_cpus, 90)},
                        "first_invocation_ms": {"median": percentile(firsts, 50), "p90": percentile(firsts, 90)}}
    return merged


def spread(values: list):
    """The spread of per-pair ratios: how many, median, p10–p90, min–max."""
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    return {"pairs": len(v), "median": percentile(v, 50), "p10": percentile(v, 10), "p90": percentile(v, 90),
            "min": v[0], "max": v[-1]}


PAIRED_KEYS = ("cpu_ms_per_event", "p50_ms", "p99_ms", "p50_less_emulator_ms", "p99_less_emulator_ms")


def paired_ratios(runs: list) -> dict:
    """Every function measured in pairs (runtime-bench paired): its ratios to
    the reference, the naive one-call handler, from its pairs (each of its
    blocks and the two reference blocks right before and after it).
    - CPU (the headline, what a goal judges): the function's CPU summed over
      all its blocks per delivery ÷ the reference's summed over the blocks
      around them per delivery (a reference block counted once for each
      block beside it); every block kept. The spread: each pair's ratio
      (block ÷ the two around it), median, p10–p90, min–max.
    - Latency: the mean of the rounds' p50 (p99; and less the emulator's
      time) ÷ the mean of the rounds' p50 of the reference's blocks around
      the function's (every p50 of the report is a mean of rounds'); the
      spread of the per-pair p50 ratios."""
    by_label: dict = {}
    for r in runs:
        if r.get("paired"):
            by_label.setdefault(label_of(r), []).append(r)
    out = {}
    for name, rs in by_label.items():
        pairs = [p for r in rs for p in r["paired"]["pairs"]
                 if p.get("cpu_ms") is not None and p.get("reference_cpu_ms") is not None
                 and p["events"] and p["reference_events"]]
        own = sum(p["cpu_ms"] for p in pairs) / sum(p["events"] for p in pairs) if pairs else None
        ref = sum(p["reference_cpu_ms"] for p in pairs) / sum(p["reference_events"] for p in pairs) if pairs else None

        def mean(values):
            return None if not values or any(v is None for v in values) else sum(values) / len(values)

        reference = {"cpu_ms_per_event": ref}
        function = {"cpu_ms_per_event": own}
        for key, own_field, ref_field, stat in (("p50_ms", "latency_ms", "reference_latency_ms", "p50"),
                                                ("p99_ms", "latency_ms", "reference_latency_ms", "p99"),
                                                ("p50_less_emulator_ms", "latency_less_emulator_ms",
                                                 "reference_latency_less_emulator_ms", "p50"),
                                                ("p99_less_emulator_ms", "latency_less_emulator_ms",
                                                 "reference_latency_less_emulator_ms", "p99")):
            function[key] = mean([(r.get(own_field) or {}).get(stat) for r in rs])
            reference[key] = mean([(r["paired"].get(ref_field) or {}).get(stat) for r in rs])
        per_pair = lambda a, b: [ratio(p.get(a), p.get(b)) for p in pairs]  # noqa: E731
        out[name] = {
            "reference": rs[0]["paired"]["reference"], "rounds": len(rs), "pairs": len(pairs),
            "block": rs[0]["paired"].get("block"), "reference_block": rs[0]["paired"].get("reference_block"),
            "rewarm": rs[0]["paired"].get("rewarm"),
            **{key: ratio(function[key], reference[key]) for key in PAIRED_KEYS},
            "function": function, "reference_around": reference,
            "cpu_pairs": spread([ratio(p["cpu_ms"] / p["events"], p["reference_cpu_ms"] / p["reference_events"])
                                 for p in pairs]),
            "p50_pairs": spread(per_pair("p50_ms", "reference_p50_ms")),
            "p50_less_emulator_pairs": spread(per_pair("p50_less_emulator_ms", "reference_p50_less_emulator_ms")),
        }
    return out


def spread_cell(s, spec=".2f") -> str:
    """A spread as `median (p10–p90; min–max, N pairs)`."""
    if not s:
        return "–"
    return (f"{s['median']:{spec}}× ({s['p10']:{spec}}–{s['p90']:{spec}}; "
            f"{s['min']:{spec}}–{s['max']:{spec}}, {s['pairs']} pairs)")


def main() -> None:
    runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    cold = merge_cold([r for r in runs if r["mode"] == "cold" and r.get("kind") != "relay"])
    warm = merge_rounds([r for r in runs if r["mode"] == "warm"])
    paired = paired_ratios([r for r in runs if r["mode"] == "warm"])
    sizes = {r["label"]: r for r in runs if r["mode"] == "size"}

    def row(name: str) -> dict:
        w, c, s = warm.get(name, {}), cold.get(name, {}), sizes.get(name, {})
        return {
            "cpu_ms_per_event": w.get("cpu_ms_per_event"),
            "user_ms_per_event": w.get("user_ms_per_event"),
            "system_ms_per_event": w.get("system_ms_per_event"),
            "cpu_ms_per_invocation": w.get("cpu_ms_per_invocation") if w.get("kind") == "relay" else None,
            "cpu_ms_per_event_by_round": w.get("cpu_ms_per_event_by_round"),
            "p50_ms": (w.get("latency_ms") or {}).get("p50"),
            "p99_ms": (w.get("latency_ms") or {}).get("p99"),
            # The emulator's time in an invocation (median), and the latency less it.
            "emulator_p50_ms": (w.get("emulator_ms") or {}).get("p50"),
            "p50_less_emulator_ms": (w.get("latency_less_emulator_ms") or {}).get("p50"),
            "p99_less_emulator_ms": (w.get("latency_less_emulator_ms") or {}).get("p99"),
            "init_ms": (c.get("init_ms") or {}).get("median"),
            "first_invocation_ms": (c.get("first_invocation_ms") or {}).get("median"),
            "peak_rss_mb": (w.get("peak_rss_kb") or 0) / 1024 or None,
            "zip_mb": (s.get("zip_bytes") or 0) / 1e6 or None,
            "events": w.get("events"),
            "invocations": w.get("invocations"),
            "aws_calls": w.get("aws_calls"),
            "statuses": w.get("statuses"),
            "batch_failures": w.get("batch_failures"),
            "invocation_errors": w.get("invocation_errors"),
            "duplicate_every": w.get("duplicate_every"),
            "record_bytes_mean": w.get("record_bytes_mean"),
        }

    # The relay's init and zip are those of its one bootstrap, whatever the
    # batch; its cold starts, one set per round, pooled as the handlers' are.
    relay_colds = [r for r in runs if r["mode"] == "cold" and r.get("kind") == "relay"]
    relay_cold = next(iter(merge_cold(relay_colds).values()), {})
    side = {name: row(name) for name in HANDLERS + RELAYS}
    admission = {**row(ADMISSION), "admission": warm.get(ADMISSION, {}).get("admission")} if ADMISSION in warm else None
    for name in RELAYS:
        side[name]["init_ms"] = (relay_cold.get("init_ms") or {}).get("median")
        side[name]["first_invocation_ms"] = (relay_cold.get("first_invocation_ms") or {}).get("median")
        side[name]["zip_mb"] = (sizes.get("relay", {}).get("zip_bytes") or 0) / 1e6 or None
    lh, one, three = side["livehook"], side["naive-1call"], side["naive-3call"]

    # livehook = handler + relay. The handler's CPU is per delivery (new or
    # duplicate); the relay's per stream record, and only new events make one:
    # per delivery it costs its CPU per event × the share of new deliveries.
    every = lh["duplicate_every"] or 0
    new_share = 1 - 1 / every if every > 0 else 1.0
    together = {}
    for batch, name in (("1", "relay/b1"), ("10", "relay/b10")):
        relay_cpu = side[name]["cpu_ms_per_event"]
        per_delivery = None if relay_cpu is None else relay_cpu * new_share
        total = None if per_delivery is None or lh["cpu_ms_per_event"] is None else lh["cpu_ms_per_event"] + per_delivery
        plain = None if relay_cpu is None or lh["cpu_ms_per_event"] is None else lh["cpu_ms_per_event"] + relay_cpu
        together[batch] = {"handler_ms": lh["cpu_ms_per_event"], "relay_ms_per_event": relay_cpu,
                           "relay_ms_per_delivery": per_delivery, "sum_ms_per_delivery": total,
                           "sum_over_naive_3call": ratio(total, three["cpu_ms_per_event"]),
                           "unweighted_sum_ms": plain,
                           "unweighted_sum_over_naive_3call": ratio(plain, three["cpu_ms_per_event"])}

    latency_keys = PAIRED_KEYS

    def over_one(name, r, key):
        """A function's ratio to the naive one-call handler: from its pairs
        when it was measured in pairs, else (a run of the older bench) its
        row's over the naive handler's row."""
        value = (paired.get(name) or {}).get(key)
        return value if name in paired else ratio(r.get(key), one[key])

    ratios = {
        "livehook/naive-1call": {k: over_one("livehook", lh, k) for k in latency_keys},
        "livehook/naive-3call": {k: ratio(lh[k], three[k]) for k in ("cpu_ms_per_event", "p50_ms", "p99_ms")},
        "livehook/python": {k: ratio(lh[k], side["python"][k]) for k in ("cpu_ms_per_event", "p50_ms", "p99_ms")},
        "naive-1call/naive-3call": {"cpu_ms_per_event": ratio(one["cpu_ms_per_event"], three["cpu_ms_per_event"])},
        "relay-b10/naive-3call": {"cpu_ms_per_event": ratio(side["relay/b10"]["cpu_ms_per_event"], three["cpu_ms_per_event"])},
        "relay-b1/naive-3call": {"cpu_ms_per_event": ratio(side["relay/b1"]["cpu_ms_per_event"], three["cpu_ms_per_event"])},
    }
    if admission:
        ratios["admission/naive-1call"] = {k: over_one(ADMISSION, admission, k) for k in latency_keys}
    if CONTROL in paired:
        ratios[f"{CONTROL}/naive-1call"] = {k: paired[CONTROL][k] for k in latency_keys}

    # Every provider's handler (their synthetic deliveries): no label of their own.
    per_provider = [r for r in warm.values() if label_of(r) == r["provider"] and not r.get("event") and r.get("kind") != "relay"]

    # ---- goals ----
    goals = []

    def goal(name, measured, target, ok):
        goals.append({"goal": name, "measured": measured, "target": target, "met": bool(ok)})

    def calls(r):
        c = r.get("aws_calls") or {}
        return c.get("new_event"), c.get("duplicate")

    sync = [("livehook (bililive FileClosed)", calls(lh))] + [(r["provider"], calls(r)) for r in per_provider]
    goal("synchronous AWS calls per delivery, new / duplicate (every provider)",
         ", ".join(f"{n}: {a} / {b}" for n, (a, b) in sync), "1 / 1",
         all(a == 1 and b == 1 for _, (a, b) in sync))
    b10 = side["relay/b10"]
    b10_calls = (b10["aws_calls"] or {}).get("per_event")
    b10_invocations = None if not b10["events"] else b10["invocations"] / b10["events"]
    goal("relay at batch 10: AWS calls and invocations per event",
         f"{fmt(b10_calls, '.2f')} calls ({json.dumps((b10['aws_calls'] or {}).get('operations'))} per batch), "
         f"{fmt(b10_invocations, '.2f')} invocations",
         f"≤ {RELAY_B10_CALLS_PER_EVENT} + ≤ {RELAY_B10_CALLS_PER_EVENT}",
         b10_calls is not None and b10_calls <= RELAY_B10_CALLS_PER_EVENT + 1e-9
         and b10_invocations is not None and b10_invocations <= RELAY_B10_CALLS_PER_EVENT + 1e-9)

    def ratio_goal(name, value, limit):
        goal(name, fmt(value, ".2f", "×"), f"≤ {limit}×", value is not None and value <= limit)

    ratio_goal("handler CPU per delivery ÷ naive one-call", ratios["livehook/naive-1call"]["cpu_ms_per_event"], HANDLER_OVER_ONE_CALL)
    # Every provider's function on its own deliveries, paired with the naive handler.
    provider_cpu = [(r["provider"], over_one(r["provider"], r, "cpu_ms_per_event")) for r in per_provider]
    if provider_cpu:
        worst_cpu = max(provider_cpu, key=lambda nv: nv[1] or 0)
        goal("every provider's handler: CPU per delivery ÷ naive one-call (worst)",
             f"{worst_cpu[0]}: {fmt(worst_cpu[1], '.2f', '×')}", f"≤ {HANDLER_OVER_ONE_CALL}×",
             all(v is not None and v <= HANDLER_OVER_ONE_CALL for _, v in provider_cpu))
    ratio_goal("relay CPU per event at batch 10 ÷ naive three-call", ratios["relay-b10/naive-3call"]["cpu_ms_per_event"], RELAY_B10_OVER_THREE_CALL)
    ratio_goal("handler + relay at batch 10 ÷ naive three-call", together["10"]["sum_over_naive_3call"], SUM_B10_OVER_THREE_CALL)
    ratio_goal("handler + relay at batch 1 ÷ naive three-call", together["1"]["sum_over_naive_3call"], SUM_B1_OVER_THREE_CALL)
    ratio_goal("warm p50 ÷ naive one-call", ratios["livehook/naive-1call"]["p50_ms"], P50_OVER_ONE_CALL)
    ratio_goal("warm p50 less the emulator's time ÷ naive one-call's", ratios["livehook/naive-1call"]["p50_less_emulator_ms"],
               P50_OVER_ONE_CALL)
    ratio_goal("warm p50 ÷ naive three-call", ratios["livehook/naive-3call"]["p50_ms"], P50_OVER_THREE_CALL)
    if admission:
        ratio_goal("admission (srs on_publish, stream key checked): CPU per delivery ÷ naive one-call",
                   ratios["admission/naive-1call"]["cpu_ms_per_event"], ADMISSION_OVER_ONE_CALL)
        ratio_goal("admission: warm p50 ÷ naive one-call", ratios["admission/naive-1call"]["p50_ms"], ADMISSION_P50_OVER_ONE_CALL)
        ratio_goal("admission: warm p50 less the emulator's time ÷ naive one-call's",
                   ratios["admission/naive-1call"]["p50_less_emulator_ms"], ADMISSION_P50_OVER_ONE_CALL)
        c = admission["aws_calls"] or {}
        ops = c.get("operations") or {}
        refused_in_run = (admission["admission"] or {}).get("refused")
        goal("admission: synchronous AWS calls per allowed / refused admission",
             f"{c.get('new_event', '–')} ({', '.join(ops.get('new_event') or [])}) / {c.get('refusal', '–')} "
             f"({', '.join(ops.get('refusal') or [])}); refusal answered: {c.get('refusal_answered')}; "
             f"refused in the run: {refused_in_run}",
             f"1 / ≤ {ADMISSION_REFUSAL_CALLS}",
             c.get("new_event") == 1 and ops.get("new_event") == ["TransactWriteItems"]
             and c.get("refusal") is not None and c["refusal"] <= ADMISSION_REFUSAL_CALLS
             and c.get("refusal_answered") is True and refused_in_run == 0)
    # Limits: the worst provider's handler, and the relay.
    def worst(values):
        known = [v for v in values if v]
        return max(known) if known else None

    handler_limits = {
        "init_ms": worst([(cold.get(r["provider"], {}).get("init_ms") or {}).get("median") for r in per_provider] + [lh["init_ms"]]),
        "peak_rss_mb": worst([(r.get("peak_rss_kb") or 0) / 1024 for r in per_provider] + [lh["peak_rss_mb"]]),
        "zip_mb": worst([(sizes.get(r["provider"], {}).get("zip_bytes") or 0) / 1e6 for r in per_provider] + [lh["zip_mb"]]),
    }
    relay_limits = {
        "init_ms": side["relay/b1"]["init_ms"],
        "peak_rss_mb": worst([side[n]["peak_rss_mb"] for n in RELAYS]),
        "zip_mb": side["relay/b1"]["zip_mb"],
    }
    for who, values in (("handlers (worst provider)", handler_limits), ("relay", relay_limits)):
        for key, name, spec, unit in (("init_ms", "init median", ".1f", " ms"), ("peak_rss_mb", "peak RSS", ".1f", " MB"),
                                      ("zip_mb", "zip", ".2f", " MB")):
            v = values[key]
            goal(f"{who}: {name}", fmt(v, spec, unit), f"≤ {LIMITS[key]:g}{unit}", v is not None and v <= LIMITS[key])
    failures = sum(side[n]["batch_failures"] or 0 for n in RELAYS) + sum(side[n]["invocation_errors"] or 0 for n in RELAYS)
    goal("relay: records returned as batchItemFailures or failed invocations", str(failures), "0", failures == 0)

    xray = {"off": row("livehook"), "on": row("livehook+xray")}
    ran_criterion = os.environ.get("BENCH_CRITERION", "0") != "0"
    results = {"machine": machine(), "core_us": criterion() if ran_criterion else {}, "side_by_side": side,
               "admission": admission, "paired": paired,
               "livehook_total": together, "ratios": ratios, "goals": goals, "xray": xray, "runs": runs}
    pathlib.Path("bench/results.json").write_text(json.dumps(results, indent=2) + "\n")

    # ---- markdown ----
    columns = [("livehook", "livehook handler"), ("relay/b1", "relay, batch 1"), ("relay/b10", "relay, batch 10"),
               ("naive-1call", "naive, 1 call"), ("naive-3call", "naive, 3 calls"), ("python", "Python Powertools")]
    table = ["| Bililive FileClosed, 20 % duplicates | " + " | ".join(title for _, title in columns)
             + " | handler ÷ naive 1 call | handler ÷ naive 3 calls |",
             "|---|" + "---:|" * (len(columns) + 2)]
    for key, name, spec, unit in [
        ("cpu_ms_per_event", "CPU per delivery (handlers) / per event (relay)", ".3f", " ms"),
        ("user_ms_per_event", "… of which user", ".3f", " ms"),
        ("system_ms_per_event", "… of which system", ".3f", " ms"),
        ("cpu_ms_per_invocation", "CPU per invocation", ".3f", " ms"),
        ("p50_ms", "warm p50 (handlers: the provider's wait)", ".2f", " ms"),
        ("p99_ms", "warm p99", ".2f", " ms"),
        ("emulator_p50_ms", "… of which the emulator's time, median per invocation", ".2f", " ms"),
        ("p50_less_emulator_ms", "warm p50 less the emulator's time", ".2f", " ms"),
        ("p99_less_emulator_ms", "warm p99 less the emulator's time", ".2f", " ms"),
        ("init_ms", "init (spawn → first `/next`), median", ".1f", " ms"),
        ("first_invocation_ms", "first invocation, median", ".1f", " ms"),
        ("peak_rss_mb", "peak RSS", ".1f", " MB"),
        ("zip_mb", "deployment zip", ".2f", " MB"),
    ]:
        cells = [fmt(side[n][key], spec, unit) for n, _ in columns]
        rs = [fmt(ratios["livehook/naive-1call"][key] if o is one and key in PAIRED_KEYS else ratio(lh[key], o[key]), ".2f", "×")
              if key not in ("cpu_ms_per_invocation", "first_invocation_ms", "emulator_p50_ms") else ""
              for o in (one, three)]
        table.append(f"| {name} | " + " | ".join(cells + rs) + " |")

    def calls_cell(n):
        c = side[n]["aws_calls"] or {}
        if n in RELAYS:
            ops = ", ".join(f"{v} {k}" for k, v in (c.get("operations") or {}).items())
            return f"{ops} per {c.get('events_in_batch')} events ({fmt(c.get('per_event'), '.2f')} per event)" if c else "–"
        ops = c.get("operations") or {}
        return f"{c.get('new_event', '–')} / {c.get('duplicate', '–')} ({', '.join(ops.get('new_event') or [])} / {', '.join(ops.get('duplicate') or [])})"

    table.append("| AWS calls: per new / duplicate delivery (handlers), per batch (relay) | "
                 + " | ".join(calls_cell(n) for n, _ in columns) + " | | |")
    table.append("| invocations per event | " + " | ".join(
        fmt(None if not side[n]["events"] else side[n]["invocations"] / side[n]["events"], ".2f") for n, _ in columns) + " | | |")
    table.append("| CPU per event, each round (ms) | " + " | ".join(
        ", ".join(f"{c:.3f}" for c in side[n]["cpu_ms_per_event_by_round"] or [] if c is not None) or "–" for n, _ in columns) + " | | |")

    def answers_cell(n):
        r = side[n]
        if n in RELAYS:
            return f"{r['events']} records in {r['invocations']} invocations (retry: {r['batch_failures']}, errors: {r['invocation_errors']})"
        return f"{r['events']} ({', '.join(f'{k}: {v}' for k, v in (r['statuses'] or {}).items())})"

    table.append("| events (answers) | " + " | ".join(answers_cell(n) for n, _ in columns) + " | | |")
    if "livehook" in paired:
        table.append(f"| handler CPU ÷ naive 1 call, per pair: median (p10–p90; min–max) | | | | | | | "
                     f"{spread_cell(paired['livehook']['cpu_pairs'])} | |")

    total_table = ["| livehook = handler + relay, CPU | batch 1 | batch 10 |", "|---|---:|---:|"]
    for key, name, spec, unit in [
        ("handler_ms", "handler, per delivery", ".3f", " ms"),
        ("relay_ms_per_event", "relay, per event", ".3f", " ms"),
        ("relay_ms_per_delivery", f"relay, per delivery (× {new_share:.2f}: only new deliveries make a record)", ".3f", " ms"),
        ("sum_ms_per_delivery", "**handler + relay, per delivery**", ".3f", " ms"),
        ("sum_over_naive_3call", "**÷ naive, 3 calls**", ".2f", "×"),
        ("unweighted_sum_ms", "handler + relay per event, unweighted (for scale)", ".3f", " ms"),
        ("unweighted_sum_over_naive_3call", "… ÷ naive, 3 calls", ".2f", "×"),
    ]:
        total_table.append(f"| {name} | {fmt(together['1'][key], spec, unit)} | {fmt(together['10'][key], spec, unit)} |")

    goal_table = ["| goal (outbox) | measured | target | |", "|---|---|---|---|"]
    for g in goals:
        goal_table.append(f"| {g['goal']} | {g['measured']} | {g['target']} | {'met' if g['met'] else '**not met**'} |")

    pairing_text = []
    if paired:
        any_paired = next(iter(paired.values()))
        pairing_text = [
            "**How a ratio to the naive one-call handler is formed (paired blocks).** In each round every provider's "
            "function, the livehook handler, admission and a control (a second naive one-call process) are spawned "
            "together with the naive one-call handler and kept warm; they take turns in blocks of "
            f"{any_paired['block']} deliveries, with a block of {any_paired['reference_block']} of the naive handler "
            "before, between and after them (so a naive block serves the two blocks beside it), the turn's order "
            f"rotating each round. Every block, on both sides, starts with {any_paired.get('rewarm', 0)} deliveries "
            "that are not measured: the first delivery after a pause costs about 0.2 ms more CPU (caches refilled), "
            "which the naive handler's shorter blocks would pay twice as often per delivery. A block's pair is the two naive blocks around it, measured within the same "
            "second or so: a phase of the shared machine's load falls on both sides. A function's ratio (the "
            "goals' figure) is its CPU summed over all its blocks per delivery ÷ the naive handler's CPU summed over "
            "the blocks around them per delivery (a naive block counted once for each block beside it); every "
            "block is kept. A p50 ratio is the function's p50 ÷ the p50 of the naive blocks around its blocks (each "
            "a mean of the rounds', as every p50 here). Beside each ratio: the spread of the per-pair ratios "
            "(median, p10–p90, min–max), how far one pair strays. The control's ratio is what a paired ratio "
            "reads when the code is the same. The naive one-call column is all its blocks pooled; the naive "
            "three-call handler, Python and X-Ray run one after another in the round, the relay after them.", ""]

    m = results["machine"]
    record_bytes = side["relay/b1"]["record_bytes_mean"]
    md = ["# livehook benchmark results", "",
          f"Measured on {m['cores']} cores, {m['cpu']}, Linux {m['kernel']}, {m['rustc']}; x86_64 release builds "
          "with the release profile of Cargo.toml. One run of `make bench` (bench/run.sh): one local Lambda Runtime API "
          "(`runtime-bench`), one moto emulator served with keep-alive (scripts/moto_serial.py), the table with its "
          "`NEW_IMAGE` stream. The machine is shared (other builds ran at the same time), so absolute times are noise; "
          "the ratios within the run are the figures that count.", "",
          "livehook is the handler (the bililive bootstrap: one conditional `PutItem` of the whole record per "
          "delivery) plus the relay (the relay bootstrap, handed the records that handler wrote, read back from the "
          "table's stream through the DynamoDB Streams API as `livehook pump` reads it, 1 or 10 records per "
          "invocation; it publishes them with `Publish` / `PublishBatch`). The baselines are the naive Rust handler "
          "(bench/naive, no token, no normalization, no envelope, no logs) with one conditional `PutItem` of the "
          "record (`NAIVE_CALLS=1`) or with claim, publish and complete, and the Python Powertools peer (three "
          "calls). Every label runs in the same interleaved rounds. CPU is the on-CPU time of the function's "
          "process's threads ÷ events; latency is event handed out → response posted. The emulator's time is how long it took over "
          "the invocation's AWS requests (scripts/moto_timing.py: from the parsed request to the answer built, "
          "around the strict wrapper and moto, which interprets each request in Python); the latency less it "
          "is the function's own wait and the loopback's, per invocation.", "",
          *pairing_text,
          "## Side by side", "", *table, "",
          f"Mean stream record (`SizeBytes`) fed to the relay: {fmt(record_bytes, '.0f', ' bytes')}.", "",
          "## livehook: handler + relay", "", *total_table, "",
          "## Goals", "", *goal_table, ""]

    if admission:
        c = admission["aws_calls"] or {}
        ops = c.get("operations") or {}
        md += ["## Admission with stream keys (srs, `LIVEHOOK_STREAM_KEYS=publish`)", "",
               "SRS on_publish deliveries of one stream, each presenting its key (`param` `?key=…`; the key's item "
               "put in the table before the run), in the same rounds as the naive handler. An allowed admission is "
               "one `TransactWriteItems` (a `ConditionCheck` on the key and the event's conditional `Put`; the key's `last_used` is recorded by the relay); "
               "the probe's refusal (a wrong key) is measured once. They run against the same emulator and table as "
               "the naive handler (the emulator's transaction costs the items it names, scripts/moto_transactions.py).", "",
               "Paired: the naive column is its blocks around admission's (CPU, latencies), the ratio from the "
               "pairs; user, system and RSS are the naive handler's row.", "",
               "| | admission (srs) | naive, 1 call | ÷ naive 1 call |", "|---|---:|---:|---:|"]
        around = (paired.get(ADMISSION) or {}).get("reference_around") or {}
        for key, name, spec, unit in [
            ("cpu_ms_per_event", "CPU per delivery", ".3f", " ms"),
            ("user_ms_per_event", "… of which user", ".3f", " ms"),
            ("system_ms_per_event", "… of which system", ".3f", " ms"),
            ("p50_ms", "warm p50", ".2f", " ms"),
            ("p99_ms", "warm p99", ".2f", " ms"),
            ("emulator_p50_ms", "… of which the emulator's time, median", ".2f", " ms"),
            ("p50_less_emulator_ms", "warm p50 less the emulator's time", ".2f", " ms"),
            ("p99_less_emulator_ms", "warm p99 less the emulator's time", ".2f", " ms"),
            ("peak_rss_mb", "peak RSS", ".1f", " MB"),
        ]:
            if key in PAIRED_KEYS and ADMISSION in paired:
                naive_cell, over = around.get(key), ratios["admission/naive-1call"][key]
            else:
                naive_cell, over = one[key], ratio(admission[key], one[key])
            over = "" if key == "emulator_p50_ms" else fmt(over, ".2f", "×")
            md.append(f"| {name} | {fmt(admission[key], spec, unit)} | {fmt(naive_cell, spec, unit)} | {over} |")
        if ADMISSION in paired:
            pa = paired[ADMISSION]
            md += [f"| CPU ÷ naive 1 call, per pair: median (p10–p90; min–max) | | | {spread_cell(pa['cpu_pairs'])} |",
                   f"| p50 ÷ naive 1 call, per pair | | | {spread_cell(pa['p50_pairs'])} |",
                   f"| p50 less the emulator's time ÷ naive's, per pair | | | {spread_cell(pa['p50_less_emulator_pairs'])} |"]
        md += [f"| CPU per delivery, each round (ms) | "
               f"{', '.join(f'{v:.3f}' for v in admission['cpu_ms_per_event_by_round'] or [] if v is not None)} | "
               f"{', '.join(f'{v:.3f}' for v in one['cpu_ms_per_event_by_round'] or [] if v is not None)} | |",
               f"| AWS calls per allowed admission | {c.get('new_event', '–')} ({', '.join(ops.get('new_event') or [])}) | "
               f"{(one['aws_calls'] or {}).get('new_event', '–')} | |",
               f"| AWS calls per refusal (wrong key) | {c.get('refusal', '–')} ({', '.join(ops.get('refusal') or [])}) | – | |",
               f"| deliveries (answers; refused) | {admission['events']} "
               f"({', '.join(f'{k}: {v}' for k, v in (admission['statuses'] or {}).items())}; "
               f"refused: {(admission['admission'] or {}).get('refused')}) | {one['events']} | |", ""]

    if per_provider:
        one_init = (cold.get("naive-1call", {}).get("init_ms") or {}).get("median")
        one_init_cpu = (cold.get("naive-1call", {}).get("init_cpu_ms") or {}).get("median")
        md += ["## Every provider's handler (its synthetic deliveries)", "",
               "In the same interleaved rounds as the side-by-side labels (each round: every provider's cold "
               "spawns, then its warm deliveries in the paired blocks). CPU and p50 ratios are paired: against the "
               "naive one-call handler's blocks right around the function's (see the top of this page); the CPU "
               "ratio is the pooled one, the spread that of the per-pair ratios. Init is against the naive "
               f"handler's spawns of the same rounds (CPU over all its blocks {fmt(one['cpu_ms_per_event'], '.3f', ' ms')}, "
               f"init median {fmt(one_init, '.1f', ' ms')}, init CPU median {fmt(one_init_cpu, '.2f', ' ms')}). Init CPU is "
               "what the process used until its first `GET …/next`: init without the wait for a shared core. The "
               "last row, the control, is a second naive one-call process in the same blocks: what a paired ratio "
               "reads for the same code.", "",
               "| function | init median ms | init p90 ms | init ÷ naive 1 call | init CPU median ms | init CPU ÷ naive 1 call | CPU per delivery | naive CPU around its blocks | CPU ÷ naive 1 call (paired) | per pair: median (p10–p90; min–max) | CPU each round (ms) | p50 ms | p50 ÷ naive 1 call (paired) | p99 ms | p50 less the emulator ms | peak RSS | AWS calls new / duplicate | answers | zip |",
               "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---|---|---:|"]
        rows = [(r["provider"], r) for r in per_provider]
        if CONTROL in warm:
            rows.append((CONTROL, warm[CONTROL]))
        for name, r in rows:
            c = cold.get(name, {})
            calls_ = r.get("aws_calls") or {}
            s = sizes.get(name, {})
            pr = paired.get(name) or {}
            init = (c.get("init_ms") or {}).get("median")
            init_cpu = (c.get("init_cpu_ms") or {}).get("median")
            by_round = ", ".join(f"{v:.3f}" for v in r.get("cpu_ms_per_event_by_round") or [] if v is not None)
            md.append(f"| {name} | {fmt(init)} | {fmt((c.get('init_ms') or {}).get('p90'))} | "
                      f"{fmt(ratio(init, one_init), '.2f', '×')} | {fmt(init_cpu)} | {fmt(ratio(init_cpu, one_init_cpu), '.2f', '×')} | "
                      f"{fmt(r.get('cpu_ms_per_event'), '.3f', ' ms')} | "
                      f"{fmt((pr.get('reference_around') or {}).get('cpu_ms_per_event'), '.3f', ' ms')} | "
                      f"{fmt(over_one(name, r, 'cpu_ms_per_event'), '.2f', '×')} | {spread_cell(pr.get('cpu_pairs'))} | "
                      f"{by_round} | {fmt(r['latency_ms']['p50'])} | {fmt(over_one(name, {'p50_ms': r['latency_ms']['p50']}, 'p50_ms'), '.2f', '×')} | "
                      f"{fmt(r['latency_ms']['p99'])} | "
                      f"{fmt((r.get('latency_less_emulator_ms') or {}).get('p50'))} | "
                      f"{(r['peak_rss_kb'] or 0) / 1024:.1f} MB | {calls_.get('new_event')} / {calls_.get('duplicate')} | "
                      f"{', '.join(f'{k}: {v}' for k, v in (r.get('statuses') or {}).items())} | "
                      f"{fmt((s.get('zip_bytes') or 0) / 1e6, '.2f', ' MB')} |")
        md.append("")

    on, off = xray["on"], xray["off"]
    if on["cpu_ms_per_event"] is not None:
        traced = (warm.get("livehook+xray", {}).get("aws_calls") or {}).get("with_trace_header")
        md += ["## X-Ray (`Lambda-Runtime-Trace-Id` handed out, as with `Tracing: Active`)", "",
               "| livehook handler (bililive) | no trace header | trace header | difference |", "|---|---:|---:|---:|"]
        for key, name, spec, unit in [("cpu_ms_per_event", "CPU per delivery", ".3f", " ms"), ("p50_ms", "warm p50", ".2f", " ms"),
                                      ("init_ms", "init median", ".2f", " ms"), ("peak_rss_mb", "peak RSS", ".1f", " MB")]:
            diff = None if on[key] is None or off[key] is None else on[key] - off[key]
            md.append(f"| {name} | {fmt(off[key], spec, unit)} | {fmt(on[key], spec, unit)} | {fmt(diff, '+' + spec, unit)} |")
        md += ["", f"AWS requests carrying `X-Amzn-Trace-Id` in the probe (one new delivery and its duplicate): {traced}. "
               "A difference inside the run-to-run noise of this machine (see the rounds above) is no difference.", ""]

    # The hostile-body peak RSS (bench/src/bin/hostile.rs), written by this run.
    hostile = pathlib.Path("bench/out/hostile.md")
    if hostile.exists():
        md += ["## Hostile bodies: answer and peak RSS per function", "", hostile.read_text().strip(), ""]

    core = results["core_us"].get("core", {})
    # Criterion's folder outlives its run: report it only when this run ran it.
    if core and ran_criterion:
        values = sorted(core.values())
        md += ["## Per-event core (authenticate + parse + normalize + key), criterion median", "",
               f"Over {len(values)} samples: median {values[len(values) // 2]:.2f} µs, max {values[-1]:.2f} µs.", ""]

    notes = pathlib.Path("bench/notes.md")
    text = "\n".join(md) + "\n"
    if notes.exists():
        text += "\n" + notes.read_text()
    pathlib.Path("bench/results.md").write_text(text)
    print("\n".join(["", *table, "", *total_table, "", *goal_table]))


if __name__ == "__main__":
    main()
