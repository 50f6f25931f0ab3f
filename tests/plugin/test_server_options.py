"""bind, timeouts, tcp: validation with file:line, and their effect on the block."""
import pytest

from skydns import config
from skydns.config.errors import CorefileError


def load(tmp_path, body):
    p = tmp_path / "Corefile"
    p.write_text(". {\n" + body + "\n whoami\n}\n")
    return config.load(str(p)).blocks[0][0]


def test_bind_addresses_and_interfaces(tmp_path):
    assert load(tmp_path, "bind 127.0.0.1 ::1").settings.bind == ["127.0.0.1", "::1"]
    assert load(tmp_path, "bind 127.0.0.1\n bind 127.0.0.2").settings.bind == ["127.0.0.1", "127.0.0.2"]
    lo = load(tmp_path, "bind lo").settings.bind
    assert "127.0.0.1" in lo
    assert load(tmp_path, "bind lo {\n except 127.0.0.1\n}").settings.bind == [a for a in lo if a != "127.0.0.1"]


@pytest.mark.parametrize("body, message", [
    ("bind", "Corefile:2 - plugin/bind: wrong argument count"),
    ("bind nosuchiface0", "Corefile:2 - plugin/bind: 'nosuchiface0' is neither an IP address nor a network interface"),
    ("bind 127.0.0.1 {\n except 127.0.0.1\n}", "no address left"),
    ("timeouts", "Corefile:2 - plugin/timeouts: timeouts needs a block"),
    ("timeouts {\n idle 0s\n}", "Corefile:3 - plugin/timeouts: duration must be positive"),
    ("timeouts {\n sleepy 1s\n}", "unknown property 'sleepy' (expected read, write, idle)"),
    ("timeouts {\n idle 2d\n}", "'2d' is not a duration"),
    ("tcp {\n max_connections -1\n}", "max_connections must be between 0 and 1000000"),
    ("tcp {\n max_connections\n}", "wrong argument count"),
    ("reload 1s", "Corefile:2 - plugin/reload: interval value must be greater or equal to 2s"),
    ("reload 10s 0s", "duration must be positive"),
    ("reload 10s 1s 1s", "wrong argument count"),
])
def test_bad_values_refuse_start(tmp_path, body, message):
    with pytest.raises(CorefileError) as e:
        load(tmp_path, body)
    assert message in str(e.value)


def test_timeouts_and_tcp_set_block_options(tmp_path):
    b = load(tmp_path, "timeouts {\n idle 1m\n read 5s\n}\n tcp {\n max_connections 0\n}")
    assert b.settings.idle == 60.0 and b.settings.read == 5.0 and b.settings.max_connections == 0


def test_overlapping_blocks_refused(tmp_path):
    p = tmp_path / "Corefile"
    p.write_text("example.org:1053 {\n whoami\n}\n\nexample.org:1053 {\n whoami\n}\n")
    with pytest.raises(CorefileError, match=r"Corefile:5 - zone example.org. on port 1053 is served by two"):
        config.load(str(p))


def test_listener_directives_leave_the_block_alone_in_parse(tmp_path):
    """bind, timeouts, tcp, tls and workers hand their settings to the core (configure), parse changes nothing:
    parsing a block's directives again (skydns validate, a refused reload) has no effect on it."""
    import dataclasses

    from skydns.config.block import Block, ListenerSettings
    from skydns.config.corefile.dispenser import Dispenser
    from skydns.config.corefile.parser import parse_file
    from skydns.config.registry import Registry
    from skydns.interfaces import IListenerSetup

    p = tmp_path / "Corefile"
    p.write_text(". {\n bind 127.0.0.1\n timeouts {\n idle 1m\n }\n tcp {\n max_connections 7\n }\n workers 2\n"
                 " whoami\n}\n")
    (ast,), _ = parse_file(str(p), Registry().check, 53)
    block = Block(ast, str(p))
    registry = Registry()
    for name in ("bind", "timeouts", "tcp", "workers"):
        setup = registry.setup(name, ast.occurrences(name)[0].tokens[0])
        assert IListenerSetup.providedBy(setup)
        before = dataclasses.replace(block.settings)
        cfg = setup.parse(Dispenser(name, ast.occurrences(name)), block)
        assert block.settings == before  # untouched by parse
        setup.configure(cfg, block.settings)
    assert block.settings == ListenerSettings(bind=["127.0.0.1"], idle=60.0, max_connections=7, workers=2)


def test_directive_files_are_taken_beside_the_file_that_names_them(tmp_path):
    """A relative file in a directive (loadbalance's weights, tls's certificate) is read from the folder
    of the Corefile (or imported file) it is written in, whatever the working directory."""
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "weights").write_text("www.example.org.\n10.0.0.1 100\n")
    p = tmp_path / "conf" / "Corefile"
    p.write_text(". {\n loadbalance weighted weights\n whoami\n}\n")
    config.load(str(p))  # found: no error although the working directory is elsewhere
    p.write_text(". {\n loadbalance weighted nothere\n whoami\n}\n")
    with pytest.raises(CorefileError, match=f"cannot read the weight file {tmp_path}/conf/nothere"):
        config.load(str(p))
