# Two entry points: `make demo` (the whole pipeline on generated data) and `make test`.
# Both create the virtual environment with the pinned stack when it is missing.
#
# The stack is ~3.4 GB and takes minutes to install, so the venv lives in a cache folder keyed by
# the hash of constraints.txt ($(VENV_CACHE)) and .venv links to it: fresh clones reuse it.
SHELL := /bin/bash
PYTHON ?= python3
STACK_HASH := $(shell sha256sum constraints.txt | cut -c1-12)
VENV_CACHE ?= $(HOME)/.cache/ctr-pipeline/venv-$(STACK_HASH)
VENV := .venv
# Pinned in constraints.txt but installed without their declared dependencies.
NO_DEPS := deepctr
# The installer: uv when it is on PATH (or UV=/path/to/uv); otherwise a pinned uv is fetched once
# into $(UV_HOME) with pip, and pip installs the stack itself only when that fails (offline). uv
# installs the identical pinned set in about a third of pip's time (BENCHMARKS.md, "Fresh clone");
# like pip's --ignore-requires-python it ignores tfx 1.16's Requires-Python upper bound (<3.11).
UV ?= $(shell command -v uv 2>/dev/null)
UV_VERSION := 0.13.9
UV_HOME := $(HOME)/.cache/ctr-pipeline/uv-$(UV_VERSION)
PY := $(VENV)/bin/python
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONUNBUFFERED := 1

.PHONY: venv demo test test-browser test-fast parity bench bench-1m clean

venv: .venv.stamp

# No prerequisite on purpose: the folder name already carries the hash of constraints.txt, and a
# fresh clone's file times would otherwise force a rebuild of a venv that is up to date.
$(VENV_CACHE)/.stack-installed:
	rm -rf $(VENV_CACHE)
	$(PYTHON) -m venv $(VENV_CACHE)
	@uv="$(UV)"; \
	if [ -z "$$uv" ]; then \
	    [ -x $(UV_HOME)/bin/uv ] || $(VENV_CACHE)/bin/pip install -q --target $(UV_HOME) \
	        uv==$(UV_VERSION) || echo "(could not fetch uv $(UV_VERSION): installing with pip)"; \
	    [ -x $(UV_HOME)/bin/uv ] && uv=$(UV_HOME)/bin/uv; \
	fi; \
	if [ -n "$$uv" ]; then install="$$uv pip install --python $(VENV_CACHE)/bin/python"; \
	else install="$(VENV_CACHE)/bin/pip install --ignore-requires-python"; fi; \
	set -ex; \
	$$install -q --upgrade pip; \
	$$install -c constraints.txt $$(sed -n 's/^\([A-Za-z][A-Za-z0-9_.-]*\)[=<>].*/\1/p' \
	    constraints.txt | grep -vxF -f <(printf '%s\n' $(NO_DEPS))); \
	$$install --no-deps $$(grep -E '^($(subst $(eval) ,|,$(NO_DEPS)))==' constraints.txt)
	touch $@

# Every Python process imports ~7,000 modules of the stack. uv installs no bytecode, and where
# PYTHONDONTWRITEBYTECODE is set (as on this project's machines) none is written at import either:
# each process then compiled the stack from source, ~25 s of CPU before a CLI command did anything.
# Compiled once here (about a minute on 2 cores); a venv installed before this rule gets it too.
# compileall writes each .pyc atomically, so two clones compiling one venv at once do no harm.
$(VENV_CACHE)/.bytecode-compiled: $(VENV_CACHE)/.stack-installed
	$(VENV_CACHE)/bin/python -m compileall -q -j 0 $(VENV_CACHE)/lib >/dev/null || \
	    echo "(some modules of the stack could not be compiled: they compile when imported)"
	touch $@

.venv.stamp: $(VENV_CACHE)/.stack-installed $(VENV_CACHE)/.bytecode-compiled setup.py
	ln -sfn $(VENV_CACHE) $(VENV)
	$(PY) -m pip install -q --ignore-requires-python --no-deps --no-build-isolation -e .
	echo "$(CURDIR)" > $@

demo: venv
	$(PY) -m pipeline demo

# The suite starts dozens of Python processes (CLI runs, Beam and training workers): the clone's
# own modules are compiled once first, for the reason given at .bytecode-compiled.
test: venv test-browser
	$(PY) -m compileall -q pipeline components ctr_models data tests >/dev/null
	$(PY) -m pytest -q tests --durations=25

# tests/test_report.py renders the HTML report in headless Chromium. Under CI (CI=true, which
# .ci/run sets) it is installed here when missing: once (a no-op when present), at most 5 minutes.
# Elsewhere nothing is installed and that one test skips; under CI it fails without Chromium.
test-browser:
	@command -v chromium >/dev/null || [ "$${CI:-}" != true ] || \
	    timeout 300 sh -c 'apt-get update -qq && \
	        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium' || \
	    echo "test-browser: chromium could not be installed (tests/test_report.py will fail)"

test-fast: venv
	$(PY) -m pytest -q tests -m "not pipeline"

# The DeepCTR parity module alone; -s shows its closing table: the largest absolute difference
# per model (and per measured deliberate difference). A missing deepctr fails it (see its docstring).
parity: venv
	$(PY) -m pytest -q -s -p no:cacheprovider tests/test_deepctr_parity.py

bench: venv
	$(PY) -m benchmarks.run_all

# the pipeline at 1M generated rows (most of an hour on 2 cores); its own block in BENCHMARKS.md
bench-1m: venv
	$(PY) -m benchmarks.run_all --only scale_1m

clean:
	rm -rf $(VENV) .venv.stamp build *.egg-info .pytest_cache
