"""DNSSEC keys in BIND's format, as ``dnssec-keygen`` writes them (``Kzone.+alg+tag.key``/``.private``)."""
from __future__ import annotations

import base64
import os
from dataclasses import dataclass

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.DNSKEY

ALGORITHMS = {8: "RSASHA256", 13: "ECDSAP256SHA256", 15: "ED25519", 5: "RSASHA1", 7: "RSASHA1-NSEC3-SHA1"}
#: Algorithms taken for SkyDNS's keys (its README makes RSASHA1 ones) with a warning: SHA-1 is deprecated
#: (RFC 8624: MUST NOT sign with it), and validators refuse algorithm 5 beside NSEC3 (the denials here).
DEPRECATED = {5, 7}
RSA = {5, 7, 8}


class KeyError_(ValueError):
    """A key that cannot be used; the message names the file."""


@dataclass
class Key:
    zone: str  # lower case, dot-terminated
    dnskey: object  # the DNSKEY rdata
    private: object  # a cryptography private key
    algorithm: int
    tag: int
    sep: bool
    path: str


def _b64int(text: str) -> int:
    return int.from_bytes(base64.b64decode(text), "big")


def _private_key(fields: dict, algorithm: int, path: str):
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    try:
        if algorithm in RSA:
            e, n = _b64int(fields["PublicExponent"]), _b64int(fields["Modulus"])
            return rsa.RSAPrivateNumbers(
                _b64int(fields["Prime1"]), _b64int(fields["Prime2"]), _b64int(fields["PrivateExponent"]),
                _b64int(fields["Exponent1"]), _b64int(fields["Exponent2"]), _b64int(fields["Coefficient"]),
                rsa.RSAPublicNumbers(e, n)).private_key()
        raw = base64.b64decode(fields["PrivateKey"])
        if algorithm == 13:
            return ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
        return ed25519.Ed25519PrivateKey.from_private_bytes(raw)
    except KeyError as e:
        raise KeyError_(f"{path}: no {e.args[0]} field") from e
    except Exception as e:
        raise KeyError_(f"{path}: unreadable private key: {e}") from e


def base_of(text: str) -> str:
    for ext in (".key", ".private"):
        if text.endswith(ext):
            return text[: -len(ext)]
    return text


def load(base: str) -> Key:
    """The key at ``base`` (``Kzone.+alg+tag``, or its .key/.private path)."""
    base = base_of(base)
    pub_path, priv_path = base + ".key", base + ".private"
    try:
        with open(pub_path) as f:
            lines = [line.split(";", 1)[0].strip() for line in f]
    except OSError as e:
        raise KeyError_(f"cannot read {pub_path}: {e.strerror}") from e
    record = next((line for line in lines if "DNSKEY" in line.split()), None)
    if record is None:
        raise KeyError_(f"{pub_path}: no DNSKEY record")
    words = record.split()
    at = words.index("DNSKEY")
    try:
        owner = dns.name.from_text(words[0]).to_text().lower()
        dnskey = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.DNSKEY, " ".join(words[at + 1:]))
        assert isinstance(dnskey, dns.rdtypes.ANY.DNSKEY.DNSKEY)
    except Exception as e:
        raise KeyError_(f"{pub_path}: bad DNSKEY record: {e}") from e
    if dnskey.algorithm not in ALGORITHMS:
        raise KeyError_(f"{pub_path}: algorithm {int(dnskey.algorithm)} is not supported "
                        f"(use {', '.join(f'{n} ({a})' for a, n in ALGORITHMS.items() if a not in DEPRECATED)})")
    try:
        with open(priv_path) as f:
            fields = dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
    except OSError as e:
        raise KeyError_(f"cannot read {priv_path}: {e.strerror}") from e
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    algorithm = int(dnskey.algorithm)
    if not fields.get("Algorithm", "").startswith(str(algorithm)):
        raise KeyError_(f"{priv_path}: algorithm {fields.get('Algorithm')!r} does not match {pub_path}")
    private = _private_key(fields, algorithm, priv_path)
    derived = dns.dnssec.make_dnskey(private.public_key(), algorithm, dnskey.flags)
    if derived.key != dnskey.key:
        raise KeyError_(f"{priv_path} does not hold the private half of {pub_path}")
    if algorithm in DEPRECATED:
        from twisted.logger import Logger

        Logger(namespace="skydns.plugin.dnssec").warn(
            "{path}: algorithm {alg} ({name}) signs with SHA-1, which validators are dropping (RFC 8624){nsec3}; "
            "make a new key with algorithm 13 (dnssec-keygen -a ECDSAP256SHA256) or 15",
            path=pub_path, alg=algorithm, name=ALGORITHMS[algorithm],
            nsec3=", and algorithm 5 cannot sign NSEC3 denials (use 7 at least)" if algorithm == 5 else "")
    return Key(owner, dnskey, private, algorithm, dns.dnssec.key_id(dnskey), bool(dnskey.flags & 1),
               os.path.abspath(base))
