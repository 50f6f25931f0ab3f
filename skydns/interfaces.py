"""The contracts between the server, the Corefile and plugins: everything a plugin may rely on.

A plugin is an :class:`IPluginSetup` (found by its directive name in the
registry) that parses the directive and builds, for each server block, an
:class:`IHandler` (a link of the block's chain), or nothing. Plugins never
reach into one another: what one offers the others is an interface declared
here, and they find each other's objects through it (:meth:`IServerBlock.find`),
never by name. The built-in plugins use nothing that is not in this file,
:mod:`skydns.query.chain`, :mod:`skydns.query.reply`, :mod:`skydns.query.request`, and the
helper modules (:mod:`skydns.query.zones`, :mod:`skydns.query.rcode`, :mod:`skydns.query.dnsutil`,
:mod:`skydns.query.wire`, :mod:`skydns.query.upstream`, :mod:`skydns.msg`).

=================  ======================================================
capability         interface (provided by, among the built-ins)
=================  ======================================================
answer queries     :class:`IHandler` (every chain plugin)
fast path          :class:`IRawAnswerer` (cache), :class:`IRawTransparent`
                   (errors, any, chaos), :class:`IRawReplyFilter`
                   (loadbalance round_robin)
service records    :class:`IRecordSource` (etcd)
readiness          :class:`IReadiness` (etcd)
metrics            :class:`IMetrics` (cache, etcd, forward, acl, dnssec)
commands           :class:`ICommand` (dnssec's ``skydns ds``)
the server         :class:`IServer` (``block.service``: reload, routing)
=================  ======================================================
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
    :func:`skydns.query.chain.next_or_failure` and returns (or post-processes, with
    :func:`skydns.query.chain.post_process` or :func:`skydns.query.chain.then`) what it
    gets. It must not modify a message it got from ``next`` unless it owns it
    (messages from ``next`` belong to whoever returns them: copy before
    changing anything a cache may also hold).

    An exception raised by ``serve``, or a failed Deferred, makes the server
    answer SERVFAIL and log the error with the query; the server goes on.

    Most requests are queries (opcode QUERY). An UPDATE passes down the chain of
    a block that takes updates (:class:`IUpdater`), so the plugins in front of the
    update plugin see it: one that answers queries passes a request on whose opcode
    (``request.flags & skydns.query.wire.OPCODE_MASK``) is not QUERY.
    """

    name = Attribute("The plugin's name, the same word as its directive.")
    next = Attribute("The next handler in the chain, or None for the last one.")

    def serve(request):
        """Answer ``request`` (a :class:`skydns.query.request.Request`) or pass it on; see the class docstring."""


class IRawAnswerer(IHandler):
    """A handler that can answer a query from its bytes alone, before anything is parsed (the raw path).

    When such a handler is the first of its chain (or stands behind only
    :class:`IRawTransparent` handlers and :class:`IRawReplyFilter` handlers),
    the server offers it every packet before reading it: a reply returned
    here is sent as it is (after the filters), and the chain is not called.
    Anything else (None) goes the normal way. The cache is the built-in one:
    it answers query bytes it has answered before.
    """

    def raw_answer(query):
        """The reply (bytes, the query's ID in it) to the packet ``query``, or None to take the normal path.

        Called for every packet of the block's listeners, so it must be a
        dict lookup or two: no parsing, no Deferred.
        """

    def raw_request(query):
        """The :class:`skydns.query.request.Request` first answered with the bytes of ``query`` (ID aside), or None.

        Asked only when the block has reply observers (log, prometheus),
        before :meth:`raw_answer`: they get ``request.repeat(query, ...)``, a
        copy with the new ID, client and start time. None sends the packet
        the normal way.
        """


class IRawKeeper(IRawAnswerer):
    """An :class:`IRawAnswerer` that also keeps answers it is handed on the raw path (the cache).

    With an :class:`IRawForwarder` right behind it (past :class:`IRawTransparent` handlers),
    the only block of a listener relays what the answerer has no answer for (:meth:`raw_missing`)
    without passing it down the chain, and the forwarder offers each answer to :meth:`raw_keep`
    on its way out.
    """

    def raw_keep_ready():  # type: ignore[misc]
        """True when answers may be kept this way (every query of the block is the keeper's to keep)."""

    def raw_missing(query, request=None):
        """True when nothing is kept for the packet ``query`` under any spelling (another letter case, other
        options): it may go to the forwarder unread. False sends it the normal way. ``request``: the
        :class:`skydns.query.request.Request` of the packet when the server read it already."""

    def raw_keep(query, answer):
        """Keep ``answer`` (bytes) to the packet ``query``, as if the chain behind had answered it; the bytes
        to send in its place (a cache caps TTLs), or None to send ``answer`` as it is."""


class IRawForwarder(IHandler):
    """A handler that relays a UDP query's bytes to another server and sends the answer itself (forward).

    When such a handler is the first of the only block of a listener (or stands behind
    only :class:`IRawTransparent` handlers) and says it can (:meth:`raw_forward_ready`),
    the server offers it every UDP packet of that listener before reading it, with the
    listener's :class:`skydns.query.delivery.Delivery`. Taking one, it counts the query
    in flight (``delivery.hold()``, ``delivery.release()``) and ends it through the
    delivery: ``delivery.send_raw(reply, client, sender, request)`` with the answer's
    bytes (``request`` only when ``block.observed``: ``delivery.request(...)`` builds it),
    or ``delivery.deliver(request, result)`` for what its normal path answers (a
    truncated or failed exchange).

    Behind an :class:`IRawAnswerer` that keeps answers (the cache, with ``raw_keep``), the
    server offers it the packets the answerer has no answer for, with ``keep``: the
    forwarder hands ``keep(query, answer)`` every answer it relays, before sending it, and
    sends what that returns instead when it is not None.

    A forwarder with a true ``raw_streams`` attribute (optional) is also offered the queries
    of stream listeners (TCP, TLS, HTTPS: one message each, framing removed), called with
    ``proto="tcp"``; the request it builds and its normal path then use that ``proto``.

    A forwarder with a ``raw_lane(handle, delivery)`` method (optional) may take a listener's UDP
    packets before the server sees them, when it alone makes the listener's only block (behind
    handlers that pass everything on) and nothing stands at the door (no cache, cookie or rate
    limit): it returns what the listener calls for each packet instead of
    ``server.handle`` (same arguments), or None. What that callable does not take it hands to
    ``handle``; what it takes it counts and ends through ``delivery`` as above.
    """

    def raw_forward_ready():  # type: ignore[misc]
        """True when every query of the block may be relayed without being read (no zone or name rules)."""

    def raw_forward(query, client, sender, delivery, keep=None, proto="udp"):
        """Take ``query`` (True) or leave it to the normal path (False); ``delivery`` ends it; ``keep``: None,
        or ``fn(query, answer)`` to offer each answer to (a cache in front); ``proto``: given only for a
        stream query (``raw_streams``)."""


class IRawTransparent(IHandler):
    """The raw path may skip this handler.

    Declare it when whether the handler passes a query on depends only on
    the query's bytes after the ID, and the handler never changes what the
    rest of the chain answers (errors, any, chaos). Not for handlers that look
    at the client (acl) or change answers: those keep every query on the chain.

    A cache hit skips it (the chain passed those bytes on before). The raw relay,
    which sends queries never seen before, asks :meth:`raw_passes` first; a handler
    without it keeps the relay off behind it.
    """

    def raw_passes(query):
        """True when this handler would pass the packet ``query`` on unanswered (a few byte
        comparisons: no parsing). A handler that passes everything on sets ``raw_passes_all = True``."""


class IRawReplyFilter(IHandler):
    """A handler in front of an :class:`IRawAnswerer` that changes replies on the wire, whoever asks.

    Raw answers go through :meth:`raw_reply` of every such handler in front of
    the answerer, innermost first, as replies travel up the chain
    (loadbalance's round_robin rotates them). Provide it on the instance
    (``zope.interface.alsoProvides``) when only some configurations can.
    """

    def raw_reply(reply):
        """The reply bytes as this handler would hand them on; must not parse them with dnspython."""


class IRawRewriter(IHandler):
    """A handler in front of an :class:`IRawAnswerer` that passes other query bytes on (a rewrite of the
    name or type) and gives the client a reply to its own question: it keeps the raw path.

    The raw path hands :meth:`raw_query` every packet before the answerer sees it, and
    :meth:`raw_restore` the answerer's reply on its way back (rewriters and reply filters
    are applied in chain order on the way in, the reverse on the way out). Its ``serve``
    does the same on the normal path, with ``request.derive(...)``; the cache behind it keeps
    replies under the rewritten name, never under the client's.
    """

    def raw_query(query):
        """The query bytes this handler passes on for ``query`` (``query`` itself when it rewrites
        nothing), or None to send the packet the normal way. A dict lookup or two: no dnspython."""

    def raw_restore(query, reply):
        """The reply to the client's ``query`` (the bytes :meth:`raw_query` was given), made from
        ``reply``, the answer to the bytes it returned (:func:`skydns.query.rename.rename` does the
        usual part: the client's question back, and the records of the rewritten name)."""


class IPluginSetup(Interface):
    """Turns a Corefile directive into a plugin; what the registry holds per directive name.

    Both methods run at start-up and on reload, before anything is served. A
    third-party setup also declares ``position``, its place in the chain
    relative to a built-in plugin: ``("after", "cache")`` or ``("before", "etcd")``.

    Optionally, ``example``: the directive in a minimal working configuration (Corefile
    lines; ``${zone}``, ``${upstream}``, ``${http_port}``... are filled by
    :mod:`skydns.testing.combinations`). With it a plugin joins the combination test,
    which serves it beside every other registered plugin in one block with etcd;
    without it the bare directive is used.
    """

    name = Attribute("The directive name.")
    position = Attribute(
        'For third-party plugins: ("before" | "after", BUILTIN_NAME). None for built-ins.'
    )

    def parse(dispenser, block):
        """Parse and validate every occurrence of the directive in one server block.

        ``dispenser`` (a :class:`skydns.config.corefile.dispenser.Dispenser`) walks the
        directive's tokens; raise its ``error()``/``arg_error()`` so the error names
        file and line. Must not open sockets, files that are written, or clients:
        it also runs for ``skydns validate`` and for reloads that may be rejected.
        Returns a configuration object, passed to ``build``.
        """

    def build(config, block, next):
        """Make the handler for ``block`` (an :class:`IServerBlock`) in front of ``next``, or return
        None for a directive that only configures the server block (``bind``, ``reload``).

        Plugins are built innermost first, so what the plugins *after* this one
        in the chain offer is already in ``block.find(...)``; ``block.require``
        refuses the configuration at the directive's line when something it
        needs is missing. Objects that are not the handler but offer an
        interface (readiness, metrics) are announced with ``block.provide(obj)``.
        Work that needs the reactor or the network (connecting to etcd, opening
        a listener) is registered with ``block.on_startup(fn)`` and undone with
        ``block.on_shutdown(fn)``; both may return Deferreds.
        """


class IListenerSetup(IPluginSetup):
    """A directive that configures how its block listens instead of adding a link to the chain
    (``bind``, ``timeouts``, ``tcp``, ``tls``, ``workers``): its ``build`` returns None."""

    def configure(config, settings):
        """Hand what ``parse`` returned to the core: set fields of ``settings`` (the block's
        :class:`IListenerSettings`). Called right after ``parse``, with no other side effect."""


class IListenerSettings(Interface):
    """How one server block's listeners listen (``block.settings``); blocks sharing an address and
    port share a listener, which takes the longest times and the largest cap among them."""

    bind = Attribute("Addresses to listen on; empty means every address.")
    idle = Attribute("Seconds a TCP/TLS/HTTPS connection may go without a whole query or a reply.")
    read = Attribute("Seconds a query over TCP may take to arrive whole, from its first byte.")
    write = Attribute("Seconds a client may leave its replies unread.")
    max_connections = Attribute("Concurrent stream connections per listener (0: no cap).")
    tls = Attribute("The certificate of the block's tls:// and https:// listeners, or None.")
    workers = Attribute("Processes the ``skydns`` command runs, sharing every port.")
    cookies = Attribute("The :class:`skydns.query.cookies.Jar` of DNS cookies on the block's listeners, or None.")
    rrl = Attribute("The :class:`skydns.query.ratelimit.Limiter` of the block's UDP replies, or None.")


class IServerBlock(Interface):
    """One server block of a configuration, as every setup of the block sees it (``block`` above).

    A reload makes new blocks: what a plugin keeps on one lives as long as
    its configuration, unless it was taken with :meth:`acquire`. These
    attributes and methods are all a plugin reads of its block.
    """

    name = Attribute("How logs and metrics name the block: its keys as written (``example.org:1053``).")
    zones = Attribute("The block's zones (lower case, trailing dot), the default zones of its plugins.")
    keys = Attribute("The block's ZONE:PORT keys (``zone``, ``port``, ``transport``, ``text``, ``file``, ``line``).")
    ports = Attribute("The ports the block listens on.")
    files = Attribute("The Corefile and every file it imported (what a reload watches).")
    reactor = Attribute("The reactor, set before ``build`` (for I/O: threads, sockets, listeners).")
    clock = Attribute("Where plugins take time and timers from (IReactorTime): the reactor, or the "
                      "``task.Clock`` a test gives ``build``.")
    service = Attribute("The running :class:`IServer`, or None (plain builds, validation).")
    plugins = Attribute("Every directive the block uses, in chain order.")
    settings = Attribute("How the block listens: its :class:`IListenerSettings`.")
    observed = Attribute("True when something watches the block's replies (:meth:`observe`): fast paths "
                         "build a request for the observers only then.")

    def error(plugin, message):
        """A Corefile error at the line of ``plugin``'s directive in this block (for ``build`` to raise)."""

    def provide(obj):
        """Announce ``obj`` (anything providing interfaces of this module) to the plugins of the configuration.

        Handlers are announced by the server when they are built; call this
        for other objects: an etcd copy's metrics, a checker's readiness.
        """

    def find(interface):
        """Everything announced in this block that provides ``interface``: handlers, then other
        objects, both in chain order (what a plugin nearer the front provided comes first:
        dnssec's signed zone before the etcd zone it wraps). Handlers built before the caller
        (those after it in the chain) are already there; look again in a startup hook to see
        all of them."""

    def require(interface, plugin, what):
        """The first provider of ``interface`` in the block, or a Corefile error at the line of
        ``plugin``'s directive saying it needs ``what`` (for example "a record source, such as etcd")."""

    def observe(name, fn):
        """Call ``fn(request, reply_bytes)`` after every reply the block sends (log, prometheus).

        Observers are no link of the chain: a query pays one call for each.
        Keep ``fn`` short and never let it block.
        """

    def observe_all(name, fn):
        """:meth:`observe` every block of this configuration, this one included (the console counts the
        replies of the whole server). Every block then pays the observers' call on its fast paths."""

    def on_startup(fn):
        """Run ``fn()`` (which may return a Deferred) when the configuration starts serving."""

    def on_shutdown(fn):
        """Run ``fn()`` (which may return a Deferred) when the configuration is retired."""

    def shared(key, factory):
        """The object of ``key`` shared by every block of this configuration, made by ``factory()``
        for the first one that asks (one poller per configuration, say)."""

    def acquire(key, factory, release):
        """The object of ``key`` shared by every configuration that asks for it, kept across reloads
        (an etcd connection, an HTTP listener); ``release(obj)`` runs when the last
        configuration using it is retired."""


class IServer(Interface):
    """The running server as plugins see it (``block.service``)."""

    reloads = Attribute("Reloads that took effect since the start.")
    reload_failures = Attribute("Reloads that were refused (the old configuration kept serving).")
    before_stop = Attribute(
        "A list of callables run first when the server stops, each waited for if it returns a Deferred, "
        "while queries are still answered (health's lame duck). Remove yours when your plugin is released.")

    def reload():  # type: ignore[misc]  # zope interface methods take no self
        """Read the Corefile again and swap it in; a Deferred firing True, or False when it was refused."""

    def find(interface):
        """``(block, provider)`` for every provider of ``interface`` in the running configuration,
        each provider once (the first block that announced it)."""

    def route(qname, qtype, port):
        """``(zone, block)`` that serves ``qname`` on ``port`` now, as a client's query would be routed."""

    def blocks():  # type: ignore[misc]
        """The :class:`IServerBlock` of every server block of the running configuration."""


class IChangeFeed(Interface):
    """Data that changes while it is served, which others follow: a plugin that keeps answers built
    from it (the cache) drops them when it changes. Every record source is one; a plugin whose
    answers change for another reason (a file reloaded) can offer only this."""

    synced = Attribute("True once the data has been read; False means 'not known yet', not 'empty'.")

    def subscribe(fn):
        """Call ``fn(name)`` after each change of the data at ``name`` (lower case, trailing dot), and
        ``fn(None)`` when anything may have changed (a full read after an outage, a file reloaded)."""

    def unsubscribe(fn):
        """Stop calling ``fn``."""


class IRecordSource(IChangeFeed):
    """Service records that one plugin serves and others read: the etcd plugin's watched copy.

    Names are lower case with the trailing dot. A source that answers a request
    appends every name it read to ``request.dependencies`` when that is a list
    (a cache sets it to learn which changes must drop the reply). What a source
    yields is the services as answers use them: SkyDNS's groups applied,
    duplicates counted once, and addresses a health monitor says are DOWN left
    out (unless every address of the name is); :class:`skydns.query.answers.Answers`
    turns them into DNS answers.
    """

    zones = Attribute("The zones the source serves.")

    def services(name, exact=False):
        """The :class:`skydns.msg.service.Service` records of ``name`` and of every name below it
        (SkyDNS's aggregation; wildcard labels match any label), or only its own with
        ``exact``; None when no such name exists."""

    def exists(name):
        """Is there a record at ``name`` or below it?"""


class IWritableSource(Interface):
    """A record source whose records can be written (the records API writes through it; kubewatch keeps its
    own keys there under a lease)."""

    zones = Attribute("The zones the source serves: relative names are taken in the first.")
    prefix = Attribute("The etcd key prefix the records live under (``skydns.msg.path`` maps names to keys).")
    connection = Attribute("The :class:`skydns.clients.etcd.connection.Connection` of that etcd.")

    def store():  # type: ignore[misc]
        """A blocking :class:`IRecordStore` writing to where the records live; call it, and use what it
        returns, in a thread. Raises an exception that says why when the store is unreachable."""


class IRecordStore(Interface):
    """Reading and writing the records of a source (blocking: run in a thread)."""

    prefix = Attribute("Where the records live (the etcd key prefix).")

    def list(under=None, limit=100, after=None):
        """``([(name, [service dict])], cursor)``: records at or below the name ``under`` (None: all),
        in key order, at most ``limit``; ``cursor`` (None at the end) is ``after`` for the next page."""

    def show(name):
        """The service dicts stored at exactly ``name`` (its key and its ``x<n>`` leaves), or None."""

    def replace(writes, ttl=None, author=None):
        """Replace the records named in ``writes`` (``(name, leaf or None, service dict)``) in one
        transaction, under a lease of ``ttl`` seconds when given; ``author`` (an API token's name, a
        user) is noted in the same transaction (:mod:`skydns.clients.etcd.history`)."""

    def delete(name, author=None):
        """Delete the record ``name`` (names below it are other records); False when there was none."""


class IRecordHistory(Interface):
    """A record store that keeps who changed each name (the etcd store: :mod:`skydns.clients.etcd.history`).
    Blocking, as the store: call it in a thread."""

    def entries(name):
        """``([{"revision", "author", "op", "at", "services"}], compacted)``: the changes of ``name`` oldest first,
        and the revision before which the store has forgotten them (None: nothing forgotten)."""


class IMonitoredSource(IChangeFeed):
    """A record source whose answers follow health status keys (the etcd plugin with ``monitor``).

    What a prober (the ``scanner``) needs: the addresses to probe, kept current, the
    status each has now, the probers registered beside it, and the etcd to write to.
    Every method is called in the reactor thread and reads the source's watched copy.
    """

    status_prefix = Attribute("The etcd key prefix of the status keys (``PREFIX/<ip>``).")
    connection = Attribute("The :class:`skydns.clients.etcd.connection.Connection` of the etcd holding them.")
    synced = Attribute("True once the records and the statuses have been read.")

    def hosts():  # type: ignore[misc]
        """``[(key, service)]``: every service of the source's zones whose host is an IPv4 or IPv6 address."""

    def down():  # type: ignore[misc]
        """The addresses whose status key says DOWN now."""

    def statuses():  # type: ignore[misc]
        """``{address: {"status": "UP"|"DOWN", "since": UNIX time or None, "by": prober id or None}}``
        of every status key now (what a console shows beside each address)."""

    def members():  # type: ignore[misc]
        """``{id: value}`` of the probers registered under ``PREFIX/scanners/``."""

    def subscribe(fn):
        """Call ``fn(name or None)`` when records change (as IRecordSource's)."""

    def unsubscribe(fn):
        """Stop calling ``fn``."""

    def watch_members(fn):
        """Call ``fn()`` when a prober registers or goes."""

    def unwatch_members(fn):
        """Stop calling ``fn``."""


class IRecordTree(Interface):
    """A record source that can be browsed label by label (the console's tree of names)."""

    def children(name):
        """``[(label, has_record, has_children)]`` of the names one label below ``name``, sorted by label
        (an empty list when there are none); ``has_record``: a record is stored at that name itself."""


class IStatus(Interface):
    """Something whose state an operator wants to see (the console's instance page): an etcd copy's
    endpoint, revision and age; a third-party plugin's own. Read in the reactor thread, so keep it cheap."""

    name = Attribute("The plugin's name, the heading of its state.")

    def status():  # type: ignore[misc]
        """``[(label, value)]``: short strings or numbers, nothing secret (no password, no token)."""


class ISerialEdit(Interface):
    """Plugins that change the SOA serial a zone is served with (PowerDNS's SOA-EDIT): ``dnssec`` adds
    its signatures' generation, so that secondaries fetch the zone again when its signatures are
    renewed though no record changed. The record source applies it to every SOA it makes, in
    answers and in transfers alike."""

    zones = Attribute("The zones whose serial it edits.")

    def edit(zone, serial):
        """The serial to serve for ``zone`` whose records are at ``serial`` (32-bit, growing with it)."""


class IZoneSource(IChangeFeed):
    """Record sources whose zones can be read as zone data: transfers (AXFR/IXFR) and dynamic updates.

    Names and records are what the source answers for each name's own data; records
    are uncompressed wire RRs (owner in lower case), so sets of them compare and
    diff as bytes. Called in the reactor thread.
    """

    zones = Attribute("The zones the source serves.")
    synced = Attribute("True once the records have been read.")

    def serial(zone):
        """The zone's SOA serial now: it grows with every change."""

    def soa(zone, serial=None):
        """The zone's SOA as a wire RR (``serial`` instead of the current one when given)."""

    def names(zone):
        """Every owner name of the zone's data, the apex first."""

    def rrs(zone, name):
        """The zone data at ``name``: a sorted tuple of wire RRs (the SOA aside)."""

    def owners(zone, name):
        """The owner names of ``zone`` whose data a change reported at ``name`` (by ``subscribe``) may
        have altered: ``name`` itself, and whatever else the source builds from it (the apex's NS and
        addresses, a parent's records)."""

    def subscribe(fn):
        """Call ``fn(name or None)`` after a change (None: anything may have changed)."""

    def unsubscribe(fn):
        """Stop calling ``fn``."""


class IUpdater(IHandler):
    """A link of the chain that takes dynamic updates (opcode UPDATE, RFC 2136): the ``update`` plugin.

    The server sends an UPDATE message (routed by its zone section) down the chain of a
    block that has one, so every plugin in front of it applies to updates as to queries
    (``acl`` refuses a blocked client's update as its queries); its ``serve`` answers
    UPDATE messages and passes anything else on. A block without one answers NOTIMP.
    """

    def update(request):
        """The reply (bytes, a dnspython message, or a Deferred firing with one) to the UPDATE ``request``."""


class IZoneEditor(Interface):
    """Record sources whose zones dynamic updates (RFC 2136) can change (the etcd plugin)."""

    zones = Attribute("The zones the source serves.")

    def edit(zone, names):
        """A Deferred firing with an :class:`IZoneEdit` of ``names`` as the store has them now."""


class IZoneEdit(Interface):
    """Some names of a zone as read for one update: their records, changed in place, then committed at once."""

    def rrs(name):
        """The records at ``name`` now, with the changes made so far: a sorted tuple of wire RRs (as IZoneSource)."""

    def add(name, rdata, ttl=None):
        """Add a record (a dnspython rdata) at ``name``, with its TTL (None: the source's default); a record
        already there takes the new TTL (RFC 2136 3.4.2.2: the update's record replaces it)."""

    def delete_rrset(name, rdtype):
        """Delete the records of type ``rdtype`` at ``name``."""

    def delete_rr(name, rdata):
        """Delete one record at ``name``."""

    def delete_name(name):
        """Delete every record at ``name``."""

    def commit(author=None):
        """A Deferred firing True once the changes are written in one transaction (with a note of ``author``
        for each name, :mod:`skydns.clients.etcd.history`), False when a name
        changed in the store since it was read (nothing written: read and try again); it fails with
        :class:`skydns.msg.records.TooLarge` for more changes than the store takes at once."""


class ITSIGKeys(Interface):
    """TSIG keys of a server block (the ``tsig`` directive), for plugins that authenticate requests."""

    keyring = Attribute("A :class:`skydns.query.tsig.Keyring`.")
    zones = Attribute("The zones the keys are for.")

    def required(qtype):
        """Must a request of ``qtype`` (an int; 252 AXFR, 251 IXFR, UPDATE as 'update') be signed?"""


class ICoreDNSMetrics(Interface):
    """A plugin's metrics under CoreDNS's names and labels too (``coredns_cache_hits_total``...), so that
    dashboards made for CoreDNS work; the *prometheus* plugin serves them next to the skydns names."""

    def collect_coredns():  # type: ignore[misc]
        """Metric families named and labelled as CoreDNS's plugin names them (``coredns_`` included)."""


class IReadiness(Interface):
    """Something that is not ready to serve at first (an etcd copy before its first read).

    The ``ready`` plugin answers 200 on ``/ready`` when every provider in the
    running configuration is ready, 503 with their reasons otherwise.
    """

    name = Attribute("The plugin's name, for the reason lines (``plugin/NAME: ...``).")

    def ready():  # type: ignore[misc]
        """None when ready, else one line saying what is missing."""


class IMetrics(Interface):
    """A plugin's own Prometheus metrics, read when ``/metrics`` is scraped.

    Count on the hot path in plain attributes (an integer ``+= 1``) and turn
    them into metric families here: prometheus_client's own counters lock.
    Families of the same name from several providers (one per server block)
    are merged; each provider labels its samples (``server`` = ``block.name``).
    """

    def collect(prefix):
        """Yield ``prometheus_client.core`` metric families whose names start with ``prefix``
        (the ``prometheus`` directive's namespace and subsystem, ``"skydns_"`` by default)."""


class ICommand(Interface):
    """A subcommand of the ``skydns`` program (``skydns NAME ARGS...``).

    Registered in the ``skydns.commands`` entry point group under ``NAME``;
    loaded only when used or listed by ``skydns --help``.
    """

    name = Attribute("The subcommand, the same word as its entry point's name.")
    summary = Attribute("One line for ``skydns --help``.")

    def run(argv):
        """Run with the arguments after the subcommand's name; return the exit status."""
