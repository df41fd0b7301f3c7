# Two commands on a fresh machine:
#   make example   set up, then run the main example workflow on the embedded engine
#   make test      set up, then run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: example test bench synth deploy clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

example: $(VENV)/.installed node_modules/.installed
	$(PY) examples/run_example.py

test: $(VENV)/.installed node_modules/.installed
	$(PY) -m pytest -q -p no:cacheprovider; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

bench: $(VENV)/.installed node_modules/.installed
	$(PY) bench/run_all.py

# JavaScript dependencies from the npm registry, pinned in package.json / package-lock.json:
# the CDK CLI, and jsonata (the version AWS Step Functions evaluates JSONata with), which the
# embedded engine runs in V8, so `make example` and `make test` need it too.
node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { echo "make: npm (Node.js 18 or later) is needed to install node_modules (the CDK CLI and jsonata)" >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

node_modules/.bin/cdk: node_modules/.installed

# CDK_DISABLE_STACK_TRACE: a warning's "location" would be a line of jsii's bundled program.js
CDK := PATH="$(abspath $(VENV))/bin:$$PATH" JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 \
	CDK_DISABLE_STACK_TRACE=1 node_modules/.bin/cdk

# synth has no --all: it synthesizes every stack, and --quiet prints none of their templates
synth: $(VENV)/.installed node_modules/.bin/cdk
	$(CDK) synth --quiet $(CDK_ARGS)

deploy: $(VENV)/.installed node_modules/.bin/cdk
	$(CDK) deploy --all $(CDK_ARGS)

clean:
	rm -rf $(VENV) cdk.out .pytest_cache node_modules
