"""CoreDNS's query log format: placeholders compiled once into a list of field getters."""
from __future__ import annotations

import json
import re

import dns.rcode
import dns.rdatatype

COMMON = ('{remote}:{port} - {>id} "{type} {class} {name} {proto} {size} {>do} {>bufsize}" '
          '{rcode} {>rflags} {rsize} {duration}')
COMBINED = COMMON + ' "{>opcode}"'

_FLAGS = ((0x8000, "qr"), (0x0400, "aa"), (0x0200, "tc"), (0x0100, "rd"), (0x0080, "ra"),
          (0x0020, "ad"), (0x0010, "cd"))
_CLASSES = {1: "IN", 3: "CH", 4: "HS", 254: "NONE", 255: "ANY"}
_OPCODES = {0: "QUERY", 1: "IQUERY", 2: "STATUS", 4: "NOTIFY", 5: "UPDATE"}


#: The reply flags' text for every value of (header byte 2) << 4 | (header byte 3) >> 4.
_RFLAGS = tuple(",".join(name for bit, name in _FLAGS if (i << 4) & bit) for i in range(4096))


def _rflags(reply: bytes) -> str:
    return _RFLAGS[reply[2] << 4 | reply[3] >> 4]


def _remote(req) -> str:
    host = req.client[0]
    return f"[{host}]" if ":" in host else host


_TYPE_TEXT = {t: dns.rdatatype.to_text(dns.rdatatype.RdataType.make(t)) for t in range(1, 300)}
_RCODE_TEXT = {r: dns.rcode.to_text(dns.rcode.Rcode.make(r)) for r in range(16)}


def _local(req) -> str:
    """The address of the listener the query came to (the wildcard when it listens on every address)."""
    if req.local is None:
        return "-"
    host = req.local[0]
    return f"[{host}]" if ":" in host else host


def _log_class(reply: bytes) -> str:
    """CoreDNS's response class: success, denial or error."""
    rcode = reply[3] & 0x0F
    if rcode == 0:
        return "success" if reply[6] or reply[7] else "denial"
    return "denial" if rcode == 3 else "error"


def _log_type(reply: bytes) -> str:
    """CoreDNS's response type: NOERROR, NODATA, NXDOMAIN, SERVERERROR or OTHERERROR."""
    rcode = reply[3] & 0x0F
    if rcode == 0:
        return "NOERROR" if reply[6] or reply[7] else "NODATA"
    return {3: "NXDOMAIN", 2: "SERVERERROR"}.get(rcode, "OTHERERROR")


#: The log plugin's own metadata placeholders ``{/LABEL}`` (as CoreDNS's); any other label is what a plugin
#: published for the query (``request.set_meta``), or "-".
METADATA = {"log/class": "_log_class(p)", "log/type": "_log_type(p)"}


def _meta(req, label: str) -> str:
    """A label a plugin published for the query, or "-"."""
    value = req.get_meta(label) if req.meta is not None else None
    return "-" if value is None else value


def _qtype(req) -> str:
    text = _TYPE_TEXT.get(req.qtype)
    return text if text is not None else f"TYPE{req.qtype}"


def _rcode(reply: bytes) -> str:
    return _RCODE_TEXT[reply[3] & 0x0F]


def _duration(req, reply, now) -> str:
    return f"{now - req.started:.9f}".rstrip("0").rstrip(".") + "s"


#: placeholder -> fn(request, reply, now) -> text
FIELDS = {
    "remote": lambda r, p, n: _remote(r),
    "port": lambda r, p, n: str(r.client[1]),
    "id": lambda r, p, n: str(r.id),
    "type": lambda r, p, n: _qtype(r),
    "class": lambda r, p, n: _CLASSES.get(r.qclass, f"CLASS{r.qclass}"),
    "name": lambda r, p, n: r.qname,
    "local": lambda r, p, n: _local(r),
    "proto": lambda r, p, n: r.proto,
    "transport": lambda r, p, n: r.transport,
    "size": lambda r, p, n: str(len(r.wire)),
    "do": lambda r, p, n: "true" if r.do else "false",
    "bufsize": lambda r, p, n: str(r.bufsize),
    "rcode": lambda r, p, n: _rcode(p),
    "rflags": lambda r, p, n: _rflags(p),
    "rsize": lambda r, p, n: str(len(p)),
    "duration": _duration,
    "opcode": lambda r, p, n: _OPCODES.get((r.flags >> 11) & 0xF, str((r.flags >> 11) & 0xF)),
}
_PLACEHOLDER = re.compile(r"\{(>?)([a-z]+)\}|\{/([^{}]+)\}")


class UnknownPlaceholder(ValueError):
    pass


#: placeholder -> a Python expression over r (request), p (reply bytes), n (now); the
#: same values as FIELDS, written inline because a function call per field would cost
#: as much as the rest of the line
_EXPRESSIONS = {
    "remote": "(('[' + r.client[0] + ']') if ':' in r.client[0] else r.client[0])", "port": "r.client[1]",
    "id": "r.id", "local": "_local(r)", "type": "(_TYPE_TEXT.get(r.qtype) or f'TYPE{r.qtype}')",
    "class": "_CLASSES.get(r.qclass) or f'CLASS{r.qclass}'", "name": "r.qname", "proto": "r.proto",
    "transport": "r.transport",
    "size": "len(r.wire)", "do": "('true' if r.do else 'false')", "bufsize": "r.bufsize",
    "rcode": "_RCODE_TEXT[p[3] & 15]", "rflags": "_RFLAGS[p[2] << 4 | p[3] >> 4]", "rsize": "len(p)",
    "duration": "(f'{n - r.started:.9f}'.rstrip('0').rstrip('.') + 's')", "opcode": "FIELDS['opcode'](r, p, n)",
}


def compile_format(fmt: str):
    """A function ``(request, reply, now) -> line`` for a CoreDNS log format string.

    The format becomes one generated f-string: a line costs a few microseconds.
    """
    fmt = fmt.replace("{common}", COMMON).replace("{combined}", COMBINED)
    source = []
    labels: list[str] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(fmt):
        if m.group(3) is not None:  # {/LABEL}: metadata
            source.append(_literal(fmt[pos:m.start()]))
            expr = METADATA.get(m.group(3))
            if expr is None:
                labels.append(m.group(3))
                expr = f"_meta(r, _LABELS[{len(labels) - 1}])"
            source.append("{" + expr + "}")
            pos = m.end()
            continue
        name = m.group(2)
        if name not in FIELDS:
            raise UnknownPlaceholder(f"unknown placeholder {m.group(0)} (expected "
                                     + ", ".join("{" + f + "}" for f in FIELDS) + ", {common}, {combined})")
        source.append(_literal(fmt[pos:m.start()]))
        source.append("{" + _EXPRESSIONS[name] + "}")
        pos = m.end()
    source.append(_literal(fmt[pos:]))
    code = 'lambda r, p, n: f"' + "".join(source) + '"'
    # noqa: S307 - built only from our own expressions and escaped text (labels are passed as values)
    return eval(code, dict(globals(), _LABELS=tuple(labels)))


def _literal(text: str) -> str:
    return (text.replace("\\", "\\\\").replace('"', '\\"').replace("{", "{{").replace("}", "}}")
            .replace("\n", "\\n").replace("\r", "\\r"))


def json_line(req, reply, now) -> str:
    """One JSON object with every field (the ``json`` option)."""
    fields = {name: fn(req, reply, now) for name, fn in FIELDS.items()}
    if req.meta:
        fields["meta"] = {label: req.get_meta(label) for label in req.meta}
    return json.dumps(fields, separators=(",", ":"))
