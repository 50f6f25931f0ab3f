"""The hosts(5) format: ``ADDRESS NAME [ALIASES...]`` per line, ``#`` comments; the reverse names it implies."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import dns.name
import dns.reversename


@dataclass
class Entries:
    """What hosts lines say: addresses by name, names by reverse name (the first name of a line is canonical)."""

    addresses: dict[str, list[str]] = field(default_factory=dict)
    reverse: dict[str, list[str]] = field(default_factory=dict)
    bad: list[tuple[int, str]] = field(default_factory=list)  # (line number, why)

    def add(self, address: str, names: list[str], reverse: bool = True) -> None:
        for i, name in enumerate(names):
            found = self.addresses.setdefault(name, [])
            if address not in found:
                found.append(address)
            if i == 0 and reverse and not name.startswith("*."):
                rev = dns.reversename.from_address(address).to_text().lower()
                names_of = self.reverse.setdefault(rev, [])
                if name not in names_of:
                    names_of.append(name)

    def update(self, other: Entries) -> None:
        """Add ``other``'s entries; for a name both give, ``other``'s addresses win (inline over the file)."""
        for name, addrs in other.addresses.items():
            self.addresses[name] = list(addrs)
        for rev, names in other.reverse.items():
            self.reverse[rev] = list(names)

    def __len__(self) -> int:
        return sum(len(a) for a in self.addresses.values())


def parse(lines, reverse: bool = True) -> Entries:
    """Entries of hosts lines (an iterable of text); a line that is not ``ADDRESS NAME...`` is noted in ``bad``."""
    out = Entries()
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        parts = text.split()
        if len(parts) < 2:
            out.bad.append((number, "an address and at least one name are needed"))
            continue
        try:
            address = str(ipaddress.ip_address(parts[0].split("%", 1)[0]))
        except ValueError:
            out.bad.append((number, f"'{parts[0]}' is not an IP address"))
            continue
        names = []
        for raw in parts[1:]:
            try:
                names.append(dns.name.from_text(raw).to_text().lower())
            except Exception as e:
                out.bad.append((number, f"'{raw}' is not a name: {e}"))
        if names:
            out.add(address, names, reverse)
    return out
