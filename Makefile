# Confide — two commands matter: `make run` (whole local stack) and `make test` (everything CI runs).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Every installable Python project: shared libraries first, then each service.
PY_PROJECTS := libs/protos libs/chassis libs/devstack libs/confidectl $(sort $(dir $(wildcard services/*/pyproject.toml)))
# Importable top-level packages that mypy checks (generated `confide` protos are checked through them).
PY_PACKAGES := confide_chassis confide_devstack confidectl $(foreach s,$(notdir $(patsubst %/,%,$(sort $(dir $(wildcard services/*/pyproject.toml))))),confide_$(s))

# Test folders type-checked by `make lint` (each separately: they share module names like conftest).
TEST_DIRS := $(wildcard libs/*/tests services/*/tests) $(wildcard tests)

.PHONY: help venv proto ts web lint typecheck test unit run bench clean lock k8s-topics k8s-dashboards test-fuzz test-faults

help:
	@echo "make run    - start Kafka, PostgreSQL and every service locally (Ctrl-C stops all);"
	@echo "              PROMETHEUS=1 adds a Prometheus scraping them with the cluster's rules"
	@echo "make test   - lint, type-check and run every test against real Kafka and PostgreSQL"
	@echo "make lint   - ruff, mypy --strict, import-linter, buf lint, buf breaking"
	@echo "make proto  - regenerate Python code and stubs (and the TypeScript clients) from protos/"
	@echo "make bench  - benchmarks, each beside its baseline"
	@echo "make test-fuzz - long Hypothesis fuzzing of every RPC, directly and through the gateway"
	@echo "make test-faults - kill every service, Kafka and PostgreSQL under load; check exactly-once effects"
	@echo "make k8s-topics - regenerate deploy/k8s/base/kafka/{topics,users}.yaml from protos/topics.yaml"
	@echo "make k8s-dashboards - regenerate the Grafana dashboards in deploy/k8s/base/monitoring/"

# Runtime (what images install) and development locks, both pinned with hashes (`make lock`).
LOCKS := requirements/runtime.lock requirements/dev.lock

$(STAMP): $(LOCKS) $(wildcard libs/*/pyproject.toml services/*/pyproject.toml)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --require-hashes $(addprefix -r ,$(LOCKS))
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation \
	  --config-settings editable_mode=compat $(addprefix -e ,$(PY_PROJECTS))
	@touch $@

venv: $(STAMP)

node_modules/.installed: package.json package-lock.json
	npm ci --silent --no-audit --no-fund
	@touch $@

proto: venv node_modules/.installed
	$(BIN)/python scripts/protogen.py
	node_modules/.bin/buf generate

# TypeScript clients (clients/ts/gen, git-ignored) for frontend teams; `make proto` makes them too.
ts: node_modules/.installed
	node_modules/.bin/buf generate

# The reference web client (web/dist, git-ignored), served by the gateway at / under `make run`.
web: proto
	node_modules/.bin/tsc -p web
	node_modules/.bin/esbuild web/src/main.ts --bundle --format=esm --target=es2022 --minify \
	  --outfile=web/dist/app.js --log-level=warning
	cp web/index.html web/dist/index.html

typecheck: proto
	$(BIN)/mypy $(addprefix -p ,$(PY_PACKAGES))

lint: proto
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(addprefix -p ,$(PY_PACKAGES))
	$(BIN)/mypy scripts/protogen.py scripts/buf.py deploy/k8s/gen_topics.py deploy/k8s/tests/test_manifests.py \
	  deploy/docker/tests/test_image.py benchmarks/run.py benchmarks/e2e.py benchmarks/histogram.py \
	  benchmarks/profile_summary.py
	$(BIN)/mypy deploy/k8s/gen_dashboards.py deploy/k8s/tests/test_monitoring.py
	$(BIN)/python deploy/k8s/gen_topics.py --check
	$(BIN)/python deploy/k8s/gen_dashboards.py --check
	@# Tests are our code too; one run per folder, since every folder has its own conftest module.
	for d in $(TEST_DIRS); do $(BIN)/mypy $$d || exit 1; done
	$(BIN)/lint-imports
	$(BIN)/python scripts/buf.py lint
	$(BIN)/python scripts/buf.py breaking
	node_modules/.bin/tsc -p web

# pytest exits 5 when it collected no test: that is a failure, never a pass.
test: lint web
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

# The fuzz tests of `make test`, with many more examples per RPC (FUZZ_EXAMPLES; FUZZ_RPCS narrows
# them to the RPC paths a regular expression matches). Deterministic: the same examples every run.
FUZZ_EXAMPLES ?= 200
test-fuzz: proto web
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -p no:cacheprovider \
	  tests/contract/test_fuzz_rpcs.py tests/e2e/test_fuzz_gateway.py $(PYTEST_ARGS)

# The whole fault schedule (docs/reliability.md, "Fault tests"); `make test` runs its short plan.
test-faults: proto web
	CONFIDE_FAULTS=full $(BIN)/python -m pytest tests/faults -s $(PYTEST_ARGS)

unit: proto
	$(BIN)/python -m pytest -m "not integration" $(PYTEST_ARGS)

# PROMETHEUS=1: a real Prometheus scrapes every service too, with the cluster's rules (port 9090).
run: proto web
	$(BIN)/python -m confide_devstack run $(if $(filter 1 yes true,$(PROMETHEUS)),--prometheus)

bench: proto
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

# Regenerate the Strimzi KafkaTopic and KafkaUser manifests after changing protos/topics.yaml.
k8s-topics: venv
	$(BIN)/python deploy/k8s/gen_topics.py

k8s-dashboards: venv
	$(BIN)/python deploy/k8s/gen_dashboards.py

# Regenerate both locks from requirements/*.in, keeping today's versions where they still fit
# (`make lock UPGRADE=1` moves everything to the newest). Hashes come from PyPI only.
LOCK_VENV := .cache/lockvenv
PIP_COMPILE = cd requirements && PIP_FIND_LINKS= ../$(LOCK_VENV)/bin/pip-compile -q --generate-hashes \
  --strip-extras --allow-unsafe --no-emit-index-url $(if $(UPGRADE),--upgrade)
lock:
	test -x $(LOCK_VENV)/bin/pip-compile || { $(PYTHON) -m venv $(LOCK_VENV) \
	  && $(LOCK_VENV)/bin/pip install -q pip-tools==7.6.2; }
	$(PIP_COMPILE) --output-file runtime.lock runtime.in
	$(PIP_COMPILE) --output-file dev.lock dev.in

clean:
	rm -rf $(VENV) node_modules .run libs/protos/confide clients/ts/gen web/dist .mypy_cache .ruff_cache .pytest_cache
