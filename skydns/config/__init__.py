"""Configuration: the Corefile read, every directive parsed, the chains built (:mod:`.loader`).

``load(path)`` parses (no side effects: ``skydns validate`` and every reload start
with it), ``Config.build()`` makes the handlers, a ``Generation`` is one built
configuration started, swapped in and retired as a whole.
"""
from skydns.config.loader import Config, Generation, ListenerSpec, default_host, load, plan_listeners

__all__ = ["Config", "Generation", "ListenerSpec", "default_host", "load", "plan_listeners"]
