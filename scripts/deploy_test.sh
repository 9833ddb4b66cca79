#!/usr/bin/env bash
# `make deploy` prints no secret: run it with a stand-in `sam` that records
# the arguments it is given (nothing is built or deployed), then check that
# the secrets reached sam and that nothing make or the recipe printed holds them.
set -euo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/bin"
cat >"$tmp/bin/sam" <<'SAM'
#!/usr/bin/env bash
printf '%s\n' "$*" >>"$SAM_ARGS"
SAM
chmod +x "$tmp/bin/sam"

token=deploy-test-token-$RANDOM$RANDOM
key=deploy-test-key-$RANDOM$RANDOM
signing=deploy-test-signing-$RANDOM$RANDOM
fail=0
check() { # what, output file
  for secret in "$token" "$key" "$signing"; do
    if grep -qF "$secret" "$2"; then
      echo "deploy_test: $1 printed a secret:" >&2
      cat "$2" >&2
      fail=1
    fi
  done
}

# Secrets on make's command line, as the README shows.
export SAM_ARGS=$tmp/args1
SAM="$tmp/bin/sam" make --no-print-directory -o .venv/.installed deploy \
  TOKEN="$token" TENCENT_KEY="$key" PARAMS="LivekitSecret=$signing AlarmEmail=ops@example.com" \
  STREAM_KEYS=publish,play \
  >"$tmp/out1" 2>&1
check "make deploy TOKEN=… TENCENT_KEY=… PARAMS=…" "$tmp/out1"
grep -qF "Token=$token" "$SAM_ARGS" && grep -qF "TencentKey=$key" "$SAM_ARGS" \
  && grep -qF "LivekitSecret=$signing" "$SAM_ARGS" \
  && grep -qF "StreamKeys=publish,play" "$SAM_ARGS" \
  || { echo "deploy_test: sam did not receive the secrets: $(cat "$SAM_ARGS")" >&2; fail=1; }

# Secrets from the environment.
export SAM_ARGS=$tmp/args2
LIVEHOOK_DEPLOY_TOKEN=$token LIVEHOOK_DEPLOY_TENCENT_KEY=$key SAM="$tmp/bin/sam" \
  make --no-print-directory -o .venv/.installed deploy >"$tmp/out2" 2>&1
check "make deploy (secrets in the environment)" "$tmp/out2"
grep -qF "Token=$token" "$SAM_ARGS" && grep -qF "TencentKey=$key" "$SAM_ARGS" \
  || { echo "deploy_test: sam did not receive the secrets from the environment" >&2; fail=1; }

# Either secret alone deploys without prompts (the other platforms' functions
# are simply not created), and the secret not given is not passed.
export SAM_ARGS=$tmp/args3
LIVEHOOK_DEPLOY_TOKEN=$token SAM="$tmp/bin/sam" \
  make --no-print-directory -o .venv/.installed deploy >"$tmp/out3" 2>&1
check "make deploy (the token alone)" "$tmp/out3"
grep -qF "Token=$token" "$SAM_ARGS" && ! grep -qF -- "--guided" "$SAM_ARGS" \
  && ! grep -qF "TencentKey=" "$SAM_ARGS" \
  || { echo "deploy_test: the token alone did not deploy without prompts: $(cat "$SAM_ARGS")" >&2; fail=1; }
export SAM_ARGS=$tmp/args4
SAM="$tmp/bin/sam" make --no-print-directory -o .venv/.installed deploy TENCENT_KEY="$key" \
  >"$tmp/out4" 2>&1
check "make deploy TENCENT_KEY=… (alone)" "$tmp/out4"
grep -qF "TencentKey=$key" "$SAM_ARGS" && ! grep -qF -- "--guided" "$SAM_ARGS" \
  && ! grep -qF "Token=" "$SAM_ARGS" \
  || { echo "deploy_test: the Tencent key alone did not deploy without prompts: $(cat "$SAM_ARGS")" >&2; fail=1; }

[[ $fail == 0 ]] && echo "deploy_test: make deploy printed no secret"
exit "$fail"
