# semaim-mm: `make demo` (the main job on Fashion-MNIST) and `make test`;
# `make reproduce` runs the full reproduction matrix (hours, resumable).
# All install first (tools/install.sh is idempotent and cached).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
REPRODUCE_ARGS ?=

.PHONY: install demo reproduce test test-slow clean

install:
	@VENV=$(VENV) PYTHON=$(PYTHON) bash tools/install.sh

demo: install
	$(PY) tools/demo.py

# The validation grids (--tune) first: the final rows take their winners.
# e.g. make reproduce REPRODUCE_ARGS="--only semantic,scratch --seeds 0"
reproduce: install
	$(PY) tools/reproduce.py configs/reproduce/fashion_mnist.py --tune
	$(PY) tools/reproduce.py configs/reproduce/fashion_mnist.py $(REPRODUCE_ARGS)

# pytest exits 5 when it collects nothing; that is not a failure of the suite.
test: install
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; exit 0; fi; exit $$rc

test-slow: install
	@$(PY) -m pytest -m slow $(PYTEST_ARGS)

clean:
	rm -rf work_dirs .pytest_cache
