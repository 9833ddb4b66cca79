#!/usr/bin/env bash
# The consumer example against a running livehook stack (scripts/e2e.sh calls it):
# its filter policy (template.yaml's, the consumer's default) lets through exactly the
# events it names. Two consumers subscribe: the example's, and one whose policy takes
# every provider sent here (proof that the events it must not see did reach the topic).
# Events are sent with `livehook send` as the providers send them; both consumers
# validate every event against schemas/ and exit non-zero on any invalid one.
#
# Usage: test_consumer.sh ENDPOINT TOPIC_ARN FUNCTION_BASE_URL TOKEN LIVEHOOK [PYTHON]
#   ENDPOINT           the AWS emulator (http://127.0.0.1:PORT)
#   FUNCTION_BASE_URL  where the functions are served (`make dev`: http://127.0.0.1:9000/lambda-url)
#   LIVEHOOK           the livehook binary
set -euo pipefail
[ $# -ge 5 ] || { sed -n '2,13p' "$0"; exit 2; }
endpoint=$1 topic=$2 base=$3 token=$4 livehook=$5
here=$(cd "$(dirname "$0")" && pwd)
python=${6:-$here/../../.venv/bin/python}
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-testing} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-testing}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}

# The template's policy must be the consumer's default: the one this test proves.
policy=$("$python" - "$here" <<'PY'
import json, sys, yaml
sys.path.insert(0, sys.argv[1])
import consumer
loader = yaml.SafeLoader
loader.add_multi_constructor("!", lambda load, tag, node: None)  # CloudFormation's !Ref, !GetAtt
with open(f"{sys.argv[1]}/template.yaml", encoding="utf-8") as f:
    template = yaml.load(f, Loader=loader)
policy = template["Resources"]["EventsSubscription"]["Properties"]["FilterPolicy"]
if policy != consumer.DEFAULT_POLICY:
    sys.exit(f"template.yaml's FilterPolicy {policy} is not consumer.py's {consumer.DEFAULT_POLICY}")
print(json.dumps(policy))
PY
)
wanted_type=$("$python" -c 'import json,sys; print(json.loads(sys.argv[1])["type"][0])' "$policy")
wanted_provider=$("$python" -c 'import json,sys; print(json.loads(sys.argv[1])["provider"][0])' "$policy")

# PROVIDER SAMPLE: what is sent, and whether the policy names it.
sends=(
  "srs on_publish pass"
  "srs on_publish.srs4 pass"
  "srs on_unpublish block"
  "srs on_play block"
  "lal on_pub_start block"
)
senders=$(printf '%s\n' "${sends[@]}" | awk '{print $1}' | sort -u | paste -sd, -)
everything=$("$python" -c 'import json,sys; print(json.dumps({"provider": sys.argv[1].split(",")}))' "$senders")

start_consumer() { # NAME POLICY
  "$python" "$here/consumer.py" --endpoint-url "$endpoint" --topic-arn "$topic" \
    --queue-name "consumer-test-$1-$$" --filter-policy "$2" --until-idle 10 --max-wait 240 \
    >"$work/$1.events" 2>"$work/$1.log" &
  pids+=($!)
}
start_consumer filtered "$policy"
start_consumer everything "$everything"
for name in filtered everything; do
  for _ in $(seq 100); do
    grep -q '^consumer: subscribed' "$work/$name.log" 2>/dev/null && break
    sleep 0.2
  done
  grep -q '^consumer: subscribed' "$work/$name.log" || { echo "FAIL consumer $name did not subscribe:"; cat "$work/$name.log"; exit 1; }
done

expected_pass=0
for line in "${sends[@]}"; do
  read -r provider sample verdict <<<"$line"
  url=$("$livehook" providers --url "$base" --format '{name} {function_url}' | awk -v p="$provider" '$1 == p { print $2 }')
  "$livehook" send "$provider" "$sample" --url "$url" --token "$token" --timeout 60 >"$work/send" 2>&1 \
    || { echo "FAIL livehook send $provider $sample: $(cat "$work/send")"; exit 1; }
  [ "$verdict" = pass ] && expected_pass=$((expected_pass + 1))
done

status=0
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || status=1
done
pids=()
cat "$work/filtered.log" "$work/everything.log" >&2
[ "$status" = 0 ] || { echo "FAIL a consumer saw an event that does not match schemas/ (above)"; exit 1; }

# The unfiltered consumer saw every event sent: they all reached the topic.
all=$(wc -l <"$work/everything.events")
[ "$all" = "${#sends[@]}" ] || { echo "FAIL ${all} of ${#sends[@]} events reached the topic"; cat "$work/everything.events"; exit 1; }
# The filtered one saw exactly those its policy names.
report=$("$python" - "$work/filtered.events" "$wanted_type" "$wanted_provider" "$expected_pass" <<'PY'
import json, sys
path, wanted_type, wanted_provider, expected = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
events = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
wrong = [e for e in events if e["type"] != wanted_type or e["source"] != f"livehook/{wanted_provider}"]
if wrong or len(events) != expected:
    sys.exit(f"FAIL the filter let through {len(events)} events ({len(wrong)} it does not name), expected {expected}: "
             + " ".join(f"{e['type']}/{e['source']}" for e in events))
print(f"{len(events)} of the events sent passed the filter, each {wanted_type} from {wanted_provider}, each valid")
PY
)
echo "consumer example: $report; the unfiltered subscription saw all ${#sends[@]}"
