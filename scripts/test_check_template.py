#!/usr/bin/env python3
"""check_template.py finds a provider left out of any place of the template.

The real template.yaml passes; then, for one provider at a time, each of its
places is removed from a copy (role, log group, function, its condition, its
secret, its setting, URL output, Lambda alarms, outcome alarms, widgets, the
cold-start query, the alarm list) and the check must name that provider. The
relay's mapping must filter out the TTL's deletions and the stream keys' items.

The registry comes from $LIVEHOOK_PROVIDERS_JSON (`livehook providers --json`
output, as `make lint` writes it), else from running that command."""

import copy
import os
import pathlib
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import check_template as ct  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent


def pieces(template):
    """The dashboard body's list of pieces."""
    dashboard = next(r for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard")
    return dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]


def piece_text(piece):
    if isinstance(piece, dict) and "Fn::If" in piece:
        piece = piece["Fn::If"][1]
    if isinstance(piece, dict) and "Fn::Sub" in piece:
        return piece["Fn::Sub"]
    return piece if isinstance(piece, str) else ""


def drop_pieces(template, predicate):
    body = pieces(template)
    kept = [p for p in body if not predicate(piece_text(p))]
    assert len(kept) < len(body), "nothing to drop"
    body[:] = kept


def strip_from_pieces(template, text):
    body = pieces(template)
    for i, p in enumerate(body):
        if text in piece_text(p):
            if isinstance(p, dict) and "Fn::If" in p:
                p["Fn::If"][1]["Fn::Sub"] = p["Fn::If"][1]["Fn::Sub"].replace(text, "")
            else:
                p["Fn::Sub"] = p["Fn::Sub"].replace(text, "")
            return
    raise AssertionError(f"{text} is in no piece")


class CheckTemplate(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.registry = ct.load_registry(os.environ.get("LIVEHOOK_PROVIDERS_JSON"))
        cls.template = ct.load_template(ROOT / "template.yaml")

    def problems(self, template, registry=None):
        return ct.check(template, registry or self.registry)

    def test_the_template_passes(self):
        self.assertEqual(self.problems(self.template), [])

    def assert_found(self, provider, mutate):
        template = copy.deepcopy(self.template)
        mutate(template, provider)
        problems = self.problems(template)
        self.assertTrue(any(p.startswith(provider["name"] + ":") for p in problems),
                        f"{mutate.__name__} of {provider['name']} went unnoticed: {problems}")

    def test_each_place_of_each_provider(self):
        def function(t, p):
            return t["Resources"][p["resource"] + "Function"]

        def remove_role(t, p):
            del t["Resources"][p["resource"] + "Role"]

        def remove_log_group(t, p):
            del t["Resources"][p["resource"] + "LogGroup"]

        def remove_function(t, p):
            del t["Resources"][p["resource"] + "Function"]

        def unconditional_function(t, p):
            del function(t, p)["Condition"]

        def remove_secret(t, p):
            del function(t, p)["Properties"]["Environment"]["Variables"][p["secret"]]

        def remove_output(t, p):
            for key in [k for k in t["Outputs"] if k.startswith(p["resource"] + "Url")]:
                del t["Outputs"][key]

        def remove_errors_alarm(t, p):
            del t["Resources"][p["resource"] + "ErrorsAlarm"]

        def remove_throttles_alarm(t, p):
            del t["Resources"][p["resource"] + "ThrottlesAlarm"]

        def outcome_alarm_without_it(t, p):
            metrics = t["Resources"]["StoreFailedAlarm"]["Properties"]["Metrics"]
            metrics[0]["Expression"] += f" WHERE provider != '{p['name']}'"

        def remove_outcome_widget(t, p):
            drop_pieces(t, lambda text: f'"title":"{p["name"]}: outcomes' in text)

        def remove_lambda_metrics(t, p):
            drop_pieces(t, lambda text: text.startswith('["AWS/Lambda"') and f'${{{p["resource"]}Function}}' in text)

        def remove_cold_start_source(t, p):
            drop_pieces(t, lambda text: text.startswith(f"SOURCE '${{{p['resource']}LogGroup}}'"))

        def remove_alarm_arns(t, p):
            strip_from_pieces(t, f',"${{{p["resource"]}ErrorsAlarm.Arn}}"')

        mutations = [remove_role, remove_log_group, remove_function, unconditional_function,
                     remove_secret, remove_output, remove_errors_alarm, remove_throttles_alarm,
                     outcome_alarm_without_it, remove_outcome_widget, remove_lambda_metrics,
                     remove_cold_start_source, remove_alarm_arns]
        for provider in self.registry:
            for mutate in mutations:
                with self.subTest(provider=provider["name"], place=mutate.__name__):
                    self.assert_found(provider, mutate)

    def test_a_role_with_more_than_it_needs(self):
        template = copy.deepcopy(self.template)
        role = template["Resources"]["TencentRole"]["Properties"]
        role["ManagedPolicyArns"].append("arn:aws:iam::aws:policy/AdministratorAccess")
        self.assertTrue(any("TencentFunction (TencentRole) may" in p for p in self.problems(template)))
        template = copy.deepcopy(self.template)
        shared = template["Resources"]["ProviderFunctionPolicy"]["Properties"]["PolicyDocument"]
        shared["Statement"][0]["Action"] = ["dynamodb:PutItem", "dynamodb:DeleteItem"]
        self.assertTrue(any("may ['dynamodb:DeleteItem']" in p for p in self.problems(template)))

    def test_stream_key_access_only_on_key_items_of_keyed_functions(self):
        def key_statement(template, role):
            policies = template["Resources"][role]["Properties"]["Policies"]
            return next(st for pol in policies for st in pol["PolicyDocument"]["Statement"]
                        if isinstance(st, dict) and st.get("Sid") == "CheckStreamKeys")
        # Without its condition, the statement reaches every item of the table.
        template = copy.deepcopy(self.template)
        del key_statement(template, "SrsRole")["Condition"]
        self.assertTrue(any("SrsFunction (SrsRole) may" in p for p in self.problems(template)))
        # A function without stream keys may not have it at all.
        template = copy.deepcopy(self.template)
        statement = copy.deepcopy(key_statement(template, "SrsRole"))
        tencent = template["Resources"]["TencentRole"]["Properties"]["Policies"][0]
        tencent["PolicyDocument"]["Statement"].append(statement)
        self.assertTrue(any("TencentFunction (TencentRole) may" in p for p in self.problems(template)))
        # The relay records keys' uses on key items only.
        template = copy.deepcopy(self.template)
        relay = template["Resources"]["RelayRole"]["Properties"]["Policies"][0]["PolicyDocument"]
        uses = next(st for st in relay["Statement"] if isinstance(st, dict) and st.get("Sid") == "RecordKeyUses")
        del uses["Condition"]
        self.assertTrue(any("RelayFunction (RelayRole) may ['dynamodb:UpdateItem']" in p
                            for p in self.problems(template)))

    def test_a_provider_missing_its_setting(self):
        provider = next(p for p in self.registry if p["settings"])
        variables = self.template["Resources"][provider["resource"] + "Function"]["Properties"]["Environment"]["Variables"]
        template = copy.deepcopy(self.template)
        del template["Resources"][provider["resource"] + "Function"]["Properties"]["Environment"]["Variables"][provider["settings"][0]]
        self.assertIn(provider["settings"][0], variables)
        self.assertTrue(any("lacks its setting" in p for p in self.problems(template)))

    def test_a_provider_the_template_does_not_know(self):
        newcomer = dict(self.registry[-1], name="newcomer", resource="Newcomer", route="/newcomer")
        problems = self.problems(self.template, self.registry + [newcomer])
        self.assertIn("newcomer: no function", problems)
        self.assertTrue(any(p.startswith("newcomer: no widget shows its accepted") for p in problems))

    def test_the_relay_mapping_keeps_out_stream_keys_and_removals(self):
        def with_patterns(*patterns):
            template = copy.deepcopy(self.template)
            mapping = template["Resources"]["RelayStream"]["Properties"]
            if patterns:
                mapping["FilterCriteria"] = {"Filters": [{"Pattern": p} for p in patterns]}
            else:
                del mapping["FilterCriteria"]
            return self.problems(template)

        self.assertIn("RelayStream invokes the relay with a stream key's INSERT",
                      with_patterns('{"eventName":["INSERT","MODIFY"]}'))
        self.assertIn("RelayStream invokes the relay with a stream key's MODIFY", with_patterns())
        self.assertIn("RelayStream invokes the relay with the TTL's REMOVE",
                      with_patterns('{"dynamodb":{"NewImage":{"key_sha256":{"S":[{"exists":false}]}}}}'))
        # Filters are ORed: a second, broader one lets the keys back in.
        ours = self.template["Resources"]["RelayStream"]["Properties"]["FilterCriteria"]["Filters"][0]["Pattern"]
        self.assertIn("RelayStream invokes the relay with a stream key's INSERT",
                      with_patterns(ours, '{"eventName":["INSERT"]}'))
        self.assertIn("RelayStream keeps out an event's MODIFY",
                      with_patterns('{"eventName":["INSERT"],"dynamodb":{"NewImage":{"key_sha256":[{"exists":false}]}}}'))
        self.assertTrue(any("does not know" in p for p in with_patterns('{"eventName":[{"wildcard":"*"}]}')))
        self.assertEqual(with_patterns(ours), [])

    def test_a_dashboard_piece_that_breaks_the_json(self):
        template = copy.deepcopy(self.template)
        body = pieces(template)
        first_if = next(p for p in body if isinstance(p, dict) and "Fn::If" in p)
        first_if["Fn::If"][1]["Fn::Sub"] = first_if["Fn::If"][1]["Fn::Sub"].rstrip(",")
        self.assertTrue(any("not valid JSON" in p for p in self.problems(template)))


if __name__ == "__main__":
    unittest.main()
