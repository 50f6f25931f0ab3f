"""skydnsctl: maintain records through the records API or straight on etcd.

    skydnsctl [--api URL --token T | --etcd URL [--path /skydns]] [--zone Z] [--json] COMMAND
    list [--prefix NAME] [--limit N]      show NAME
    add NAME --ip IP... | --alias NAME | --service JSON [--ttl SECONDS]
    delete NAME       import FILE.yaml     export

``--api``/``--token`` default to ``$SKYDNS_API_ADDR`` (host:port or URL) and
``$SKYDNS_API_TOKEN``, as the Kubernetes fork's client read them. Exit status:
0 done, 1 failed (the reason on stderr), 2 usage error, 3 no such record.

The fork's ``skydns-apicmd`` flag forms work too, with its output (``domain: NAME val:
{ type:A ips:[...] }``): ``-list``, ``-show NAME`` (or ``-show -domain NAME``),
``-delete NAME``, ``-addr HOST:PORT``, ``-token T``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

NOT_FOUND = 3


class Failed(Exception):
    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.status = status


class ApiBackend:
    def __init__(self, url: str, token: str):
        if "://" not in url:
            url = "http://" + url
        self.url = url.rstrip("/") + "/skydns/api"
        self.token = token

    def _call(self, method: str, path: str, body=None, query=None):
        url = self.url + path + ("?" + urllib.parse.urlencode(query) if query else "")
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            try:
                msg = json.loads(e.read()).get("error", e.reason)
            except ValueError:
                msg = e.reason
            raise Failed(f"{msg} (HTTP {e.code})", NOT_FOUND if e.code == 404 else 1) from e
        except urllib.error.URLError as e:
            raise Failed(f"cannot reach the API at {self.url}: {e.reason}") from e

    def list(self, prefix, limit):
        out: list = []
        cursor = None
        while True:
            q = {"limit": str(min(limit - len(out), 1000))}
            if prefix:
                q["prefix"] = prefix
            if cursor:
                q["cursor"] = cursor
            page = self._call("GET", "/records", query=q)
            out.extend(page["records"])
            cursor = page.get("next")
            if not cursor or len(out) >= limit:
                return out

    def show(self, name):
        return self._call("GET", "/records/" + urllib.parse.quote(name, safe=""))

    def put(self, name, body, ttl):
        return self._call("PUT", "/records/" + urllib.parse.quote(name, safe=""), body,
                          {"ttl": str(ttl)} if ttl else None)

    def delete(self, name):
        return self._call("DELETE", "/records/" + urllib.parse.quote(name, safe=""))


class EtcdBackend:
    def __init__(self, url: str, path: str, zone: str):
        from skydns.clients.etcd.connection import Connection, parse_endpoint
        from skydns.clients.etcd.records import EtcdRecords

        try:
            endpoint = parse_endpoint(url)
        except ValueError as e:
            raise Failed(str(e), 2) from e
        connection = Connection((endpoint,), os.environ.get("ETCD_USERNAME"), os.environ.get("ETCD_PASSWORD"))
        client = connection.client(endpoint)
        self.store = EtcdRecords(client, path)
        self.zone = zone

    def _name(self, name):
        from skydns.msg.records import normalise_name
        return normalise_name(name, self.zone)

    def list(self, prefix, limit):
        from skydns.msg.records import describe
        records, _ = self.store.list(self._name(prefix) if prefix else None, limit)
        return [dict(name=n, **describe(s)) for n, s in records]

    def show(self, name):
        from skydns.msg.records import describe
        name = self._name(name)
        found = self.store.show(name)
        if found is None:
            raise Failed(f"no record named {name}", NOT_FOUND)
        return dict(name=name, **describe(found))

    def put(self, name, body, ttl):
        from skydns.msg.records import entries
        writes = entries(self._name(name), body, self.zone)
        self.store.replace(writes, ttl, author=_author())
        return {"written": list(dict.fromkeys(w[0] for w in writes)), "keys": len(writes)}

    def delete(self, name):
        name = self._name(name)
        if not self.store.delete(name, author=_author()):
            raise Failed(f"no record named {name}", NOT_FOUND)
        return {"deleted": name}


def _history(backend, args, out) -> None:
    from skydns.cli import history as text
    from skydns.clients.etcd.history import Gone, History

    if not isinstance(backend, EtcdBackend):
        raise Failed(f"{args.command} reads etcd's history: give --etcd URL", 2)
    h = History(backend.store.client, backend.store.prefix)
    try:
        if args.command == "history":
            name = backend._name(args.name)
            entries, gone = h.entries(name)
            out.write((text.history_json(entries, gone) if args.json else text.history_text(name, entries, gone))
                      + "\n")
        elif args.command == "diff":
            changes = h.diff(args.rev1, args.rev2, backend._name(args.prefix) if args.prefix else None)
            out.write((json.dumps(changes, indent=2) if args.json else text.diff_text(changes, h.prefix)) + "\n")
        else:
            name = backend._name(args.name)
            n = h.rollback(name, args.revision, _author())
            out.write(f"{name} as at revision {args.revision} ({n} keys changed)\n" if n
                      else f"{name} is already as at revision {args.revision}\n")
    except Gone as e:
        raise Failed(str(e), NOT_FOUND) from e


def _author() -> str:
    """Who ``skydnsctl --etcd`` writes as: the user on this machine."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except Exception:
        user = "unknown"
    return f"skydnsctl:{user}@{socket.gethostname()}"


def value_text(rec: dict) -> tuple[str, str]:
    if "ips" in rec:
        return rec["type"], ", ".join(rec["ips"])
    parts = []
    for s in rec.get("services", []):
        bits = [str(s.get("host", ""))] + [f"{k}={v}" for k, v in s.items() if k != "host"]
        parts.append(" ".join(b for b in bits if b))
    return "service", "; ".join(parts)


def table(records: list[dict]) -> str:
    rows = [("NAME", "TYPE", "VALUE")] + [(r["name"], *value_text(r)) for r in records]
    width = [max(len(r[i]) for r in rows) for i in range(2)]
    return "\n".join(f"{r[0]:<{width[0]}}  {r[1]:<{width[1]}}  {r[2]}" for r in rows)


def body_from_args(args) -> object:
    given = [x for x in (args.ip, args.alias, args.service) if x]
    if len(given) != 1:
        raise Failed("add needs exactly one of --ip, --alias, --service", 2)
    if args.ip:
        kinds = {":" in ip for ip in args.ip}
        if len(kinds) != 1:
            raise Failed("--ip addresses must all be IPv4 or all IPv6", 2)
        return {"type": "AAAA" if kinds.pop() else "A", "ips": args.ip}
    if args.alias:
        return {"type": "cname", "alias": args.alias}
    try:
        return json.loads(args.service)
    except ValueError as e:
        raise Failed(f"--service is not JSON: {e}", 2) from e


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="skydnsctl", description="Maintain skydns records.")
    p.add_argument("--api", default=os.environ.get("SKYDNS_API_ADDR"), help="records API (host:port or URL)")
    p.add_argument("--token", default=os.environ.get("SKYDNS_API_TOKEN"), help="API token")
    p.add_argument("--etcd", help="work straight on etcd at this URL instead of the API")
    p.add_argument("--path", default="/skydns", help="etcd key prefix (with --etcd)")
    p.add_argument("--zone", default="skydns.local.", help="zone of relative names (with --etcd)")
    p.add_argument("--json", action="store_true", help="JSON output for scripts")
    sub = p.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="list records")
    ls.add_argument("--prefix")
    ls.add_argument("--limit", type=int, default=1000)
    sub.add_parser("show", help="show one record").add_argument("name")
    add = sub.add_parser("add", help="add or replace a record")
    add.add_argument("name")
    add.add_argument("--ip", nargs="+")
    add.add_argument("--alias")
    add.add_argument("--service", help="SkyDNS service JSON")
    add.add_argument("--ttl", type=int, help="expire unless written again within SECONDS")
    sub.add_parser("delete", help="delete a record").add_argument("name")
    sub.add_parser("import", help="add the records of a YAML file (name: body)").add_argument("file")
    sub.add_parser("export", help="every record as YAML (or JSON)")
    sub.add_parser("history", help="who changed a record, when, and what it held (--etcd)").add_argument("name")
    diff = sub.add_parser("diff", help="what changed between two etcd revisions (--etcd)")
    diff.add_argument("rev1", type=int)
    diff.add_argument("rev2", type=int, nargs="?", help="default: now")
    diff.add_argument("--prefix", help="only names at or below this one")
    back = sub.add_parser("rollback", help="put a record back as it was at a revision (--etcd)")
    back.add_argument("name")
    back.add_argument("--to", type=int, required=True, dest="revision")
    return p


def run(args, out=sys.stdout) -> int:
    if args.etcd:
        backend: EtcdBackend | ApiBackend = EtcdBackend(args.etcd, args.path, args.zone)
    else:
        if not args.api:
            raise Failed("say where: --api URL (or $SKYDNS_API_ADDR), or --etcd URL", 2)
        if not args.token:
            raise Failed("the API needs --token (or $SKYDNS_API_TOKEN)", 2)
        backend = ApiBackend(args.api, args.token)
    cmd = args.command
    fork = getattr(args, "apicmd", False)
    if cmd == "list":
        records = backend.list(args.prefix, args.limit)
        out.write((json.dumps(records, indent=2) if args.json else apicmd_text(records) if fork
                   else table(records)) + "\n")
    elif cmd == "show":
        rec = backend.show(args.name)
        out.write((json.dumps(rec, indent=2) if args.json else apicmd_text([rec]) if fork
                   else table([rec])) + "\n")
    elif cmd == "add":
        result = backend.put(args.name, body_from_args(args), args.ttl)
        out.write(json.dumps(result) + "\n" if args.json else f"added {', '.join(result['written'])}\n")
    elif cmd == "delete":
        result = backend.delete(args.name)
        out.write(json.dumps(result) + "\n" if args.json else f"deleted {result['deleted']}\n")
    elif cmd == "import":
        import yaml
        try:
            with open(args.file) as f:
                data = yaml.safe_load(f) or {}
        except (OSError, yaml.YAMLError) as e:
            raise Failed(f"cannot read {args.file}: {e}") from e
        if not isinstance(data, dict):
            raise Failed(f"{args.file}: expected a mapping of name: body")
        for name, body in data.items():
            backend.put(str(name), body, None)
        out.write(f"imported {len(data)} records\n")
    elif cmd in ("history", "diff", "rollback"):
        _history(backend, args, out)
    elif cmd == "export":
        records = backend.list(None, 100000)
        data = {}
        for r in records:
            name = r.pop("name")
            services = r.get("services")
            data[name] = r if services is None else (services[0] if len(services) == 1 else services)
        if args.json:
            out.write(json.dumps(data, indent=2) + "\n")
        else:
            import yaml
            out.write(yaml.safe_dump(data, sort_keys=True))
    return 0


APICMD_FLAGS = ("-list", "-show", "-delete", "-addr", "-domain", "-token")


def _value(argv: list[str], i: int) -> tuple[str, int]:
    """The value of the flag at ``argv[i]`` (``-flag=V`` or ``-flag V``) and where the next argument is."""
    flag, eq, value = argv[i].partition("=")
    if eq:
        return value, i + 1
    if i + 1 >= len(argv):
        raise Failed(f"{flag} needs a value", 2)
    return argv[i + 1], i + 2


def apicmd(argv: list[str]) -> tuple[list[str], bool]:
    """The fork's skydns-apicmd flags as skydnsctl arguments; whether they were used."""
    if not any(a.split("=")[0] in APICMD_FLAGS for a in argv):
        return argv, False
    out: list[str] = []
    command: list[str] = []
    i = 0
    while i < len(argv):
        flag = argv[i].split("=")[0]
        if flag == "-list":
            command, i = ["list"], i + 1
        elif flag in ("-show", "-delete"):
            nxt = argv[i + 1] if "=" not in argv[i] and i + 1 < len(argv) else ""
            if "=" in argv[i] or (nxt and not nxt.startswith("-")):
                name, i = _value(argv, i)
                command = [flag[1:], name]
            else:  # the name from -domain, before or after
                command, i = [flag[1:]] + command[1:2], i + 1
        elif flag == "-domain":
            name, i = _value(argv, i)
            command = (command or ["show"])[:1] + [name]
        elif flag in ("-addr", "-token"):
            value, i = _value(argv, i)
            out += ["--api" if flag == "-addr" else "--token", value]
        else:
            out.append(argv[i])
            i += 1
    if not command or (command[0] != "list" and len(command) < 2):
        raise Failed("say what: -list, -show NAME or -delete NAME", 2)
    return out + command, True


def apicmd_text(records: list[dict]) -> str:
    """The fork's listing: ``domain: NAME val: { type:A ips:[...] }`` (Go's ``%v`` of its values)."""
    lines = []
    for r in records:
        parts = " ".join(f"{k}:{_go_value(v)}" for k, v in r.items() if k != "name")
        lines.append(f"domain: {r['name'].rstrip('.')} val: {{ {parts} }}")
    return "\n".join(lines)


def _go_value(v) -> str:
    """A value as Go prints one with ``%v``: lists ``[a b]``, objects ``{k:v k:v}``, booleans in lower case."""
    if isinstance(v, list):
        return "[" + " ".join(_go_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + " ".join(f"{k}:{_go_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv, fork = apicmd(argv)
    except Failed as e:
        sys.stderr.write(f"skydnsctl: {e}\n")
        return e.status
    args = parser().parse_args(argv)
    args.apicmd = fork
    try:
        return run(args)
    except Failed as e:
        sys.stderr.write(f"skydnsctl: {e}\n")
        return e.status
    except Exception as e:  # a RecordError from --etcd, an etcd error
        from skydns.clients.etcd.connection import explain
        from skydns.msg.records import RecordError

        sys.stderr.write(f"skydnsctl: {e if isinstance(e, RecordError) else explain(e, args.etcd)}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
