"""Corefile: CoreDNS's ``rewrite name`` rules, one per line or several in a block::

    rewrite [continue|stop] name [exact|prefix|suffix|substring|regex] FROM TO [answer auto | answer name FROM TO]
    rewrite [continue|stop] {
        name [exact|prefix|suffix|substring|regex] FROM TO
        answer name FROM TO
    }
"""
from __future__ import annotations

from zope.interface import implementer

from skydns.interfaces import IPluginSetup
from skydns_rewrite.handler import Rewrite
from skydns_rewrite.rules import MATCHES, Rule, RuleError

FIELDS = ("name",)


def _rule(d, args: list[str], stop: bool) -> Rule:
    """``name [TYPE] FROM TO [answer auto | answer name FROM TO]`` (``name`` already read)."""
    if args and args[0] in MATCHES:
        match, args = args[0], args[1:]
    else:
        match = "exact"
    if len(args) < 2:
        raise d.arg_error()
    source, target, options = args[0], args[1], args[2:]
    answer, answer_from, answer_to = "", "", ""
    if options[:2] == ["answer", "auto"] and len(options) == 2:
        answer = "auto"
    elif options[:2] == ["answer", "name"] and len(options) == 4:
        answer, answer_from, answer_to = "name", options[2], options[3]
    elif options:
        raise d.error(f"unknown options '{' '.join(options)}' (expected 'answer auto' or 'answer name FROM TO')")
    try:
        return Rule(match, source, target, stop, answer, answer_from, answer_to)
    except RuleError as e:
        raise d.error(str(e)) from e


@implementer(IPluginSetup)
class RewriteSetup:
    name = "rewrite"
    # In front of the cache: the cache keeps answers under the rewritten name, and its raw path stays.
    position = ("before", "cache")
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "rewrite name exact renamed.${zone} web.${zone}"

    def parse(self, d, block):
        rules: list[Rule] = []
        while d.next():
            args = d.remaining_args()
            stop = True
            if args and args[0] in ("stop", "continue"):
                stop, args = args[0] == "stop", args[1:]
            if args:
                if args[0] not in FIELDS:
                    raise d.error(f"unknown field '{args[0]}' (this rewrite rewrites {', '.join(FIELDS)})")
                rules.append(_rule(d, args[1:], stop))
            last = None
            for _ in d.block():
                prop, vals = d.val, d.remaining_args()
                if prop == "name":
                    last = _rule(d, vals, stop)
                    rules.append(last)
                elif prop == "answer" and vals[:1] == ["name"] and len(vals) == 3 and last is not None:
                    try:
                        rules[-1] = last = Rule(last.match, last.source, last.target, stop, "name", vals[1], vals[2])
                    except RuleError as e:
                        raise d.error(str(e)) from e
                elif prop == "answer":
                    raise d.error("answer name FROM TO follows a name rule in the block")
                else:
                    raise d.unknown_property(("name", "answer"))
            if not args and last is None:
                raise d.arg_error()
        return rules

    def build(self, rules, block, next):
        return Rewrite(rules, block.name, next)


setup = RewriteSetup()
