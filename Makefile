# semaim-mm: `make demo` (the main job on Fashion-MNIST) and `make test`.
# Both install first (tools/install.sh is idempotent and cached).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: install demo test test-slow clean

install:
	@VENV=$(VENV) PYTHON=$(PYTHON) bash tools/install.sh

demo: install
	$(PY) tools/demo.py

# pytest exits 5 when it collects nothing; that is not a failure of the suite.
test: install
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; exit 0; fi; exit $$rc

test-slow: install
	@$(PY) -m pytest -m slow $(PYTEST_ARGS)

clean:
	rm -rf work_dirs .pytest_cache
