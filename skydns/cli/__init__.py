"""The command line: the skydns and skydnsctl programs, twistd's plugin, SkyDNS's flags."""
