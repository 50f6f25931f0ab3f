"""Rendezvous hashing: the scanner's addresses and kubewatch's services shared among peers."""
from skydns.clients.etcd.sharing import owner


def test_rendezvous_moves_only_the_leavers_items():
    """Adding or removing a member moves only the items it gains or had: the others keep theirs."""
    items = [f"10.0.{i // 256}.{i % 256}" for i in range(2000)]
    three = {item: owner(["a", "b", "c"], item) for item in items}
    two = {item: owner(["a", "b"], item) for item in items}
    assert all(two[item] == three[item] for item in items if three[item] != "c")
    shares = [list(three.values()).count(m) / len(items) for m in "abc"]
    assert all(0.28 < s < 0.39 for s in shares), shares
