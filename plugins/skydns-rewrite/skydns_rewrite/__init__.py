"""rewrite: the query name rewritten before the rest of the chain answers (CoreDNS's ``rewrite name``)."""
from skydns_rewrite.setup import setup

__all__ = ["setup"]
