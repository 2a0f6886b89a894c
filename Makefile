# One-command set-up: `make run` launches the app, `make test` runs the tests.
# Both create .venv and install the project (CPU PyTorch wheel) on a fresh machine.
# Python: PY=/path/to/python, else the first of python3.11, python3.12, python3.13 on the PATH that
# runs (a pyenv shim of an uninstalled version does not). `make print-python` shows the choice.
PYTHONS := python3.11 python3.12 python3.13
PY_VERSION_CODE := import sys; print("%d.%d.%d" % sys.version_info[:3])
py_version = $(shell $(1) -c '$(PY_VERSION_CODE)' 2>/dev/null)
ifeq ($(origin PY),undefined)
PY := $(firstword $(foreach p,$(PYTHONS),$(if $(filter 3.11.% 3.12.% 3.13.%,$(call py_version,$(p))),$(p))))
endif
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-slow test-realdata bench lint clean soak window-check print-python

# One line, "using python3.12 (Python 3.12.3)", or an error (exit 2) naming what to do.
define check_python
	@test -n "$(PY)" || { echo "error: none of $(PYTHONS) runs here: install one (ferapp needs Python 3.11-3.13), or pass PY=/path/to/python"; exit 2; }
	@v=$$("$(PY)" -c '$(PY_VERSION_CODE)' 2>/dev/null); case "$$v" in \
		3.11.*|3.12.*|3.13.*) echo "using $(PY) (Python $$v)" ;; \
		"") echo "error: PY=$(PY) does not run"; exit 2 ;; \
		*) echo "error: PY=$(PY) is Python $$v; ferapp needs 3.11-3.13"; exit 2 ;; esac
endef

print-python:
	$(check_python)

$(STAMP): pyproject.toml
	$(check_python)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	@$(BIN)/python -m ferapp.syscheck --install   # Qt's window plugin needs X11/xcb libraries (Linux)
	$(BIN)/ferapp $(ARGS)

# `make test` leaves out the real-data and the slow tests; `make test-slow` runs the slow ones; CI runs both.
# JOBS=auto (the default): one pytest-xdist worker per core, one test file each (quiet 2-core EPYC:
# 186 s wall vs 296 s in one process); JOBS=0 runs them in this process (better on a busy machine).
JOBS ?= auto
XDIST = $(if $(filter 0,$(JOBS)),,-n $(JOBS) --dist loadfile)

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -m "not realdata and not slow" $(XDIST) $(PYTEST_ARGS)

test-slow: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -m "slow and not realdata" $(XDIST) $(PYTEST_ARGS)

test-realdata: $(STAMP)
	QT_QPA_PLATFORM=offscreen FERAPP_REQUIRE_DATA=1 $(BIN)/python -m pytest -q -m realdata $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/ferapp bench $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check ferapp tests training
	$(BIN)/ruff format --check ferapp tests training
	$(BIN)/lint-imports
	$(BIN)/mypy   # the Qt-free core: ferapp/ minus ferapp/gui/ ([tool.mypy] in pyproject.toml)

window-check: $(STAMP)
	$(BIN)/python -m ferapp.syscheck --install
	$(BIN)/python tests/window_check.py

soak: $(STAMP)
	$(BIN)/python tests/soak.py --minutes $(or $(MINUTES),1)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
