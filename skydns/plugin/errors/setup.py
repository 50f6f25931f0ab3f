"""Corefile: ``errors { consolidate DURATION REGEXP [LEVEL]; stacktrace }`` (CoreDNS's syntax)."""
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

    def parse(self, d, block):
        patterns: list[Pattern] = []
        stacktrace = False
        d.next()
        if d.next_arg():
            raise d.arg_error()
        for _ in d.block():
            if d.val == "consolidate":
                args = d.remaining_args()
                if len(args) not in (2, 3):
                    raise d.arg_error()
                period = d.duration_value(args[0])
                try:
                    regexp = re.compile(args[1])
                except re.error as e:
                    raise d.error(f"bad regexp '{args[1]}': {e}") from e
                level = args[2] if len(args) == 3 else "error"
                if level not in LEVELS:
                    raise d.error(f"unknown log level '{level}' (expected {', '.join(LEVELS)})")
                patterns.append(Pattern(period, regexp, level))
            elif d.val == "stacktrace":
                if d.next_arg():
                    raise d.arg_error()
                stacktrace = True
            else:
                raise d.unknown_property(("consolidate", "stacktrace"))
        if d.next():
            raise d.once_error()
        return patterns, stacktrace

    def build(self, config, block, next):
        patterns, stacktrace = config
        handler = Errors(next, patterns, stacktrace, block.reactor)
        block.on_shutdown(handler.flush)
        return handler


setup = ErrorsSetup()
