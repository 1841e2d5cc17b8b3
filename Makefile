# One command to set up and train, one to set up and test (see README).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: install train test benchmark clean

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

train: install
	$(PY) experiment.py $(ARGS)

test: install
	$(PY) -m pytest tests

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
