"""Real secondary servers from Debian (NSD, Knot, BIND's named) for transfer tests: started on free loopback
ports in a temporary folder, pointed at a primary, stopped after. Each says which transfers it made in its log."""
from __future__ import annotations

import os
import shutil
import subprocess

import dns.exception
import dns.message
import dns.query

from skydns.cli.devetcd import terminate
from skydns.testing import eventually, free_port

NSD = shutil.which("nsd") or "/usr/sbin/nsd"
KNOTD = shutil.which("knotd") or "/usr/sbin/knotd"
NAMED = shutil.which("named") or "/usr/sbin/named"


def read_logs(log: str) -> str:
    """What a server wrote to its log file and to its standard output (``LOG.out``)."""
    out = ""
    for path in (log, log + ".out"):
        if os.path.exists(path):
            with open(path, errors="replace") as f:
                out += f.read()
    return out


class Secondary:
    kind = ""

    def __init__(self, directory, zone: str, primary_port: int, tsig: tuple[str, str, str] | None = None):
        self.dir = str(directory)
        os.makedirs(self.dir, exist_ok=True)
        self.zone = zone.rstrip(".")
        self.primary_port = primary_port
        self.tsig = tsig  # (name, algorithm, base64 secret)
        self.port = free_port()
        self.log = os.path.join(self.dir, f"{self.kind}.log")
        self.proc: subprocess.Popen | None = None

    def start(self):
        self.proc = subprocess.Popen(self.command(), stdout=open(self.log + ".out", "w"), stderr=subprocess.STDOUT,
                                     cwd=self.dir)
        return self

    def stop(self) -> None:
        terminate(self.proc)

    def query(self, name: str, qtype: str, timeout: float = 2.0) -> dns.message.Message:
        return dns.query.udp(dns.message.make_query(name, qtype), "127.0.0.1", port=self.port, timeout=timeout)

    def serial(self) -> int | None:
        try:
            r = self.query(self.zone + ".", "SOA", timeout=0.5)
        except (dns.exception.Timeout, OSError):
            return None
        return r.answer[0][0].serial if r.answer and r.rcode() == 0 else None

    def wait_serial(self, serial: int, timeout: float = 20) -> bool:
        def arrived() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"{self.kind} exited: {self.text()[-2000:]}")
            return self.serial() == serial

        return bool(eventually(arrived, timeout=timeout, interval=0.1))

    def text(self) -> str:
        return read_logs(self.log)


class NSDSecondary(Secondary):
    kind = "nsd"

    def command(self) -> list[str]:
        key = ""
        keyref = "NOKEY"
        if self.tsig:
            name, alg, secret = self.tsig
            key = f"key:\n  name: {name}\n  algorithm: {alg}\n  secret: \"{secret}\"\n"
            keyref = name
        conf = os.path.join(self.dir, "nsd.conf")
        with open(conf, "w") as f:
            f.write(f"""server:
  ip-address: 127.0.0.1@{self.port}
  port: {self.port}
  zonesdir: "{self.dir}"
  pidfile: "{self.dir}/nsd.pid"
  xfrdfile: "{self.dir}/xfrd.state"
  zonelistfile: "{self.dir}/zone.list"
  xfrdir: "{self.dir}"
  username: ""
  logfile: "{self.log}"
  verbosity: 2
  database: ""
remote-control:
  control-enable: no
{key}zone:
  name: {self.zone}
  request-xfr: 127.0.0.1@{self.primary_port} {keyref}
  allow-notify: 127.0.0.1 {keyref}
""")
        return [NSD, "-d", "-c", conf]


class KnotSecondary(Secondary):
    kind = "knot"

    def command(self) -> list[str]:
        key = ""
        keyref = ""
        if self.tsig:
            name, alg, secret = self.tsig
            key = f"key:\n  - id: {name}\n    algorithm: {alg}\n    secret: {secret}\n"
            keyref = f"    key: {name}\n"
        conf = os.path.join(self.dir, "knot.conf")
        with open(conf, "w") as f:
            f.write(f"""server:
    rundir: "{self.dir}"
    listen: 127.0.0.1@{self.port}
log:
  - target: "{self.log}"
    any: debug
{key}remote:
  - id: primary
    address: 127.0.0.1@{self.primary_port}
{keyref}acl:
  - id: notify
    address: 127.0.0.1
    action: notify
{keyref.replace("    key", "    key") if keyref else ""}database:
    storage: "{self.dir}"
template:
  - id: default
    storage: "{self.dir}"
zone:
  - domain: {self.zone}
    master: primary
    acl: notify
""")
        return [KNOTD, "-c", conf]


class BINDSecondary(Secondary):
    kind = "named"

    def command(self) -> list[str]:
        key = ""
        keyref = ""
        if self.tsig:
            name, alg, secret = self.tsig
            key = f'key "{name}" {{ algorithm {alg}; secret "{secret}"; }};\n'
            keyref = f" key {name}"
        conf = os.path.join(self.dir, "named.conf")
        with open(conf, "w") as f:
            f.write(f"""{key}options {{
    directory "{self.dir}";
    listen-on port {self.port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    pid-file "{self.dir}/named.pid";
    recursion no;
    dnssec-validation no;
    notify no;
    allow-transfer {{ none; }};
}};
controls {{ }};
logging {{
    channel file {{ file "{self.log}"; severity info; print-time yes; print-category yes; }};
    category default {{ file; }};
    category xfer-in {{ file; }};
    category notify {{ file; }};
}};
zone "{self.zone}" {{
    type secondary;
    primaries {{ 127.0.0.1 port {self.primary_port}{keyref}; }};
    file "{self.dir}/{self.zone}.db";
    allow-notify {{ 127.0.0.1; }};
}};
""")
        return [NAMED, "-f", "-c", conf]
