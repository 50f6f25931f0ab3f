"""The in-memory copy's index: a tree of labels, one node per key path segment.

``/skydns/local/skydns/east/web01`` is the node ``local -> skydns -> east ->
web01`` holding that key's service (a name with nothing below it is the
service itself). A lookup walks the query's labels from the top: an exact
name costs one dict lookup per label, a subtree (SkyDNS's subdomain
aggregation) costs the size of what it returns, and a wildcard label (``*``
or ``any``) fans out over the children at that one level, so the cost
follows the shape of the query and the answer, not the number of keys
stored. Nodes without a service or children are pruned, so a node exists
exactly when some key is at or below it.
"""
from __future__ import annotations

from sys import intern

from skydns.query.zones import WILDCARDS

#: Labels this short are shared by every node that has them (``x1``, ``east``, ``web``: they repeat
#: across an estate, and each copy costs a string object); longer ones are mostly unique.
SHARED_LABEL = 8


class Node:
    """A name with something below it (its own record, if any, is ``record``). A name with nothing below
    it is no Node: its parent's ``children`` holds its service itself, which answers ``record`` and
    ``children`` as a Node would (one object less per key of a large estate)."""

    __slots__ = ("children", "record")

    def __init__(self):
        self.children: dict[str, Node] | None = None
        self.record = None


class Index:
    """Services by key path; not thread-safe (built in one thread, then used in the reactor's)."""

    def __init__(self):
        self.root = Node()
        self.count = 0

    def put(self, labels: list[str], service) -> None:
        node = self.root
        last = len(labels) - 1
        for i, label in enumerate(labels):
            children = node.children
            if children is None:
                children = node.children = {}
            nxt = children.get(label)
            if i == last and (nxt is None or nxt.__class__ is not Node):  # a leaf: the service itself
                if nxt is None:
                    self.count += 1
                    label = intern(label) if len(label) <= SHARED_LABEL else label
                children[label] = service
                return
            if nxt is None:
                nxt = children[intern(label) if len(label) <= SHARED_LABEL else label] = Node()
            elif nxt.__class__ is not Node:  # a leaf gets a name below it: a Node holding its record
                inner = Node()
                inner.record = nxt
                nxt = children[label] = inner
            node = nxt
        if node.record is None:
            self.count += 1
        node.record = service

    def delete(self, labels: list[str]):
        """Remove the service at ``labels``; returns it (None if there was none)."""
        path = [self.root]
        node = self.root
        for label in labels:
            if node.children is None or label not in node.children:
                return None
            node = node.children[label]
            path.append(node)
        old = node.record
        if old is None:
            return None
        self.count -= 1
        if node.__class__ is Node:
            node.record = None
        # Prune what is left with neither a record nor children (a leaf service goes at once).
        for depth in range(len(labels), 0, -1):
            n = path[depth]
            if n.__class__ is Node and (n.record is not None or n.children):
                break
            parent = path[depth - 1]
            assert parent.children is not None  # it holds n
            del parent.children[labels[depth - 1]]
            if not parent.children:
                parent.children = None
        return old

    def nodes(self, labels: list[str]) -> list[Node]:
        """The nodes a query's labels (top first) reach, with ``*``/``any`` matching any one label."""
        current = [self.root]
        for label in labels:
            nxt: list[Node] = []
            if label in WILDCARDS:
                for n in current:
                    if n.children:
                        nxt.extend(n.children.values())
            else:
                for n in current:
                    children = n.children
                    if children is not None:
                        child = children.get(label)
                        if child is not None:
                            nxt.append(child)
            if not nxt:
                return nxt
            current = nxt
        return current

    def exists(self, labels: list[str]) -> bool:
        return bool(self.nodes(labels))

    def lookup(self, labels: list[str], exact: bool = False) -> list:
        """Services at the name (``exact``) or at and below it, in key order."""
        found = []
        for node in self.nodes(labels):
            if node.__class__ is not Node:  # a leaf: the service itself, nothing below it
                found.append(node)
            elif exact:
                if node.record is not None:
                    found.append(node.record)
            else:
                _collect(node, found)
        return found


def _collect(node: Node, out: list) -> None:
    stack = [node]
    while stack:
        n = stack.pop()
        if n.__class__ is not Node:
            out.append(n)
            continue
        if n.record is not None:
            out.append(n.record)
        if n.children:
            # Reversed so that services come out in sorted key order.
            stack.extend(n.children[k] for k in sorted(n.children, reverse=True))
