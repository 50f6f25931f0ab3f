"""txt: a complete out-of-tree skydns plugin, as an example to copy.

``txt NAME TEXT...`` answers TXT queries for exactly NAME (relative names are
taken inside the block's first zone) with one TXT record holding the texts.
Every other query goes on to the next plugin. It sits right after ``cache``
in the chain (``position``), so cached and logged like a built-in would be.
"""
from skydns_txt.setup import setup

__all__ = ["setup"]
