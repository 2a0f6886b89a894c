# One-command set-up: `make run` launches the app, `make test` runs the tests.
# Both create .venv and install the project (CPU PyTorch wheel) on a fresh machine.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-realdata bench lint clean soak window-check

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "error: $(PY) not found (ferapp needs Python 3.11)"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	@$(BIN)/python -m ferapp.syscheck --install   # Qt's window plugin needs X11/xcb libraries (Linux)
	$(BIN)/ferapp $(ARGS)

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -m "not realdata" $(PYTEST_ARGS)

test-realdata: $(STAMP)
	QT_QPA_PLATFORM=offscreen FERAPP_REQUIRE_DATA=1 $(BIN)/python -m pytest -q -m realdata $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/ferapp bench $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check ferapp tests training
	$(BIN)/lint-imports

window-check: $(STAMP)
	$(BIN)/python -m ferapp.syscheck --install
	$(BIN)/python tests/window_check.py

soak: $(STAMP)
	$(BIN)/python tests/soak.py --minutes $(or $(MINUTES),1)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
