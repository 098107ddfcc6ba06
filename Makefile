# Two entry points (see README): `make demo` and `make test`. Both create .venv and
# install what they need, including Debian packages when missing and running as root.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEBS := espeak-ng mosquitto sox chromium fonts-wqy-microhei systemd postgresql
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench bench-demo debs venv clean prompts

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

venv: $(STAMP)

debs:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "missing Debian packages:$$missing (run as root or install them)"; fi; \
	fi

test: venv debs
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -p no:cacheprovider

# runs to the end and prints the report; browse the calls afterwards with `hotline web --db var/demo.sqlite`
demo: venv debs
	$(BIN)/hotline demo --no-serve

# every benchmark but the demo's (about half an hour: three demos of three minutes per setting)
bench: venv debs
	$(BIN)/pip install --quiet -e '.[silero]'
	@for b in benchmarks/bench_*.py; do [ $$b = benchmarks/bench_demo.py ] && continue; echo "== $$b"; $(BIN)/python $$b || exit 1; done

bench-demo: venv debs
	$(BIN)/python benchmarks/bench_demo.py

# IVR prompts: speaks with espeak-ng every default prompt that has no WAV yet (recordings stay)
prompts: venv debs
	$(BIN)/python -m ivr_flows.prompts.build

lint: venv
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info
