#!/usr/bin/env bash
# `make deploy`: sam build, then sam deploy. The secrets come from the
# environment (TOKEN / TENCENT_KEY, which make exports from its own command
# line, or LIVEHOOK_DEPLOY_TOKEN / LIVEHOOK_DEPLOY_TENCENT_KEY), so that no
# command line make or this script prints holds them. SAM masks the template's
# NoEcho parameters in its own summary.
set -euo pipefail

arch=${ARCH:-x86_64}
stack=${STACK:-livehook}
token=${LIVEHOOK_DEPLOY_TOKEN:-${TOKEN:-}}
tencent_key=${LIVEHOOK_DEPLOY_TENCENT_KEY:-${TENCENT_KEY:-}}
params=${PARAMS:-}
# Not a secret: which admissions need a stream key (off, publish, publish,play).
stream_keys=${STREAM_KEYS:-}
# The SAM CLI (deploy_test.sh puts a stand-in here).
sam=${SAM:-sam}

echo "sam build --parameter-overrides Architecture=$arch"
"$sam" build --parameter-overrides "Architecture=$arch"

# Any secret alone is a deployment: a provider's functions exist only when
# its secret is given (the template's conditions), so the others may be left out.
if [[ -n $token || -n $tencent_key || -n $params || -n $stream_keys ]]; then
  overrides=("Architecture=$arch")
  shown=("Architecture=$arch")
  if [[ -n $token ]]; then overrides+=("Token=$token"); shown+=("Token=***"); fi
  if [[ -n $tencent_key ]]; then overrides+=("TencentKey=$tencent_key"); shown+=("TencentKey=***"); fi
  if [[ -n $stream_keys ]]; then overrides+=("StreamKeys=$stream_keys"); shown+=("StreamKeys=$stream_keys"); fi
  read -ra extra <<<"$params"
  for p in "${extra[@]}"; do
    overrides+=("$p")
    # Any other parameter may be a secret too (a signing secret): names only.
    shown+=("${p%%=*}=…")
  done
  echo "sam deploy --stack-name $stack --parameter-overrides ${shown[*]}"
  "$sam" deploy --stack-name "$stack" --parameter-overrides "${overrides[@]}"
else
  echo "sam deploy --stack-name $stack --guided --parameter-overrides Architecture=$arch"
  "$sam" deploy --stack-name "$stack" --guided --parameter-overrides "Architecture=$arch"
fi
