#!/usr/bin/env python3
"""Checks of template.yaml that cfn-lint cannot make (run by `make lint`):
least privilege (one role per function; a provider function may only PutItem
on the table and write its own log group; the relay only reads the stream,
publishes, records failures and puts dead letters in the failed table), each secret only in the functions that use
it, the token pattern and the retention bounds, and a function for every
folder in functions/. Exits 1 listing every problem."""

import pathlib
import re
import sys

from cfnlint.decode import decode

ROOT = pathlib.Path(__file__).resolve().parent.parent
SECRETS = {"LIVEHOOK_TOKEN", "LIVEHOOK_TENCENT_KEY"}
PROVIDER_ACTIONS = {"dynamodb:PutItem", "logs:CreateLogStream", "logs:PutLogEvents"}
RELAY_ACTIONS = {
    "dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
    "dynamodb:ListStreams", "sns:Publish", "sqs:SendMessage", "dynamodb:PutItem",
    "logs:CreateLogStream", "logs:PutLogEvents",
}
XRAY = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def statements(role):
    for policy in role["Properties"].get("Policies", []):
        for st in policy["PolicyDocument"]["Statement"]:
            # Conditional statements: !If [cond, statement, NoValue].
            if isinstance(st, dict) and "Fn::If" in st:
                st = st["Fn::If"][1]
            yield st


def actions(st):
    a = st["Action"]
    return set(a if isinstance(a, list) else [a])


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "template.yaml")
    template, matches = decode(path)
    if matches:
        print("template.yaml does not parse", matches)
        return 1
    res = template["Resources"]
    problems = []
    glob_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    for name in SECRETS & set(glob_env):
        problems.append(f"Globals pass {name} to every function")
    functions = {k: v for k, v in res.items() if v["Type"] == "AWS::Serverless::Function"}
    roles_seen = {}
    for logical, fn in functions.items():
        props = fn["Properties"]
        binary = fn["Metadata"]["BuildProperties"]["Binary"]
        role = props.get("Role", {}).get("Fn::GetAtt", [None])[0]
        if role is None or role not in res:
            problems.append(f"{logical} has no role of its own")
            continue
        if role in roles_seen:
            problems.append(f"{logical} shares {role} with {roles_seen[role]}")
        roles_seen[role] = logical
        log_group = props["LoggingConfig"]["LogGroup"]["Ref"]
        env = props.get("Environment", {}).get("Variables", {})
        is_provider = any(e["Type"] == "HttpApi" for e in props.get("Events", {}).values())
        allowed = PROVIDER_ACTIONS if is_provider else RELAY_ACTIONS
        for st in statements(res[role]):
            extra = actions(st) - allowed - XRAY
            if extra:
                problems.append(f"{logical} ({role}) may {sorted(extra)}")
            if actions(st) & {"logs:PutLogEvents"} and st["Resource"] != {"Fn::GetAtt": [log_group, "Arn"]}:
                problems.append(f"{logical} writes logs outside {log_group}")
            # Provider functions write the outbox; the relay only its dead letters.
            table = "EventsTable" if is_provider else "FailedTable"
            if "dynamodb:PutItem" in actions(st) and st["Resource"] != {"Fn::GetAtt": [table, "Arn"]}:
                problems.append(f"{logical} writes outside {table}")
        secrets = SECRETS & set(env)
        if binary == "tencent":
            wanted = {"LIVEHOOK_TENCENT_KEY"}
        elif is_provider:
            wanted = {"LIVEHOOK_TOKEN"}
        else:
            wanted = set()
        if secrets != wanted:
            problems.append(f"{logical} receives {sorted(secrets)}, uses {sorted(wanted)}")
    binaries = {fn["Metadata"]["BuildProperties"]["Binary"] for fn in functions.values()}
    for folder in sorted(p.name for p in (ROOT / "functions").iterdir() if p.is_dir()):
        if folder not in binaries:
            problems.append(f"functions/{folder} has no function in the template")

    params = template["Parameters"]
    pattern = re.compile(params["Token"]["AllowedPattern"])
    for token, ok in [("", True), ("abcdefghijklmnop", True), ("Ab.c_d~e-0123456789,zyxwvutsrqponmlk", True),
                      ("abcdefghijklmno+", False), ("short", False), ("abcdefghijklmnop/q==", False)]:
        if bool(pattern.fullmatch(token)) != ok:
            problems.append(f"Token pattern {'refuses' if ok else 'accepts'} {token!r}")
    retention = params["RetentionSeconds"]
    if (retention.get("MinValue"), retention.get("MaxValue")) != (172800, 31536000):
        problems.append("RetentionSeconds is not bounded to 172800..31536000")

    for p in problems:
        print(f"template.yaml: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
