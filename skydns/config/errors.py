"""Errors that carry where in the configuration they come from."""
from __future__ import annotations


class CorefileError(Exception):
    """A Corefile (or plugin configuration) problem, found before anything is served.

    Always names the file and line, and the plugin when a plugin's own
    parsing raised it, so that ``str(err)`` is the whole message a user needs:
    ``Corefile:7 - plugin/cache: unknown property 'sucess'``.
    """

    def __init__(self, message: str, file: str | None = None, line: int | None = None,
                 plugin: str | None = None):
        self.message = message
        self.file = file
        self.line = line
        self.plugin = plugin
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = f"{self.file}:{self.line} - " if self.line is not None else f"{self.file} - "
        prefix = f"plugin/{self.plugin}: " if self.plugin else ""
        return f"{where}{prefix}{self.message}"


class NoNextPlugin(Exception):
    """A plugin wanted to pass a request on, but it is the last in the chain."""

    def __init__(self, plugin: str):
        super().__init__(f"plugin/{plugin}: no next plugin found")
