"""The copy's index: a name with nothing below it is its service itself; a name below it turns it into a node."""
from skydns.msg.service import Service
from skydns.plugin.etcd.index import Index, Node


def labels(name):
    return list(reversed(name.rstrip(".").split(".")))


def svc(name, host="10.0.0.1"):
    return Service(name, host)


def test_a_leaf_is_the_service_and_becomes_a_node_when_a_name_comes_below_it():
    index = Index()
    web = svc("web.local.")
    index.put(labels("web.local."), web)
    local = index.root.children["local"]
    assert local.__class__ is Node and local.children["web"] is web  # no Node for the leaf
    assert index.lookup(labels("web.local."), exact=True) == [web]
    below = svc("x1.web.local.", "10.0.0.2")
    index.put(labels("x1.web.local."), below)
    node = local.children["web"]
    assert node.__class__ is Node and node.record is web and node.children["x1"] is below
    assert index.lookup(labels("web.local.")) == [web, below] and index.count == 2
    # replacing a leaf keeps it a leaf; replacing a node's record keeps the node
    again = svc("x1.web.local.", "10.0.0.3")
    index.put(labels("x1.web.local."), again)
    assert node.children["x1"] is again and index.count == 2
    index.put(labels("web.local."), svc("web.local.", "10.0.0.9"))
    assert index.lookup(labels("web.local."), exact=True)[0].host == "10.0.0.9" and index.count == 2


def test_delete_prunes_leaves_and_empty_nodes():
    index = Index()
    index.put(labels("a.b.local."), svc("a.b.local."))
    index.put(labels("b.local."), svc("b.local."))
    assert index.delete(labels("c.b.local.")) is None and index.delete(labels("x.a.b.local.")) is None
    assert index.delete(labels("a.b.local.")).name == "a.b.local."
    assert index.root.children["local"].children["b"].children is None  # b kept: it has a record
    assert index.delete(labels("b.local.")).name == "b.local."
    assert index.root.children is None and index.count == 0
    assert not index.exists(labels("local."))


def test_a_node_that_loses_its_record_but_keeps_children_stays():
    index = Index()
    index.put(labels("b.local."), svc("b.local."))
    index.put(labels("a.b.local."), svc("a.b.local."))
    assert index.delete(labels("b.local.")).name == "b.local."
    assert index.lookup(labels("b.local."), exact=True) == []
    assert [s.name for s in index.lookup(labels("b.local."))] == ["a.b.local."]
    assert index.count == 1
