"""The order of the plugin chain: this project's ``plugin.cfg``.

Every plugin feels the effects of every plugin *below* it in this list: a
request enters at the top, and an answer made by a plugin travels back up
through the plugins above it. So ``cache`` above ``etcd`` caches etcd's
answers, and ``log`` above everything logs them all. The order in a Corefile
does not matter; this list does, exactly as in CoreDNS (same relative order).

Directives that only configure a server block (``bind``, ``reload``,
``timeouts``, ...) are listed too, where CoreDNS lists them: they add no link
to the chain, but the list is also the set of known built-in directives.
"""

ORDER: tuple[str, ...] = (
    "workers",
    "tls",
    "timeouts",
    "tcp",
    "cookie",
    "rrl",
    "reload",
    "bind",
    "ready",
    "health",
    "api",
    "prometheus",
    "errors",
    "log",
    "any",
    "chaos",
    "loadbalance",
    "locality",
    "acl",
    "tsig",
    "transfer",
    "update",
    "cache",
    "dnssec",
    "stub",
    "scanner",
    "kubewatch",
    "etcd",
    "forward",
    "whoami",
)

#: Built-in plugins: directive -> "module:attribute" of its IPluginSetup, imported only when used.
BUILTIN: dict[str, str] = {
    "workers": "skydns.plugin.workers:setup",
    "tls": "skydns.plugin.tls:setup",
    "timeouts": "skydns.plugin.timeouts:setup",
    "tcp": "skydns.plugin.tcp:setup",
    "cookie": "skydns.plugin.cookie:setup",
    "rrl": "skydns.plugin.rrl:setup",
    "reload": "skydns.plugin.reload:setup",
    "bind": "skydns.plugin.bind:setup",
    "errors": "skydns.plugin.errors:setup",
    "whoami": "skydns.plugin.whoami:setup",
    "etcd": "skydns.plugin.etcd:setup",
    "scanner": "skydns.plugin.scanner:setup",
    "kubewatch": "skydns.plugin.kubewatch:setup",
    "forward": "skydns.plugin.forward:setup",
    "stub": "skydns.plugin.stub:setup",
    "log": "skydns.plugin.log:setup",
    "prometheus": "skydns.plugin.prometheus:setup",
    "health": "skydns.plugin.health:setup",
    "ready": "skydns.plugin.ready:setup",
    "cache": "skydns.plugin.cache:setup",
    "loadbalance": "skydns.plugin.loadbalance:setup",
    "locality": "skydns.plugin.locality:setup",
    "api": "skydns.plugin.api:setup",
    "dnssec": "skydns.plugin.dnssec:setup",
    "any": "skydns.plugin.any:setup",
    "chaos": "skydns.plugin.chaos:setup",
    "acl": "skydns.plugin.acl:setup",
    "tsig": "skydns.plugin.tsig:setup",
    "transfer": "skydns.plugin.transfer:setup",
    "update": "skydns.plugin.update:setup",
}
