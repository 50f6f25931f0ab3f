"""``skydns agent``: register services in etcd and keep them there only while they are healthy.

What Consul's agent does with service checks: each service (from flags, or a YAML file
with several) is checked where the agent runs (TCP connect, HTTP status, ICMP, or a
command's exit code), written under the agent's etcd lease while its check passes,
withdrawn when it fails, written again when it passes, and removed at once when the
agent stops (SIGTERM); a killed agent's services go when its lease runs out. See
docs/agent.md.
"""
from __future__ import annotations

import argparse
import os
import socket
import sys
from typing import Any

from zope.interface import implementer

from skydns.cli.agent.spec import SpecError, from_file, service
from skydns.interfaces import ICommand

USAGE = ("skydns agent [--etcd URL...] [--path /skydns] [--lease 10s] [--id NAME] "
         "(NAME --address IP [--port N] [--check CHECK] ... | --file FILE.yaml)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="skydns agent", usage=USAGE, description=(
        "Register services in etcd and keep them only while their checks pass. CHECK: tcp[:PORT] (default with "
        "a port), http:PATH, https:PATH, icmp, command:PROGRAM ARGS... (exit code 0), none (default without a "
        "port)."))
    p.add_argument("name", nargs="?", help="the service's name (web.skydns.local)")
    p.add_argument("--address", help="its IP address")
    p.add_argument("--port", type=int, help="its port (SRV)")
    p.add_argument("--priority", type=int)
    p.add_argument("--weight", type=int)
    p.add_argument("--text", help="TXT text")
    p.add_argument("--ttl", type=int, help="the answers' TTL")
    p.add_argument("--check", help="how it is checked (see above)")
    p.add_argument("--status", type=int, help="the HTTP status an http(s) check expects (default 200)")
    p.add_argument("--interval", help="between checks (default 10s)")
    p.add_argument("--timeout", help="a check's time (default 2s)")
    p.add_argument("--rise", type=int, help="passes in a row to register again (default 2)")
    p.add_argument("--fall", type=int, help="failures in a row to withdraw (default 3)")
    p.add_argument("--file", help="a YAML file of services (the same fields)")
    p.add_argument("--etcd", action="append", help="etcd endpoint (repeatable; default $ETCD_ENDPOINT or "
                                                   "http://127.0.0.1:2379); $ETCD_USERNAME/$ETCD_PASSWORD if set")
    p.add_argument("--cert", help="TLS client certificate for etcd")
    p.add_argument("--key", help="its key")
    p.add_argument("--ca", help="the CA of etcd's certificate")
    p.add_argument("--path", default="/skydns", help="the etcd prefix the server reads (default /skydns)")
    p.add_argument("--lease", default="10s", help="the lease's TTL: how long a killed agent's services stay "
                                                 "(default 10s)")
    p.add_argument("--id", default=f"{socket.gethostname()}-{os.getpid()}", help="this agent's name in the log")
    return p


def services_of(args) -> list:
    """The services the arguments name (a file's, and/or one from the flags)."""
    found = from_file(args.file) if args.file else []
    fields = {k: getattr(args, k) for k in ("name", "address", "port", "priority", "weight", "text", "ttl",
                                            "check", "status", "interval", "timeout", "rise", "fall")
              if getattr(args, k) is not None}
    if args.name:
        found.append(service(fields))
    elif set(fields) - {"name"}:
        raise SpecError("service flags without a NAME")
    if not found:
        raise SpecError("nothing to register: give NAME --address IP ... or --file FILE.yaml")
    keys = [s.key(args.path) for s in found]
    if len(set(keys)) != len(keys):
        raise SpecError("the same name, address and port twice")
    return found


@implementer(ICommand)
class AgentCommand:
    name = "agent"
    summary = "register services in etcd and keep them there only while their checks pass"

    def run(self, argv: list[str]) -> int:
        from skydns.clients.etcd.connection import Connection, parse_endpoint
        from skydns.config.corefile.dispenser import parse_duration

        args = parser().parse_args(argv)
        try:
            services = services_of(args)
            endpoints = tuple(parse_endpoint(u) for u in (args.etcd or [os.environ.get("ETCD_ENDPOINT")
                                                                         or "http://127.0.0.1:2379"]))
            lease = parse_duration(args.lease)
            if not 2 <= lease <= 3600:
                raise SpecError(f"--lease must be from 2s to 1h, got {args.lease}")
        except (SpecError, ValueError) as e:
            sys.stderr.write(f"skydns agent: {e}\n")
            return 2
        connection = Connection(endpoints, os.environ.get("ETCD_USERNAME"), os.environ.get("ETCD_PASSWORD"),
                                args.cert, args.key, args.ca)
        return _serve(connection, args.path, services, int(lease), f"agent {args.id}")


def _serve(connection, prefix: str, services: list, lease: int, who: str) -> int:
    from twisted.internet import reactor as the_reactor
    from twisted.logger import globalLogBeginner, textFileLogObserver

    from skydns.cli.agent.agent import Agent

    reactor: Any = the_reactor
    observer: Any = textFileLogObserver(sys.stdout)
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
    agent = Agent(reactor, connection, prefix, services, lease, who)
    reactor.callWhenRunning(agent.start)
    reactor.addSystemEventTrigger("before", "shutdown", agent.stop)  # SIGTERM, SIGINT: withdrawn at once
    reactor.run()
    return 0


agent_command = AgentCommand()
