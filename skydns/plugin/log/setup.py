"""Corefile: ``log [NAMES...] [FORMAT] { class success|denial|error|all ...; json }`` (CoreDNS's, plus json)."""
from __future__ import annotations

from zope.interface import implementer

from skydns.interfaces import IPluginSetup
from skydns.plugin.log.format import COMMON, UnknownPlaceholder, compile_format, json_line
from skydns.plugin.log.log import ALL_CLASSES, QueryLog, Rule

CLASSES = ("success", "denial", "error", "all")


@implementer(IPluginSetup)
class LogSetup:
    name = "log"
    position = None
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "log"

    def parse(self, d, block):
        rules = []
        while d.next():
            args = d.remaining_args()
            fmt = COMMON
            if args and ("{" in args[-1]):
                fmt = args.pop()
            names = d.zones(args or ["."])
            try:
                render = compile_format(fmt)
            except UnknownPlaceholder as e:
                raise d.error(str(e)) from e
            classes = set()
            for _ in d.block():
                prop = d.val
                vals = d.remaining_args()
                if prop == "class":
                    d.expect_args(vals, 1, None)
                    for v in vals:
                        if v not in CLASSES:
                            raise d.error(f"unknown class '{v}' (expected {', '.join(CLASSES)})")
                    classes.update(vals)
                elif prop == "json":
                    d.expect_args(vals, 0)
                    render = json_line
                else:
                    raise d.unknown_property(("class", "json"))
            chosen = ALL_CLASSES if not classes or "all" in classes else frozenset(classes)
            rules.append(Rule(names, chosen, render))
        return rules

    def build(self, rules, block, next):
        querylog = QueryLog(rules, block.clock)
        block.observe(self.name, querylog.observer())
        block.on_shutdown(querylog.flush)
        return None  # not a link of the chain: it observes the block's replies


setup = LogSetup()
