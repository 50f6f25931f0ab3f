# skydns: set up, run, test, benchmark. Everything lives in .venv; nothing is installed globally
# except the Debian tools that `make deps` adds (dig, kdig, dnsperf).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check

.PHONY: setup install run test bench deps clean

$(VENV)/.ready: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet ".[test]"
	touch $@

setup: $(VENV)/.ready

# The package is installed for real (not editable) so twistd finds twisted/plugins/skydns_plugin.py.
install: setup
	$(PIP) install --quiet --no-deps --force-reinstall .

run: install
	$(VENV)/bin/twistd --nodaemon --pidfile= skydns -c Corefile.example

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) bench/whoami.py

# Debian tools used by tests (dig, kdig) and benchmarks (dnsperf); needs root or sudo.
deps:
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq dnsutils knot-dnsutils dnsperf

clean:
	rm -rf $(VENV) build *.egg-info
