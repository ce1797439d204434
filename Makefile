# Two entry points: `make demo` (the whole pipeline on generated data) and `make test`.
# Both create the virtual environment with the pinned stack when it is missing.
#
# The stack is ~3.4 GB and takes minutes to install, so it lives in a cache folder keyed by the
# hash of constraints.txt ($(VENV_CACHE)) that every clone reuses, and the project is never
# installed into it: each clone's .venv is a small venv of its own whose site hook puts this
# clone's folder, then the shared stack, on sys.path (pipeline/venv_layer.py), so that a clone's
# .venv/bin/python and .venv/bin/ctr-pipeline always run that clone's code. The shared build is
# done under an flock: two clones running make at once build it once, neither deletes a venv
# the other is installing. STACK_CACHE=DIR (or VENV_CACHE=DIR) puts the stack elsewhere.
SHELL := /bin/bash
PYTHON ?= python3
STACK_HASH := $(shell sha256sum constraints.txt | cut -c1-12)
STACK_CACHE ?= $(HOME)/.cache/ctr-pipeline
VENV_CACHE ?= $(STACK_CACHE)/venv-$(STACK_HASH)
VENV := .venv
# written last by the venv rule; a .venv made before (a link to the shared venv) lacks it
VENV_DONE := $(VENV)/.clone-venv
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

venv: $(VENV_DONE)

# No prerequisite on purpose: the folder name already carries the hash of constraints.txt, and a
# fresh clone's file times would otherwise force a rebuild of a venv that is up to date.
# Under an flock on $(VENV_CACHE).build-lock: a second clone waits, then finds the stamp.
$(VENV_CACHE)/.stack-installed:
	@mkdir -p $(dir $(VENV_CACHE)); exec 9>$(VENV_CACHE).build-lock; flock 9; \
	if [ -f $@ ]; then echo "$(VENV_CACHE): built meanwhile by another clone"; exit 0; fi; \
	set -ex; rm -rf $(VENV_CACHE); $(PYTHON) -m venv $(VENV_CACHE); set +x; \
	uv="$(UV)"; \
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
	$$install --no-deps $$(grep -E '^($(subst $(eval) ,|,$(NO_DEPS)))==' constraints.txt); \
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

# The clone's own venv, layered on the stack (pipeline/venv_layer.py). An older .venv (a link to
# the shared venv, into which the project was installed) is replaced: only the link is removed.
# The console script is written here: no install, so nothing is built or written in the stack.
$(VENV_DONE): $(VENV_CACHE)/.stack-installed $(VENV_CACHE)/.bytecode-compiled pipeline/venv_layer.py
	if [ -L $(VENV) ]; then rm -f $(VENV); else rm -rf $(VENV); fi
	rm -f .venv.stamp
	$(VENV_CACHE)/bin/python -m venv --without-pip $(VENV)
	@purelib='import sysconfig; print(sysconfig.get_path("purelib"))'; \
	clone_site=$$($(PY) -c "$$purelib") && stack_site=$$($(VENV_CACHE)/bin/python -c "$$purelib") \
	&& cp pipeline/venv_layer.py $$clone_site/ctr_pipeline_layer.py \
	&& printf 'clone=%s\nstack=%s\n' "$(CURDIR)" "$$stack_site" > $$clone_site/ctr_pipeline_layer.cfg \
	&& echo 'import ctr_pipeline_layer; ctr_pipeline_layer.layer()' > $$clone_site/ctr_pipeline_layer.pth
	printf '#!%s\nimport sys\nfrom pipeline.cli import main\nsys.exit(main())\n' \
	    "$(CURDIR)/$(PY)" > $(VENV)/bin/ctr-pipeline && chmod +x $(VENV)/bin/ctr-pipeline
	cd / && $(CURDIR)/$(PY) -P -c 'import pipeline, yaml; assert pipeline.__file__.startswith("$(CURDIR)/")'
	touch $@

demo: venv
	$(PY) -m pipeline demo

# The suite starts dozens of Python processes (CLI runs, Beam and training workers): the clone's
# own modules are compiled once first, for the reason given at .bytecode-compiled. The tests with
# pipeline runs and the others run as two pytest sessions side by side (tests/run_suite.py).
test: venv test-browser
	$(PY) -m compileall -q pipeline components ctr_models data tests >/dev/null
	$(PY) tests/run_suite.py --durations=25

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
	if [ -L $(VENV) ]; then rm -f $(VENV); else rm -rf $(VENV); fi
	rm -rf .venv.stamp build *.egg-info .pytest_cache
