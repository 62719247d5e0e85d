# Two commands on a fresh machine: `make demo` and `make test`.
# Both create .venv and install modeltel into it as users get it (a wheel, not editable),
# so the start-up hook in site-packages is exercised exactly as shipped.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
# Debian packages the tests start for real.
SYSTEM_PACKAGES := prometheus prometheus-alertmanager docker-compose
# Debian packages the benchmarks use (wrk drives bench/overhead.py, valgrind bench/instructions.py).
BENCH_PACKAGES := wrk valgrind

.PHONY: demo test lint bench install system-packages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet ".[test]"

system-packages:
	@missing=""; for tool in $(PACKAGES); do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: install lint
	$(MAKE) system-packages PACKAGES="$(SYSTEM_PACKAGES)"
	MODELTEL_REQUIRE_SYSTEM_TOOLS=1 $(BIN)/pytest

demo: install
	$(BIN)/python examples/demo.py

bench: install
	$(MAKE) system-packages PACKAGES="$(BENCH_PACKAGES)"
	$(BIN)/pip install --quiet ".[bench]"
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/capture.py
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/instructions.py
	$(BIN)/python bench/replay.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/check.py
	$(BIN)/python bench/drift_stream.py
	$(BIN)/python bench/performance.py

clean:
	rm -rf $(VENV) .demo .pytest_cache .ruff_cache build dist
