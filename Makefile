# Each target sets itself up from nothing: a fresh clone needs only python3 (>= 3.11) and make.
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PYTEST_ARGS ?=
# One more worker than CPUs: most tests wait on processes, a simulated clock or fsync rather than the CPU (on 2 cores,
# 3 workers took the parallel pass from about 515 s to 390 s).
PYTEST_WORKERS ?= $(shell python3 -c "import os; print(len(os.sched_getaffinity(0)) + 1)" 2>/dev/null || echo auto)

.PHONY: run check test system-deps bench clean

$(PY):
	python3 -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Terminal tests drive the console inside tmux; the browser test drives Debian's headless chromium (no browser is downloaded); kubectl tests need kubectl (they skip, saying so, without it).
system-deps:
	@command -v tmux >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >/dev/null) \
	      || echo "warning: could not install tmux; terminal tests will be skipped"; \
	  else echo "warning: tmux missing and cannot be installed here; terminal tests will be skipped"; fi; }
	@{ command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; } || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	      || echo "warning: could not install chromium; the browser test will be skipped"; \
	  else echo "warning: chromium or chromedriver missing and cannot be installed here; the browser test will be skipped"; fi; }

run: $(STAMP)
	$(VENV)/bin/opsconsole demo

# Lint, types and the import contracts (layers, the UI kept out of the core) in pyproject.toml.
check: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	PYTHONPATH=$(CURDIR) $(VENV)/bin/lint-imports

# Two passes, both always run: every test that can share the machine, spread over PYTEST_WORKERS processes
# (pytest-xdist; auto = one per CPU), then the tests marked serial, alone. The target fails if either pass fails;
# a pass with nothing to run (pytest's exit 5, e.g. no serial test among PYTEST_ARGS) is not a failure.
# PYTEST_ARGS narrows both passes (paths, -k EXPR, -x); it must not carry its own -m. The parallel pass ends with its
# 15 slowest tests, so a run shows where the suite's time goes.
test: check $(STAMP) system-deps
	@status=0; \
	$(PY) -m pytest -m "not serial" -n $(PYTEST_WORKERS) --dist worksteal --durations=15 $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -ne 0 ] && [ $$rc -ne 5 ]; then status=$$rc; fi; \
	$(PY) -m pytest -m serial $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -ne 0 ] && [ $$rc -ne 5 ]; then status=$$rc; fi; \
	exit $$status

# Every benchmark, one after another, then one table (figure, same-run baseline, ratio, target, met). --quick keeps
# the whole run under 10 minutes on 2 cores; BENCH_ARGS= runs the full sizes, BENCH_ARGS="--only journal review" some.
BENCH_ARGS ?= --quick
bench: $(STAMP)
	$(PY) benchmarks/summary.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
