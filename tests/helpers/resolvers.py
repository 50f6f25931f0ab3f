"""A validating resolver from Debian (unbound) for DNSSEC tests: it sends nothing beyond loopback (root hints
on 127.0.0.1, the test zone as a stub zone to a local server) and trusts the zone's key as its anchor."""
from __future__ import annotations

import os
import shutil
import subprocess

import dns.exception
import dns.flags
import dns.message
import dns.query

from helpers.secondaries import read_logs
from skydns.cli.devetcd import terminate
from skydns.testing import eventually, free_port

UNBOUND = shutil.which("unbound") or "/usr/sbin/unbound"


class Unbound:
    def __init__(self, directory, zone: str, server_port: int, anchor: str):
        """``anchor``: the zone's key-signing DNSKEY in presentation form (``zone. 3600 IN DNSKEY 257 3 ...``)."""
        self.dir = str(directory)
        os.makedirs(self.dir, exist_ok=True)
        self.zone = zone.rstrip(".") + "."
        self.server_port = server_port
        self.anchor = anchor
        self.port = free_port()
        self.log = os.path.join(self.dir, "unbound.log")
        self.proc: subprocess.Popen | None = None

    def start(self):
        with open(os.path.join(self.dir, "root.hints"), "w") as f:
            f.write(". 3600 IN NS a.root.invalid.\na.root.invalid. 3600 IN A 127.0.0.1\n")
        with open(os.path.join(self.dir, "anchor"), "w") as f:
            f.write(self.anchor + "\n")
        conf = os.path.join(self.dir, "unbound.conf")
        with open(conf, "w") as f:
            f.write(f"""server:
  interface: 127.0.0.1
  port: {self.port}
  do-ip6: no
  username: ""
  chroot: ""
  directory: "{self.dir}"
  pidfile: "{self.dir}/unbound.pid"
  use-syslog: no
  logfile: "{self.log}"
  verbosity: 1
  val-log-level: 2
  do-not-query-localhost: no
  root-hints: "{self.dir}/root.hints"
  trust-anchor-file: "{self.dir}/anchor"
  module-config: "validator iterator"
  harden-dnssec-stripped: yes
  qname-minimisation: no
  prefetch: no
remote-control:
  control-enable: no
stub-zone:
  name: "{self.zone}"
  stub-addr: 127.0.0.1@{self.server_port}
""")
        self.proc = subprocess.Popen([UNBOUND, "-d", "-c", conf], stdout=open(self.log + ".out", "w"),
                                     stderr=subprocess.STDOUT, cwd=self.dir)
        assert eventually(self._up, timeout=15), self.text()[-2000:]
        return self

    def _up(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"unbound exited: {self.text()[-2000:]}")
        try:
            self.query(self.zone, "SOA", timeout=0.5)
            return True
        except (dns.exception.Timeout, OSError):
            return False

    def query(self, name: str, qtype: str, timeout: float = 5.0) -> dns.message.Message:
        q = dns.message.make_query(name, qtype, want_dnssec=True)
        return dns.query.udp(q, "127.0.0.1", port=self.port, timeout=timeout)

    def validated(self, name: str, qtype: str) -> dns.message.Message:
        """The answer, which must carry AD (validated)."""
        r = self.query(name, qtype)
        assert r.flags & dns.flags.AD, (name, qtype, r.to_text(), self.text()[-2000:])
        return r

    def stop(self) -> None:
        terminate(self.proc)

    def text(self) -> str:
        return read_logs(self.log)
