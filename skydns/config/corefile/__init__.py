"""The Corefile: CoreDNS's configuration language (Caddy v1's Caddyfile syntax)."""

from skydns.config.corefile.parser import Key, ServerBlock, parse_file, parse_text

__all__ = ["Key", "ServerBlock", "parse_file", "parse_text"]
