# Two commands on a fresh machine:
#   make example   set up, then run the main example workflow on the embedded engine
#   make test      set up, then run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: example test bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

example: $(VENV)/.installed
	$(PY) examples/run_example.py

test: $(VENV)/.installed
	$(PY) -m pytest -q -p no:cacheprovider; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

bench: $(VENV)/.installed
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) cdk.out .pytest_cache
