#!/usr/bin/env python3
"""Checks of template.yaml that cfn-lint cannot make (run by `make lint`).

Against the provider registry (`livehook providers --json`): every provider has
its role, log group and function, created exactly when its secret is given; its
URL output; its Lambda Errors and Throttles alarms; its share of the outcome
alarms (store_failed, too_large, unauthenticated); its widgets and metrics on the
dashboard, whose body must be valid JSON whichever providers are deployed.

Least privilege (one role per function; a provider function may only PutItem on
the table and write its own log group; the relay only reads the stream,
publishes, records failures and puts dead letters in the failed table), each secret only in the functions that use it,
the token pattern and the retention bounds, a function for every folder in
functions/, and the relay's event source mapping filter (the relay is invoked
for the INSERT and MODIFY records of events, never for the TTL's REMOVE nor
for a stream key's item). Exits 1 listing every problem.

    check_template.py [TEMPLATE] [--providers FILE]

FILE holds `livehook providers --json`'s lines; without it the registry is read
by running that command through cargo."""

import argparse
import json
import pathlib
import re
import subprocess
import sys

from cfnlint.decode import decode

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROVIDER_ACTIONS = {"dynamodb:PutItem", "logs:CreateLogStream", "logs:PutLogEvents"}
# What a function with stream keys (LIVEHOOK_STREAM_KEYS) may do besides, on key items only.
KEY_ACTIONS = {"dynamodb:ConditionCheckItem"}
KEY_ITEMS = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["streamkey#*"]}}
# What the relay may do besides, on key items only: record each key's last use.
RELAY_KEY_ACTIONS = {"dynamodb:UpdateItem"}
RELAY_ACTIONS = {
    "dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
    "dynamodb:ListStreams", "sns:Publish", "sqs:SendMessage", "dynamodb:PutItem",
    "logs:CreateLogStream", "logs:PutLogEvents",
}
XRAY = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
# Stream records the relay's mapping must let through (True) or keep out (False): a stream
# key's item (`livehook keys`) holds its key_sha256, an event's record never does.
EVENT_IMAGE = {"pk": {"S": "0f1e2d"}, "provider": {"S": "srs"}, "first_seen": {"S": "2026-01-01T00:00:00Z"}}
KEY_IMAGE = {"pk": {"S": "streamkey#publish#live/cam1"}, "stream": {"S": "live/cam1"},
             "key_sha256": {"S": "ab" * 32}, "created": {"S": "2026-01-01T00:00:00Z"}}
RELAY_RECORDS = [
    ("an event's INSERT", "INSERT", EVENT_IMAGE, True),
    ("an event's MODIFY", "MODIFY", EVENT_IMAGE, True),
    ("the TTL's REMOVE", "REMOVE", EVENT_IMAGE, False),
    ("a stream key's INSERT", "INSERT", KEY_IMAGE, False),
    ("a stream key's MODIFY", "MODIFY", KEY_IMAGE, False),
]
# The outcomes every provider must raise an alarm with, and show on its widget.
ALARMED_OUTCOMES = ["store_failed", "too_large", "unauthenticated"]
OUTCOMES = ["accepted", "duplicate", "rejected", "unauthenticated", "too_large", "store_failed"]
# The Lambda metrics the dashboard compares across functions, and those alarmed on.
FUNCTION_WIDGET_METRICS = ["Duration", "Errors", "Throttles", "Invocations"]
FUNCTION_ALARM_METRICS = ["Errors", "Throttles"]


def load_registry(path=None):
    if path:
        text = pathlib.Path(path).read_text(encoding="utf-8")
    else:
        text = subprocess.run(
            ["cargo", "run", "--quiet", "-p", "livehook-cli", "--", "providers", "--json"],
            cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def load_template(path):
    template, matches = decode(str(path))
    if matches:
        raise SystemExit(f"{path} does not parse: {matches}")
    return template


def statements(role, resources):
    """The role's statements: its own policies' and its managed policies' (each must be
    a policy of the template: an ARN from elsewhere could grant anything)."""
    documents = [policy["PolicyDocument"] for policy in role["Properties"].get("Policies", [])]
    for arn in role["Properties"].get("ManagedPolicyArns", []):
        managed = resources.get(arn.get("Ref")) if isinstance(arn, dict) else None
        if managed is None or managed["Type"] != "AWS::IAM::ManagedPolicy":
            yield {"Action": [f"anything of the managed policy {arn}"], "Resource": "*"}
            continue
        documents.append(managed["Properties"]["PolicyDocument"])
    for document in documents:
        for st in document["Statement"]:
            # Conditional statements: !If [cond, statement, NoValue].
            if isinstance(st, dict) and "Fn::If" in st:
                st = st["Fn::If"][1]
            yield st


def actions(st):
    a = st["Action"]
    return set(a if isinstance(a, list) else [a])


def refs(node):
    """Every name a node refers to: Ref, GetAtt, Condition, and ${...} in Fn::Sub."""
    found = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("Ref", "Condition") and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0] if isinstance(value, list) else value.split(".")[0])
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                found |= {v.split(".")[0] for v in re.findall(r"\$\{([^}!]+)\}", text)}
                if isinstance(value, list):
                    found |= refs(value[1])
            else:
                found |= refs(value)
    elif isinstance(node, list):
        for item in node:
            found |= refs(item)
    return found


def condition_parameters(template, condition, seen=None):
    """The parameters a condition depends on, through the conditions it names."""
    seen = seen or set()
    if condition in seen:
        return set()
    seen.add(condition)
    names = refs(template.get("Conditions", {}).get(condition, {}))
    found = {n for n in names if n in template.get("Parameters", {})}
    for n in names:
        if n in template.get("Conditions", {}):
            found |= condition_parameters(template, n, seen)
    return found


def evaluate(node, true):
    """A Fn::Join / Fn::If / Fn::Sub string tree with the conditions in `true` true."""
    if isinstance(node, str):
        return node
    if isinstance(node, dict) and "Fn::Sub" in node:
        value = node["Fn::Sub"]
        return value[0] if isinstance(value, list) else value
    if isinstance(node, dict) and "Fn::If" in node:
        cond, yes, no = node["Fn::If"]
        return evaluate(yes if cond in true else no, true)
    if isinstance(node, dict) and "Fn::Join" in node:
        sep, items = node["Fn::Join"]
        return sep.join(evaluate(i, true) for i in items)
    raise ValueError(f"unexpected piece {node!r}")


def dashboard_widgets(template, true):
    """The dashboard's widgets with the conditions in `true` true, or an error."""
    dashboards = [r for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    if not dashboards:
        return None, "no dashboard"
    body = evaluate(dashboards[0]["Properties"]["DashboardBody"], true)
    # Numbers substituted by CloudFormation (`"value":${TopicMaxMessageBytes}`).
    body = re.sub(r":\$\{[A-Za-z0-9:.]+\}", ":0", body)
    try:
        return json.loads(body)["widgets"], None
    except (ValueError, KeyError) as e:
        return None, f"dashboard body is not valid JSON ({e})"


def check(template, registry, functions_dir=None):
    res = template["Resources"]
    params = template.get("Parameters", {})
    outputs = template.get("Outputs", {})
    problems = []
    secret_variables = {p["secret"] for p in registry}
    glob_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    for name in sorted(secret_variables & set(glob_env)):
        problems.append(f"Globals pass {name} to every function")

    functions = {k: v for k, v in res.items() if v["Type"] == "AWS::Serverless::Function"}
    by_binary = {fn["Metadata"]["BuildProperties"]["Binary"]: (k, fn) for k, fn in functions.items()}
    roles_seen = {}
    for logical, fn in functions.items():
        props = fn["Properties"]
        role = props.get("Role", {}).get("Fn::GetAtt", [None])[0]
        if role is None or role not in res:
            problems.append(f"{logical} has no role of its own")
            continue
        if role in roles_seen:
            problems.append(f"{logical} shares {role} with {roles_seen[role]}")
        roles_seen[role] = logical
        log_group = props.get("LoggingConfig", {}).get("LogGroup", {}).get("Ref")
        if log_group not in res:
            problems.append(f"{logical} has no log group of its own")
        is_provider = any(e["Type"] == "HttpApi" for e in props.get("Events", {}).values())
        allowed = PROVIDER_ACTIONS if is_provider else RELAY_ACTIONS
        binary = fn["Metadata"]["BuildProperties"]["Binary"]
        keyed = any(
            p["name"] == binary and "LIVEHOOK_STREAM_KEYS" in p.get("settings", []) for p in registry
        )
        for st in statements(res[role], res):
            extra = actions(st) - allowed - XRAY
            key_actions = KEY_ACTIONS if keyed else RELAY_KEY_ACTIONS if not is_provider else set()
            if extra and extra <= key_actions and st.get("Condition") == KEY_ITEMS \
                    and st["Resource"] == {"Fn::GetAtt": ["EventsTable", "Arn"]}:
                extra = set()
            if extra:
                problems.append(f"{logical} ({role}) may {sorted(extra)}")
            if actions(st) & {"logs:PutLogEvents"} and st["Resource"] != {"Fn::GetAtt": [log_group, "Arn"]}:
                problems.append(f"{logical} writes logs outside {log_group}")
            # Provider functions write the outbox; the relay only its dead letters.
            table = "EventsTable" if is_provider else "FailedTable"
            if "dynamodb:PutItem" in actions(st) and st["Resource"] != {"Fn::GetAtt": [table, "Arn"]}:
                problems.append(f"{logical} writes outside {table}")

    alarms = {k: v for k, v in res.items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    for p in registry:
        name, prefix = p["name"], p["resource"]
        secret_params = {p["parameter"], p["parameter"] + "SecretId", p["parameter"] + "SsmParameter"}
        missing_params = sorted(secret_params - set(params))
        if missing_params:
            problems.append(f"{name}: no parameter {', '.join(missing_params)} for its secret")
        if name not in by_binary:
            problems.append(f"{name}: no function")
            continue
        logical, fn = by_binary[name]
        props = fn["Properties"]
        condition = fn.get("Condition")
        if condition is None or not secret_params <= condition_parameters(template, condition):
            problems.append(f"{name}: {logical} is not created on its secret ({p['parameter']}) being given")
        role = props.get("Role", {}).get("Fn::GetAtt", [None])[0]
        log_group = props.get("LoggingConfig", {}).get("LogGroup", {}).get("Ref")
        for kind, resource in [("role", role), ("log group", log_group)]:
            if resource not in res:
                problems.append(f"{name}: no {kind}")
            elif res[resource].get("Condition") != condition:
                problems.append(f"{name}: its {kind} {resource} is not created with its function")
        paths = [e["Properties"].get("Path") for e in props.get("Events", {}).values() if e["Type"] == "HttpApi"]
        if paths != [p["route"]]:
            problems.append(f"{name}: {logical} serves {paths}, not {p['route']}")
        env = props.get("Environment", {}).get("Variables", {})
        secrets = secret_variables & set(env)
        if secrets != {p["secret"]}:
            problems.append(f"{name}: {logical} receives {sorted(secrets)}, uses {p['secret']}")
        elif not secret_params <= refs(env[p["secret"]]):
            problems.append(f"{name}: {p['secret']} is not given by {sorted(secret_params)}")
        for setting in p["settings"]:
            if setting not in env:
                problems.append(f"{name}: {logical} lacks its setting {setting}")

        url_outputs = [k for k, o in outputs.items()
                       if re.search(re.escape(p["route"].split("{")[0].rstrip("/")) + r"/?$",
                                    str(o.get("Value", {}).get("Fn::Sub", "")))]
        if not url_outputs:
            problems.append(f"{name}: no URL output")
        elif any(outputs[k].get("Condition") != condition for k in url_outputs):
            problems.append(f"{name}: its URL output is not created with its function")

        for metric in FUNCTION_ALARM_METRICS:
            found = [k for k, a in alarms.items()
                     if a["Properties"].get("MetricName") == metric
                     and {"Ref": logical} in [d.get("Value") for d in a["Properties"].get("Dimensions", [])]]
            if not found:
                problems.append(f"{name}: no alarm on its function's {metric}")
            elif any(alarms[k].get("Condition") != condition for k in found):
                problems.append(f"{name}: its {metric} alarm is not created with its function")
        for outcome in ALARMED_OUTCOMES:
            if not any(alarm_covers(a, outcome, name) for a in alarms.values()):
                problems.append(f"{name}: no alarm counts its {outcome}")

    problems += check_dashboard(template, registry, by_binary)
    problems += check_relay_mapping(template)

    binaries = set(by_binary)
    folders = functions_dir if functions_dir is not None else ROOT / "functions"
    for folder in sorted(p.name for p in folders.iterdir() if p.is_dir()):
        if folder not in binaries:
            problems.append(f"functions/{folder} has no function in the template")

    token = next((p["parameter"] for p in registry if p["secret"] == "LIVEHOOK_TOKEN"), None)
    if token in params:
        pattern = re.compile(params[token].get("AllowedPattern", ""))
        for value, ok in [("", True), ("abcdefghijklmnop", True), ("Ab.c_d~e-0123456789,zyxwvutsrqponmlk", True),
                          ("abcdefghijklmno+", False), ("short", False), ("abcdefghijklmnop/q==", False)]:
            if bool(pattern.fullmatch(value)) != ok:
                problems.append(f"{token} pattern {'refuses' if ok else 'accepts'} {value!r}")
    retention = params.get("RetentionSeconds", {})
    if (retention.get("MinValue"), retention.get("MaxValue")) != (172800, 31536000):
        problems.append("RetentionSeconds is not bounded to 172800..31536000")
    return problems


def pattern_matches(pattern, value, missing=False):
    """Lambda's event filtering of `value` by `pattern` (fields all match, a field's rules
    any); a rule this check does not know raises ValueError."""
    if isinstance(pattern, dict):
        if not isinstance(value, dict):
            value, missing = {}, True
        return all(pattern_matches(p, value.get(k), k not in value) for k, p in pattern.items())
    if not isinstance(pattern, list):
        raise ValueError(f"{pattern!r} is not a list of rules")
    for rule in pattern:
        if isinstance(rule, (str, int, float)) or rule is None:
            if not missing and value == rule:
                return True
        elif isinstance(rule, dict) and set(rule) == {"exists"}:
            if rule["exists"] != missing:
                return True
        elif isinstance(rule, dict) and set(rule) == {"prefix"} and isinstance(rule["prefix"], str):
            if not missing and isinstance(value, str) and value.startswith(rule["prefix"]):
                return True
        elif isinstance(rule, dict) and set(rule) == {"anything-but"}:
            but = rule["anything-but"]
            but = but if isinstance(but, list) else [but]
            if not all(isinstance(b, str) for b in but):
                raise ValueError(f"rule {rule!r}")
            if not missing and value not in but:
                return True
        else:
            raise ValueError(f"rule {rule!r}")
    return False


def check_relay_mapping(template):
    """The relay's event source mappings: each filters its stream records as RELAY_RECORDS say."""
    problems = []
    mappings = {k: r for k, r in template["Resources"].items()
                if r["Type"] == "AWS::Lambda::EventSourceMapping"
                and r["Properties"].get("FunctionName") == {"Ref": "RelayFunction"}}
    if not mappings:
        return ["the relay has no event source mapping"]
    for logical, mapping in mappings.items():
        filters = mapping["Properties"].get("FilterCriteria", {}).get("Filters", [])
        try:
            patterns = [json.loads(f["Pattern"]) for f in filters]
        except (ValueError, KeyError, TypeError) as e:
            problems.append(f"{logical}: a filter pattern is not JSON ({e})")
            continue
        for what, name, image, wanted in RELAY_RECORDS:
            record = {"eventName": name, "eventSource": "aws:dynamodb",
                      "dynamodb": {"Keys": {"pk": image["pk"]}, "NewImage": image,
                                   "StreamViewType": "NEW_IMAGE"}}
            try:
                # No filter: every record; several: any of them.
                admitted = not patterns or any(pattern_matches(p, record) for p in patterns)
            except ValueError as e:
                problems.append(f"{logical}: its filter uses a {e} this check does not know")
                break
            if admitted != wanted:
                problems.append(f"{logical} {'keeps out' if wanted else 'invokes the relay with'} {what}")
    return problems


def alarm_covers(alarm, outcome, provider):
    """Whether `alarm` counts `outcome` of `provider`: a Metrics Insights query over
    every provider, or the provider's own metric."""
    props = alarm["Properties"]
    for m in props.get("Metrics", []):
        if isinstance(m, dict) and "Fn::If" in m:
            m = m["Fn::If"][1]
        expression = m.get("Expression", "")
        if re.fullmatch(rf"\s*SELECT\s+SUM\({outcome}\)\s+FROM\s+SCHEMA\(\"?livehook\"?,\s*provider\)\s*",
                        expression, re.I):
            return True
        metric = m.get("MetricStat", {}).get("Metric", {})
        if metric.get("Namespace") == "livehook" and metric.get("MetricName") == outcome and \
                {"Name": "provider", "Value": provider} in metric.get("Dimensions", []):
            return True
    return props.get("Namespace") == "livehook" and props.get("MetricName") == outcome and \
        {"Name": "provider", "Value": provider} in props.get("Dimensions", [])


def check_dashboard(template, registry, by_binary):
    problems = []
    conditions = sorted(template.get("Conditions", {}))
    # Valid JSON whichever providers are deployed: none, all, each alone.
    for true in [set(), set(conditions)] + [{c} for c in conditions]:
        widgets, error = dashboard_widgets(template, true)
        if error:
            problems.append(f"{error}, with {sorted(true) or 'no condition'} true")
            return problems
    widgets, _ = dashboard_widgets(template, set(conditions))
    metrics = [m for w in widgets for m in w.get("properties", {}).get("metrics", [])]
    queries = " ".join(w["properties"].get("query", "") for w in widgets if w["type"] == "log")
    alarm_arns = {a for w in widgets if w["type"] == "alarm" for a in w["properties"].get("alarms", [])}
    alarms = {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    for name, alarm in alarms.items():
        if alarm.get("Condition") is None and f"${{{name}.Arn}}" not in alarm_arns:
            problems.append(f"the alarm widget does not show {name}")
    for p in registry:
        name = p["name"]
        for outcome in OUTCOMES:
            if ["livehook", outcome, "provider", name] not in metrics:
                problems.append(f"{name}: no widget shows its {outcome}")
        if name not in by_binary:
            continue
        logical, fn = by_binary[name]
        for metric in FUNCTION_WIDGET_METRICS:
            if not any(m[:4] == ["AWS/Lambda", metric, "FunctionName", f"${{{logical}}}"] for m in metrics
                       if isinstance(m, list)):
                problems.append(f"{name}: no widget shows its function's {metric}")
        log_group = fn["Properties"].get("LoggingConfig", {}).get("LogGroup", {}).get("Ref")
        if f"'${{{log_group}}}'" not in queries:
            problems.append(f"{name}: the cold-start query does not read its log group")
        for alarm, a in alarms.items():
            if {"Ref": logical} in [d.get("Value") for d in a["Properties"].get("Dimensions", [])] \
                    and f"${{{alarm}.Arn}}" not in alarm_arns:
                problems.append(f"{name}: the alarm widget does not show {alarm}")
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("template", nargs="?", default=str(ROOT / "template.yaml"))
    parser.add_argument("--providers", help="`livehook providers --json` output (default: run it)")
    args = parser.parse_args(argv)
    problems = check(load_template(args.template), load_registry(args.providers))
    for p in problems:
        print(f"template.yaml: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
