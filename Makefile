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

.PHONY: dev test unit e2e build lint deploy bench fuzz clean tools

$(TOOLS): requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

tools: $(TOOLS)

dev: $(TOOLS)
	scripts/dev.sh

test: $(TOOLS)
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo test --workspace
	scripts/e2e.sh

# Unit tests only: no emulator, no network.
unit:
	cargo test -p livehook

e2e: $(TOOLS)
	scripts/e2e.sh

build: $(TOOLS)
	cargo lambda build --release $(if $(filter arm64,$(ARCH)),--arm64,--x86-64) \
	  $(foreach f,$(FUNCTIONS),--bin $(f)) --output-format zip
	@ls -l $(foreach f,$(FUNCTIONS),target/lambda/$(f)/bootstrap.zip)

lint: $(TOOLS)
	cfn-lint template.yaml
	python3 scripts/check_template.py
	sam validate --lint
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

# `make deploy` prompts for the parameters (secrets are typed, never stored);
# `make deploy TOKEN=… TENCENT_KEY=…` deploys without prompts, and so does
# PARAMS="Key=Value …" (more template parameters, e.g. TokenSecretId=livehook/token
# TencentKeySecretId=livehook/tencent-key AlarmEmail=ops@example.com; see the README).
deploy: $(TOOLS)
	sam build --parameter-overrides Architecture=$(ARCH)
	$(if $(or $(and $(TOKEN),$(TENCENT_KEY)),$(PARAMS)),\
	  sam deploy --stack-name $(STACK) --parameter-overrides Architecture=$(ARCH) $(if $(TOKEN),Token='$(TOKEN)') $(if $(TENCENT_KEY),TencentKey='$(TENCENT_KEY)') $(PARAMS),\
	  sam deploy --stack-name $(STACK) --guided --parameter-overrides Architecture=$(ARCH))

bench: $(TOOLS)
	bench/run.sh

fuzz:
	scripts/fuzz.sh

clean:
	cargo clean
	rm -rf .aws-sam .livehook fuzz/target fuzz/out
