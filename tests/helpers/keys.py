"""DNSSEC keys in BIND's format, as dnssec-keygen writes them, made with cryptography (no BIND needed)."""
from __future__ import annotations

import base64
import os

import dns.dnssec

from skydns.plugin.dnssec import keys as keymod


def write_key(directory, zone, algorithm, flags=256):
    """A key pair in BIND's format (as dnssec-keygen writes it), made with cryptography."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    if algorithm in (5, 7, 8):
        priv = rsa.generate_private_key(65537, 2048)
        n = priv.private_numbers()

        def b(i):
            return base64.b64encode(i.to_bytes((i.bit_length() + 7) // 8, "big")).decode()
        body = (f"Modulus: {b(n.public_numbers.n)}\nPublicExponent: {b(n.public_numbers.e)}\n"
                f"PrivateExponent: {b(n.d)}\nPrime1: {b(n.p)}\nPrime2: {b(n.q)}\nExponent1: {b(n.dmp1)}\n"
                f"Exponent2: {b(n.dmq1)}\nCoefficient: {b(n.iqmp)}\n")
    elif algorithm == 13:
        priv = ec.generate_private_key(ec.SECP256R1())
        body = f"PrivateKey: {base64.b64encode(priv.private_numbers().private_value.to_bytes(32, 'big')).decode()}\n"
    else:
        from cryptography.hazmat.primitives import serialization
        priv = ed25519.Ed25519PrivateKey.generate()
        raw = priv.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                 serialization.NoEncryption())
        body = f"PrivateKey: {base64.b64encode(raw).decode()}\n"
    dnskey = dns.dnssec.make_dnskey(priv.public_key(), algorithm, flags)
    tag = dns.dnssec.key_id(dnskey)
    base = os.path.join(str(directory), f"K{zone}+{algorithm:03d}+{tag:05d}")
    with open(base + ".key", "w") as f:
        f.write(f"; test key\n{zone} IN DNSKEY {dnskey.to_text()}\n")
    with open(base + ".private", "w") as f:
        f.write(f"Private-key-format: v1.3\nAlgorithm: {algorithm} ({keymod.ALGORITHMS[algorithm]})\n" + body)
    return base
