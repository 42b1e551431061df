# `make run` / `make test` create .venv on first use, then reuse it.
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean-venv

$(STAMP): pyproject.toml
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --upgrade pip >/dev/null
	$(VPY) -m pip install -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VPY) main.py

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(VPY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

bench: $(STAMP)
	$(VPY) main.py bench

clean-venv:
	rm -rf $(VENV)
