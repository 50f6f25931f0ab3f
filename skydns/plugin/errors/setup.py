"""Corefile: ``errors { consolidate DURATION REGEXP [LEVEL] [show_first]; stacktrace }`` (CoreDNS's syntax).

``show_first`` logs the first matching error at once (at LEVEL), then counts the rest; the
summary line comes only when more than one matched in the period.
"""
from __future__ import annotations

import re

from zope.interface import implementer

from skydns.interfaces import IPluginSetup
from skydns.plugin.errors.errors import Errors, Pattern

LEVELS = ("warning", "error", "info", "debug")


@implementer(IPluginSetup)
class ErrorsSetup:
    name = "errors"
    position = None
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "errors"

    def parse(self, d, block):
        patterns: list[Pattern] = []
        stacktrace = False
        d.next()
        d.args(0)
        for _ in d.block():
            if d.val == "consolidate":
                args = d.remaining_args()
                show_first = bool(args) and args[-1] == "show_first"
                if show_first:
                    args = args[:-1]
                d.expect_args(args, 2, 3)
                period = d.duration_value(args[0])
                if len(args[1]) > 10000:
                    raise d.error("REGEXP must not exceed 10000 characters")
                try:
                    regexp = re.compile(args[1])
                except re.error as e:
                    raise d.error(f"bad regexp '{args[1]}': {e}") from e
                level = args[2] if len(args) == 3 else "error"
                if level not in LEVELS:
                    raise d.error(f"unknown log level '{level}' (expected {', '.join(LEVELS)})")
                patterns.append(Pattern(period, regexp, level, show_first=show_first))
            elif d.val == "stacktrace":
                d.args(0)
                stacktrace = True
            else:
                raise d.unknown_property(("consolidate", "stacktrace"))
        if d.next():
            raise d.once_error()
        return patterns, stacktrace

    def build(self, config, block, next):
        patterns, stacktrace = config
        handler = Errors(next, patterns, stacktrace, block.clock)
        block.on_shutdown(handler.flush)
        return handler


setup = ErrorsSetup()
