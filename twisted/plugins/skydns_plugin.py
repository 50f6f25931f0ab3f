"""twistd plugin: makes ``twistd skydns`` exist.

Kept tiny on purpose: twistd imports every module in ``twisted/plugins`` to
discover plugins; ``skydns.cli.tap`` loads the server only when ``skydns`` is used.
"""
from skydns.cli.tap import service_maker as skydns

__all__ = ["skydns"]
