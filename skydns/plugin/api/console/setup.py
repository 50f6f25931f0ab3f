"""Putting the console together for one configuration: what it shares across reloads, what it follows."""
from __future__ import annotations

from skydns.plugin.api.console.events import Events
from skydns.plugin.api.console.resource import Console
from skydns.plugin.api.console.sessions import Sessions
from skydns.plugin.api.console.traffic import Traffic


def build_console(block, api, source, address) -> Console:
    """The console resource of ``block``'s api on ``address``: sessions and the hour of traffic outlive a
    reload (taken with ``block.acquire``); its events stream and its view of the source are this
    configuration's, started when it serves and ended when it is retired."""
    sessions = block.acquire(("console-sessions",) + tuple(address), lambda: Sessions(block.clock.seconds),
                             lambda s: None)
    traffic = block.acquire(("console-traffic",) + tuple(address), Traffic, lambda t: t.stop())
    api.sessions = sessions
    events = Events(block.clock)
    console = Console(api, sessions, events, traffic, block, source)
    # the replies of every block of the configuration (every zone the server serves); one call per reply
    block.observe_all("console", traffic.observer())

    def start():
        traffic.start(block.clock)
        source.subscribe(console.changed)

    def stop():
        source.unsubscribe(console.changed)
        events.close()
    block.on_startup(start)
    block.on_shutdown(stop)
    return console
