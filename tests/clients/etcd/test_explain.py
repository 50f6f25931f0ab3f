"""etcd's errors in words for people: which endpoint, what failed, what to check; never gRPC's object dump."""
from skydns import testing
from skydns.cli import legacy
from skydns.clients.etcd.connection import Connection, explain, parse_endpoint


def test_an_unreachable_endpoint_is_explained():
    endpoint = parse_endpoint(f"http://127.0.0.1:{testing.free_port()}")
    client = Connection((endpoint,), timeout=1.0).client(endpoint)
    try:
        client.get("/skydns/config")
    except Exception as e:
        text = explain(e, endpoint)
    else:
        raise AssertionError("nothing listens there")
    finally:
        client.close()
    assert text.startswith(f"etcd at {endpoint}: ") and "is etcd running there" in text, text
    assert "_InactiveRpcError" not in text and "\n" not in text


def test_legacy_says_which_endpoint_and_what_to_check():
    port = testing.free_port()
    settings, _ = legacy.load(["-machines", f"http://127.0.0.1:{port}"], environ={})
    (note,) = settings.notes
    assert "/skydns/config was not read" in note and f"127.0.0.1:{port}" in note and "is etcd running" in note, note
    assert "<" not in note, note


def test_other_errors_keep_their_first_line():
    assert explain(ValueError("bad things\nmore"), "http://x:1") == "etcd at http://x:1: ValueError: bad things"
    assert explain(ConnectionRefusedError(111, "Connection refused")) == "etcd: Connection refused"
