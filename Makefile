# Each target does its own set-up on a fresh Debian machine: a virtual environment with the
# project installed, and Debian's influxdb package when influxd is missing.
PYTHON ?= python3
VENV ?= .venv
# Two stamps: the demo needs only the runtime dependencies, the tests add the [test] extra.
RUNTIME_STAMP := $(VENV)/.runtime-stamp
TEST_STAMP := $(VENV)/.test-stamp
BENCH_STAMP := $(VENV)/.bench-stamp
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test bench lint influxd alertmanager chromium postgresql nginx clean

$(RUNTIME_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "jboxmon needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e .
	@touch $(RUNTIME_STAMP)

$(TEST_STAMP): $(RUNTIME_STAMP)
	$(VENV)/bin/pip install --quiet -e '.[test]'
	@touch $(TEST_STAMP)

$(BENCH_STAMP): $(RUNTIME_STAMP)
	$(VENV)/bin/pip install --quiet -e '.[bench]'
	@touch $(BENCH_STAMP)

influxd:
	@command -v influxd >/dev/null || { \
	  echo "installing Debian's influxdb package (influxd)"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq influxdb >/dev/null; }

# the HA test runs Debian's Alertmanager as a two-node cluster on loopback
alertmanager:
	@command -v prometheus-alertmanager >/dev/null || { \
	  echo "installing Debian's prometheus-alertmanager package"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-alertmanager >/dev/null; }

# the status page's browser test loads the page in Debian's headless chromium
chromium:
	@command -v chromium >/dev/null || { \
	  echo "installing Debian's chromium package"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# the shared-inventory tests start a private PostgreSQL (initdb in a temporary folder)
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing Debian's postgresql package"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

# the failure drills run the reference deployment (deploy/) behind Debian's nginx
nginx:
	@command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { \
	  echo "installing Debian's nginx package"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; }

demo: $(RUNTIME_STAMP) influxd
	$(VENV)/bin/python -m jboxmon.demo $(DEMO_ARGS)

test: $(TEST_STAMP) influxd alertmanager chromium postgresql nginx
	$(VENV)/bin/pytest $(PYTEST_ARGS)

bench: $(BENCH_STAMP) influxd
	@for script in bench/bench_*.py; do echo "== $$script"; $(VENV)/bin/python $$script || exit 1; done

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf var/ .pytest_cache
