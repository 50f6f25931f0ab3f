"""SkyDNS's answers from service records, shared by every record source (CoreDNS's backend_lookup).

A plugin that only knows services (:class:`skydns.msg.service.Service`, from
etcd, a file, an API) gets SkyDNS's A/AAAA/SRV/MX/TXT/CNAME/NS/SOA/PTR answers
from :class:`Answers`; :mod:`.rules` holds the rules themselves.
"""
from skydns.query.answers.answers import Answers
from skydns.query.answers.rules import Rec, Result, Rules, Settings

__all__ = ["Answers", "Rec", "Result", "Rules", "Settings"]
