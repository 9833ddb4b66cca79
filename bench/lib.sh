# Shared by bench/run.sh and bench/profile.sh. Source after scripts/lib.sh.
# shellcheck shell=bash

# bench_emulator PORT LOG: the emulator (scripts/moto_serial.py, or the script
# in BENCH_EMULATOR, same flags) with table and topic; exports the functions'
# environment. The table has its NEW_IMAGE stream. Its request recorder
# writes to MOTO_RECORDER_FILEPATH.
bench_emulator() {
  export MOTO_RECORDER_FILEPATH="${MOTO_RECORDER_FILEPATH:-$root/bench/out/moto_recording}"
  setsid "$root/.venv/bin/python" "${BENCH_EMULATOR:-$root/scripts/moto_serial.py}" -H 127.0.0.1 -p "$1" >"$2" 2>&1 &
  stack_pids+=($!)
  wait_http "http://127.0.0.1:$1/moto-api/" 60
  emulator_setup "http://127.0.0.1:$1" bench-tail
  # Nothing reads the tail queue here, and moto's SQS delivery slows down as
  # the queue fills (40 ms a publish after a few hundred messages): unsubscribe it.
  # The table is the outbox: its NEW_IMAGE stream feeds the relay (as in
  # template.yaml), and the bench reads it through the Streams API.
  "$root/.venv/bin/python" -c '
import sys, boto3
sns = boto3.client("sns", endpoint_url=sys.argv[1])
for s in sns.list_subscriptions_by_topic(TopicArn=sys.argv[2])["Subscriptions"]:
    sns.unsubscribe(SubscriptionArn=s["SubscriptionArn"])
dynamodb = boto3.client("dynamodb", endpoint_url=sys.argv[1])
if not dynamodb.describe_table(TableName=sys.argv[3])["Table"].get("StreamSpecification", {}).get("StreamEnabled"):
    dynamodb.update_table(TableName=sys.argv[3],
                          StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})' \
    "http://127.0.0.1:$1" "$LIVEHOOK_TOPIC_ARN" "$LIVEHOOK_TABLE"
  export LIVEHOOK_TABLE LIVEHOOK_TOPIC_ARN LIVEHOOK_TOKEN=bench-token-0123456789 LIVEHOOK_TENCENT_KEY=bench-tencent-key
  # RUST_LOG as deployed (template.yaml): the info line of every delivery is part of the cost.
  export LIVEHOOK_REPLAY_WINDOW_SECONDS=0 AWS_ENDPOINT_URL="http://127.0.0.1:$1" RUST_LOG=info
}

# driver_build LOG: runtime-bench, optimized but without fat LTO: the driver
# is not what is measured, and a fat-LTO link of it costs minutes on a small
# machine. It builds into target/release; the bootstraps (cargo lambda) into
# target/x86_64-unknown-linux-gnu, with the release profile as deployed.
driver_build() {
  CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    cargo build --release -p livehook-bench --bin runtime-bench --bin hostile >"$1" 2>&1
}
