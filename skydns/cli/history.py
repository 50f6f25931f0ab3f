"""``skydnsctl history``, ``diff`` and ``rollback``: a name's authors and versions, a zone between two
revisions, a name put back as it was (skydns.clients.etcd.history does the reading and writing)."""
from __future__ import annotations

import json
import time


def history_text(name: str, entries, gone: int | None) -> str:
    lines = [f"{'REVISION':>9}  {'WHEN (UTC)':19}  {'AUTHOR':30}  {'CHANGE':18}  RECORDS"]
    for e in entries:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e.at)) if e.at else "?"
        records = ", ".join(_service_text(s) for s in e.services) or "(none)"
        lines.append(f"{e.revision:>9}  {when:19}  {e.author:30}  {e.op:18}  {records}")
    if gone:
        lines.append(f"(changes before revision {gone} are gone: etcd compacted its history)")
    if not entries:
        lines.append(f"(no change of {name} noted: written by skydns's tools, it would be)")
    return "\n".join(lines)


def history_json(entries, gone: int | None) -> str:
    return json.dumps({"entries": [e.__dict__ for e in entries], "compacted_before": gone}, indent=2)


def diff_text(changes, prefix: str) -> str:
    from skydns.msg import path

    out = []
    for change, key, before, after in changes:
        labels = path.key_labels(key, prefix)
        name = path.labels_to_name(labels) if labels else key
        mark = {"added": "+", "deleted": "-", "changed": "~"}[change]
        value = after if after is not None else before
        out.append(f"{mark} {name:40} {value}" + (f"   (was {before})" if change == "changed" else ""))
    return "\n".join(out) or "(no change)"


def _service_text(s) -> str:
    if not isinstance(s, dict):
        return str(s)
    host = s.get("host") or s.get("text") or "?"
    return f"{host}:{s['port']}" if s.get("port") else str(host)
