# livehook: `make dev` runs it locally, `make test` tests it. Tools come from
# .venv/ (installed from requirements-dev.txt on first use); only Rust and
# Python 3 are assumed.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
VENV := .venv
TOOLS := $(VENV)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1

# functions/ is the registry of binaries: one folder per provider.
FUNCTIONS := $(notdir $(wildcard functions/*))
# Build/deploy architecture. ARCH=arm64 (Graviton: cheaper per ms) needs the
# aarch64-unknown-linux-gnu Rust target (`rustup target add …`); x86_64 builds
# with nothing more than the host toolchain.
ARCH ?= x86_64
STACK ?= livehook

.PHONY: dev test unit e2e e2e-srs e2e-zlm vendor-verify build lint deploy bench soak fuzz clean tools schemas schemas-check template template-check

$(TOOLS): requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

tools: $(TOOLS)

# The AsyncAPI parser (Node.js, from the npm registry; versions pinned by the lock file).
ASYNCAPI_TOOLS := scripts/asyncapi/node_modules/.installed
$(ASYNCAPI_TOOLS): scripts/asyncapi/package.json scripts/asyncapi/package-lock.json
	SCARF_ANALYTICS=false npm ci --prefix scripts/asyncapi --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

dev: $(TOOLS)
	scripts/dev.sh

# The vendors' own verifiers on what livehook signs (`livehook send`'s
# signing, on every sample of the signed platforms): LiveKit's livekit-api
# (PyPI, requirements-dev.txt), Mux's @mux/mux-node (npm, pinned by the lock
# file); Twitch and Agora publish no verifier of their own: their documented algorithms.
VENDOR_TOOLS := scripts/vendors/node_modules/.installed
$(VENDOR_TOOLS): scripts/vendors/package.json scripts/vendors/package-lock.json
	npm ci --prefix scripts/vendors --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

define VENDOR_VERIFY
cargo run -q -p livehook --example sign_samples > target/signed-samples.jsonl
python scripts/vendors/livekit_verify.py < target/signed-samples.jsonl
node scripts/vendors/mux_verify.mjs < target/signed-samples.jsonl
node scripts/vendors/twitch_verify.mjs < target/signed-samples.jsonl
python scripts/vendors/agora_verify.py < target/signed-samples.jsonl
python scripts/vendors/documented_verify.py < target/signed-samples.jsonl
endef

vendor-verify: $(TOOLS) $(VENDOR_TOOLS)
	$(VENDOR_VERIFY)

test: $(TOOLS) $(VENDOR_TOOLS)
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo test --workspace
	python3 scripts/test_moto_expressions.py
	$(VENDOR_VERIFY)
	scripts/deploy_test.sh
	scripts/e2e.sh

# Unit tests only: no emulator, no network.
unit:
	cargo test -p livehook

e2e: $(TOOLS)
	scripts/e2e.sh

# Stream keys with SRS and ZLMediaKit built from source (not in `make test`):
# SRS_BIN / ZLM_BIN name the server's binary (see the README's Stream keys).
e2e-srs: $(TOOLS)
	SRS_BIN="$(SRS_BIN)" scripts/srs_keys_e2e.sh

e2e-zlm: $(TOOLS)
	ZLM_BIN="$(ZLM_BIN)" scripts/zlm_keys_e2e.sh

build: $(TOOLS)
	cargo lambda build --release $(if $(filter arm64,$(ARCH)),--arm64,--x86-64) \
	  $(foreach f,$(FUNCTIONS),--bin $(f)) --output-format zip
	@ls -l $(foreach f,$(FUNCTIONS),target/lambda/$(f)/bootstrap.zip)

lint: $(TOOLS) schemas-check template-check
	cfn-lint template.yaml examples/consumer/template.yaml
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  cargo run --quiet -p livehook-cli -- providers --json > "$$tmp/providers.jsonl"; \
	  python3 scripts/check_template.py --providers "$$tmp/providers.jsonl"; \
	  LIVEHOOK_PROVIDERS_JSON="$$tmp/providers.jsonl" python3 scripts/test_check_template.py
	sam validate --lint
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

# The event catalog (schemas/, README's table of types), regenerated from the code.
schemas:
	cargo run --quiet -p livehook-cli -- schema --out schemas --readme README.md

# Fails when schemas/ or README's table differ from what the code generates,
# or when the AsyncAPI document is invalid (each type one message).
schemas-check: $(ASYNCAPI_TOOLS)
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; cp README.md "$$tmp/README.md"; \
	  cargo run --quiet -p livehook-cli -- schema --out "$$tmp/schemas" --readme "$$tmp/README.md"; \
	  if ! diff -r schemas "$$tmp/schemas" || ! diff README.md "$$tmp/README.md"; then \
	    echo "schemas/ or README.md's table of types is stale: run make schemas" >&2; exit 1; fi
	node scripts/asyncapi/validate.mjs schemas/asyncapi.yaml $$(ls schemas/data | wc -l)

# The per-provider parts of template.yaml (between its `# BEGIN generated: …`
# lines), rewritten from the provider registry.
template:
	cargo run --quiet -p livehook-cli -- template --file template.yaml

# Fails when template.yaml's generated parts differ from what the registry generates.
template-check:
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; cp template.yaml "$$tmp/template.yaml"; \
	  cargo run --quiet -p livehook-cli -- template --file "$$tmp/template.yaml"; \
	  if ! diff -u template.yaml "$$tmp/template.yaml"; then \
	    echo "template.yaml's generated parts are stale: run make template" >&2; exit 1; fi

# `make deploy` prompts for the parameters (secrets are typed, never stored);
# `make deploy TOKEN=… TENCENT_KEY=…` (either alone too: only its providers' functions are
# created; or LIVEHOOK_DEPLOY_TOKEN / LIVEHOOK_DEPLOY_TENCENT_KEY in the environment)
# deploys without prompts, and so does PARAMS="Key=Value …" (more
# template parameters, e.g. TokenSecretId=livehook/token
# TencentKeySecretId=livehook/tencent-key AlarmEmail=ops@example.com; see the README).
# STREAM_KEYS=publish (or publish,play) turns stream keys on (the StreamKeys parameter).
# The secrets reach scripts/deploy.sh through the environment (make exports its command
# line's variables), never through a command line make prints.
deploy: $(TOOLS)
	ARCH=$(ARCH) STACK=$(STACK) scripts/deploy.sh

bench: $(TOOLS)
	bench/run.sh

# A chaos run of the outbox (not part of `make test`): SOAK_DELIVERIES deliveries across
# every provider with their real retries, SNS 5xx bursts, held PutItem replies, the relay
# and `livehook pump` killed at random; exact accounting, figures on stderr, non-zero exit
# when anything is lost or unexplained. SOAK_ARGS passes more flags (`--seed N`, see --help).
# scripts/soak.sh leaves nothing of the run running however it ends (Ctrl-C, a kill);
# scripts/soak_cleanup_test.sh shows it.
SOAK_DELIVERIES ?= 10000
soak: $(TOOLS)
	cargo build --quiet -p relay -p livehook-cli -p livehook-bench --bin relay --bin livehook --bin soak
	mkdir -p target/soak
	scripts/soak.sh target/debug/soak --deliveries $(SOAK_DELIVERIES) $(SOAK_ARGS) >target/soak/handlers.log

fuzz:
	scripts/fuzz.sh

clean:
	cargo clean
	rm -rf .aws-sam .livehook fuzz/target fuzz/out scripts/asyncapi/node_modules scripts/vendors/node_modules
