"""TSIG (RFC 8945) for plugins that authenticate requests: zone transfers and dynamic updates.

A :class:`Keyring` holds the shared secrets (from the ``tsig`` directive);
:func:`verify` checks a request's signature with dnspython and says which key
signed it; :class:`Signer` signs the reply messages (several, for a transfer:
each signed over the previous one's MAC, RFC 8945 5.3.1) on the wire.
"""
from __future__ import annotations

import base64
import struct
import time
from dataclasses import dataclass

import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.renderer
import dns.tsig

from skydns.query import wire

ALGORITHMS = {
    "hmac-md5": dns.tsig.HMAC_MD5, "hmac-sha1": dns.tsig.HMAC_SHA1, "hmac-sha224": dns.tsig.HMAC_SHA224,
    "hmac-sha256": dns.tsig.HMAC_SHA256, "hmac-sha384": dns.tsig.HMAC_SHA384, "hmac-sha512": dns.tsig.HMAC_SHA512,
}
TYPE_TSIG = 250
CLASS_ANY = 255
FUDGE = 300
NOTAUTH = 9


class Keyring:
    """TSIG keys by name."""

    def __init__(self):
        self.keys: dict[dns.name.Name, dns.tsig.Key] = {}

    def add(self, name: str, secret: str, algorithm: str = "hmac-sha256") -> None:
        """Raises ValueError for a secret that is not base64 or an unknown algorithm."""
        alg = ALGORITHMS.get(algorithm.lower().rstrip("."))
        if alg is None:
            raise ValueError(f"unknown TSIG algorithm for {name} (expected {', '.join(ALGORITHMS)}; "
                             "the algorithm follows the secret)")
        try:
            raw = base64.b64decode(secret, validate=True)
        except ValueError as e:
            raise ValueError(f"the secret of {name} is not base64: {e}") from e
        key_name = dns.name.from_text(name)
        self.keys[key_name] = dns.tsig.Key(key_name, raw, alg)

    def __bool__(self) -> bool:
        return bool(self.keys)


@dataclass
class Verified:
    """What a request's TSIG says: the key that signed it (None: unsigned), or the error to answer."""

    key: dns.tsig.Key | None = None
    mac: bytes | None = None
    error: int = 0  # a TSIG error (BADSIG 16, BADKEY 17, BADTIME 18): answer NOTAUTH
    message: dns.message.Message | None = None


class Replays:
    """Signed requests seen within the time they may be replayed: a captured signed UPDATE sent again
    (after the change it made was undone, say) is refused. Bounded: the oldest are forgotten first."""

    MAX = 100_000

    def __init__(self, clock=time.time):
        self.clock = clock
        self.seen: dict[bytes, float] = {}  # MAC -> when it may be forgotten (insertion order: oldest first)

    def first_time(self, mac: bytes, window: float) -> bool:
        """True the first time ``mac`` is seen within ``window`` seconds; False for a replay."""
        now = self.clock()
        seen = self.seen
        while seen:
            oldest = next(iter(seen))
            if seen[oldest] > now and len(seen) < self.MAX:
                break
            del seen[oldest]
        if mac in seen:
            return False
        seen[mac] = now + window
        return True


def verify(request, keyring: Keyring, replays: Replays | None = None) -> Verified:
    """Check ``request``'s TSIG against ``keyring`` (a request without one is Verified(key=None)).

    The time window is the request's fudge but at most :data:`FUDGE` seconds (a client does not widen
    it); with ``replays``, a request signed with a MAC seen within that window is refused (BADTIME).
    A TSIG record that claims an error of its own (a request never does) is not a query this server
    reads: :class:`~skydns.query.request.MalformedQuery` (FORMERR).
    """
    from skydns.query.request import MalformedQuery

    if not request.message.had_tsig:
        return Verified(message=request.message)
    try:
        msg = dns.message.from_wire(request.wire, keyring=keyring.keys)
    except dns.message.UnknownTSIGKey:
        return Verified(error=dns.rcode.BADKEY)
    except dns.tsig.BadTime:
        return Verified(error=dns.rcode.BADTIME)
    except (dns.tsig.BadSignature, dns.tsig.BadAlgorithm, dns.tsig.BadKey):
        return Verified(error=dns.rcode.BADSIG)
    except dns.tsig.PeerError as e:
        raise MalformedQuery(f"a TSIG record with an error in a request ({type(e).__name__})") from e
    except dns.exception.DNSException as e:
        raise MalformedQuery(f"TSIG: {e}") from e
    assert msg.keyname is not None and msg.tsig is not None
    rd = msg.tsig[0]
    window = min(rd.fudge, FUDGE)
    if abs(time.time() - rd.time_signed) > window:
        return Verified(error=dns.rcode.BADTIME)
    if replays is not None and not replays.first_time(msg.mac or b"", 2 * window):
        return Verified(error=dns.rcode.BADTIME)
    return Verified(keyring.keys[msg.keyname], msg.mac, 0, msg)


def error_reply(request, verified: Verified) -> bytes:
    """NOTAUTH for a bad signature, with an unsigned TSIG record carrying the error (RFC 8945 5.2)."""
    reply = wire.error_reply(request, NOTAUTH)
    msg = request.message
    tsig = msg.tsig[0] if msg.tsig else None
    if tsig is None or msg.keyname is None:
        return reply
    rd = dns.renderer._make_tsig(msg.keyname, tsig.algorithm, int(time.time()), FUDGE, b"", request.id,
                                 verified.error, b"")[0]
    return _append(reply, msg.keyname, rd)


def _append(data: bytes, keyname: dns.name.Name, rd) -> bytes:
    rdata = rd.to_wire()
    owner = keyname.to_wire()
    assert owner is not None  # no compression table: always the bytes
    rr = owner + struct.pack("!HHIH", TYPE_TSIG, CLASS_ANY, 0, len(rdata)) + rdata
    arcount = struct.unpack_from("!H", data, 10)[0] + 1
    return data[:10] + struct.pack("!H", arcount) + data[12:] + rr


class Signer:
    """Signs the reply messages to one signed request, in order."""

    def __init__(self, verified: Verified, original_id: int):
        assert verified.key is not None
        self.key = verified.key
        self.request_mac = verified.mac
        self.original_id = original_id
        self.ctx = None

    def sign(self, data: bytes, multi: bool = True) -> bytes:
        template = dns.renderer._make_tsig(self.key.name, self.key.algorithm, 0, FUDGE, b"", self.original_id,
                                           0, b"")[0]
        rd, self.ctx = dns.tsig.sign(data, self.key, template, int(time.time()),
                                     self.request_mac if self.ctx is None else None, self.ctx, multi)
        return _append(data, self.key.name, rd)
