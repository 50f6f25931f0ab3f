"""The contracts between the server, the Corefile and plugins.

A plugin is two objects: an :class:`IPluginSetup` (found by its directive
name in the registry) that parses the directive and builds the plugin for a
server block, and the :class:`IHandler` it builds, which serves requests.
"""
from __future__ import annotations

from zope.interface import Attribute, Interface


class IHandler(Interface):
    """One link of a server block's plugin chain.

    ``serve(request)`` returns one of:

    - a ``dns.message.Message``: the reply. The server renders it, truncating
      it (TC) to the client's UDP payload size. Build it with
      ``request.reply()`` so ID, question, flags and OPT are right.
    - ``bytes``: a reply already in wire format, ID included (fast paths such
      as whoami or a cache hit). The server truncates it the same way if it
      is too big for the client.
    - ``None``: send nothing (the query is dropped on purpose).
    - a ``Deferred`` that fires with one of the above. Only plugins that
      really wait (on the network, a thread) should return one: answering
      synchronously must not create Deferreds, it is the hot path.

    To pass a request on, a handler calls ``self.next.serve(request)`` through
    :func:`skydns.chain.next_or_failure` and returns (or post-processes, with
    :func:`skydns.chain.then`) what it gets. It must not modify a message it
    got from ``next`` that it did not make itself, unless it owns it (messages
    from ``next`` belong to whoever returns them: copy before changing
    anything a cache may also hold).

    An exception raised by ``serve``, or a failed Deferred, makes the server
    answer SERVFAIL and log the error with the query; the server goes on.
    """

    name = Attribute("The plugin's name, the same word as its directive.")
    next = Attribute("The next handler in the chain, or None for the last one.")
    # Optional: ``raw_transparent = True`` on a handler in front of ``cache`` says that
    # whether it passes a query on depends only on the query's bytes after the ID, and that
    # it never changes what the rest of the chain answers (errors, any, chaos). The cache
    # may then answer query bytes it has answered before without the handler being called
    # (the server's raw path). Not for handlers that look at the client (acl) or change
    # answers. A handler that changes answers on the wire alone, whoever asks, may offer
    # ``raw_reply(reply_bytes) -> bytes`` instead: raw hits go through it (loadbalance's
    # round_robin).

    def serve(request):
        """Answer ``request`` (a :class:`skydns.request.Request`) or pass it on; see the class docstring."""


class IPluginSetup(Interface):
    """Turns a Corefile directive into a plugin; what the registry holds per directive name.

    Both methods run at start-up and on reload, before anything is served. A
    third-party setup also declares ``position``, its place in the chain
    relative to a built-in plugin: ``("after", "cache")`` or ``("before", "etcd")``.
    """

    name = Attribute("The directive name.")
    position = Attribute(
        'For third-party plugins: ("before" | "after", BUILTIN_NAME). None for built-ins.'
    )

    def parse(dispenser, block):
        """Parse and validate every occurrence of the directive in one server block.

        ``dispenser`` (a :class:`skydns.corefile.dispenser.Dispenser`) walks the
        directive's tokens; raise its ``error()``/``arg_error()`` so the error names
        file and line. Must not open sockets, files that are written, or clients:
        it also runs for ``--validate`` and for reloads that may be rejected.
        Returns a configuration object, passed to ``build``.
        """

    def build(config, block, next):
        """Make the handler for ``block`` in front of ``next``, or return None for a
        directive that only configures the server block (``bind``, ``reload``).

        Work that needs the reactor or the network (connecting to etcd, opening
        a listener) is registered with ``block.on_startup(fn)`` and undone with
        ``block.on_shutdown(fn)``; both may return Deferreds.
        """
