# The two commands of the README: `make demo` and `make test`. Both create or reuse .venv
# (idempotent: a second run reinstalls nothing), install the project in it, build the
# Scala extension and install the kernels into .venv. Nothing goes to ~/.jupyter or ~/.local.
#
# SPARK picks the Spark line, for every target: 3.5 (the default: Spark 3.5 with the Toree
# kernel, in .venv) or 4 (pyspark 4.3 with pyshim's own Scala kernel, in .venv-spark4).
PYTHON ?= python3
SPARK  ?= 3.5
ifeq ($(SPARK),3.5)
VENV   := .venv
EXTRA  := spark35
else ifeq ($(SPARK),4)
VENV   := .venv-spark4
EXTRA  := spark4
else
$(error pyshim: SPARK=$(SPARK) is not a Spark line of this project; use SPARK=3.5 (the default) or SPARK=4)
endif
# SCALA_KERNEL picks the Scala kernel of the `pyshim-scala` spec: toree (Spark 3.5 only, its
# default) or pyshim (pyshim's own kernel, Spark 4's and also offered on 3.5); kept in the
# environment until changed (pyshim install, PYSHIM_SCALA_KERNEL).
SCALA_KERNEL ?=
PY     := $(VENV)/bin/python
DEPS   := $(VENV)/.pyshim-deps
# Warnings as errors, every cross-reference checked (tests/test_docs.py builds with the same).
SPHINX_CHECKS := -W --keep-going -n -q
JDK_HINT := install a JDK 17 (on Debian: apt-get install openjdk-17-jdk-headless) or set JAVA_HOME

.PHONY: java setup lint demo test test-cluster lab bench serve cluster-demo doctor docs clean

setup: $(DEPS)
	@$(if $(SCALA_KERNEL),PYSHIM_SCALA_KERNEL=$(SCALA_KERNEL) )$(VENV)/bin/pyshim install

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || \
	  { echo "pyshim: needs Python 3.11+ ($(PYTHON) is older or missing); run with PYTHON=python3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(DEPS): pyproject.toml | $(PY) java
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[$(EXTRA),test]'
	@touch $(DEPS)

java:
	@if [ -n "$$JAVA_HOME" ]; then test -x "$$JAVA_HOME/bin/java" || { echo "pyshim: JAVA_HOME=$$JAVA_HOME has no bin/java; $(JDK_HINT)" >&2; exit 1; }; \
	 else command -v java >/dev/null 2>&1 || { echo "pyshim: no java found; $(JDK_HINT)" >&2; exit 1; }; fi
	@if [ "$(SPARK)" = 4 ]; then j="$${JAVA_HOME:+$$JAVA_HOME/bin/}java"; \
	  v=$$("$$j" -version 2>&1 | sed -n 's/.*version "\([0-9]*\)[."].*/\1/p' | head -n 1); \
	  [ "$${v:-0}" -ge 17 ] 2>/dev/null || { echo "pyshim: Spark 4 needs Java 17 or newer, and $$j is Java $${v:-unknown}; $(JDK_HINT)" >&2; exit 1; }; fi

demo: java setup
	$(PY) -m pyshim.tools.demo

# The cluster and tracking-server tests run with `make test-cluster` (a standalone cluster,
# `mlflow server` and their kernels: several minutes more); CI (.ci/run) runs both.
# Two pytest workers (tests/conftest.py): the kernel tests on one, the kernel-free ones on the other.
test: java setup lint
	$(PY) -m pytest -m "not cluster" -n 2 $(PYTEST_ARGS)

# ruff: pyflakes, syntax, loop-variable closures ([tool.ruff] in pyproject.toml).
lint: setup
	$(VENV)/bin/ruff check .

# Only the cluster and tracking-server tests (`make test` leaves them out): a Spark standalone
# master + 2 workers and `mlflow server`, all on 127.0.0.1, started and stopped by the tests.
test-cluster: java setup
	$(PY) -m pytest -m cluster $(PYTEST_ARGS)

# The demo notebooks against a local Spark standalone cluster and MLflow tracking server,
# both started before and stopped after (python -m pyshim.tools.cluster demo).
cluster-demo: java setup
	$(PY) -m pyshim.tools.cluster demo

lab: java setup
	$(VENV)/bin/jupyter lab --ServerApp.ip=127.0.0.1 --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

bench: java setup
	$(PY) bench/run.py

# The demo's model over REST with MLflow's own scoring server, on 127.0.0.1:$PYSHIM_SERVE_PORT
# (default 5001); MODEL=models:/name@alias for another model. Ctrl-C stops it.
serve: setup
	$(PY) -m pyshim.tools.serve

doctor: setup
	$(VENV)/bin/pyshim doctor

# The documentation site (docs/*.md: Sphinx, MyST Markdown, pydata-sphinx-theme) into docs/_build/html
# (git-ignored), warnings as errors; `make test` builds it too (tests/test_docs.py).
docs: setup
	$(PY) -m sphinx $(SPHINX_CHECKS) -b html docs docs/_build/html
	@echo "pyshim docs: open docs/_build/html/index.html"

clean:
	rm -rf scala/build notebooks/_executed .pyshim docs/_build
