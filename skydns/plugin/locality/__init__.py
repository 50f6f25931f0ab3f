"""locality: answers with the healthy instances nearest the client."""
from skydns.plugin.locality.setup import setup

__all__ = ["setup"]
