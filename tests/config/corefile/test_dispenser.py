"""The dispenser plugins parse with: occurrences, arguments, blocks, errors with lines."""
import pytest

from skydns.config.corefile import parse_text
from skydns.config.corefile.dispenser import Dispenser, parse_duration
from skydns.config.errors import CorefileError


def dispenser(text, name):
    blocks, _ = parse_text(text, "Corefile", lambda n: None)
    return Dispenser(name, blocks[0].occurrences(name))


def test_occurrences_args_and_blocks():
    """next() visits each occurrence; block() yields each property line, skipping what is not read."""
    d = dispenser("""
. {
    cache 30 example.org {
        success 100 60
        prefetch 10 {
            nested stuff
        }
        denial 5
    }
    whoami
    cache 10
}""", "cache")
    seen = []
    while d.next():
        args = d.remaining_args()
        props = []
        for _ in d.block():
            props.append(d.val)  # the rest of each line is not read on purpose
        seen.append((args, props))
    assert seen == [(["30", "example.org"], ["success", "prefetch", "denial"]), (["10"], [])]


def test_next_arg_stops_at_line_end_and_brace():
    d = dispenser(". {\n x a b {\n  c\n }\n}", "x")
    d.next()
    assert d.next_arg() and d.val == "a"
    assert d.next_arg() and d.val == "b"
    assert not d.next_arg()


def test_errors_carry_file_line_and_plugin():
    d = dispenser(". {\n x {\n  bogus 1\n }\n}", "x")
    d.next()
    with pytest.raises(CorefileError) as e:
        for _ in d.block():
            raise d.unknown_property(["good", "better"])
    assert str(e.value) == "Corefile:3 - plugin/x: unknown property 'bogus' (expected good, better)"
    d = dispenser(". {\n x\n}", "x")
    d.next()
    assert str(d.arg_error()) == "Corefile:2 - plugin/x: wrong argument count or unexpected line ending after 'x'"


def test_values():
    d = dispenser(". {\n x 10 abc 5s\n}", "x")
    d.next()
    assert d.int_value(d.remaining_args()[0], 1, 100) == 10
    with pytest.raises(CorefileError, match="'abc' is not a number"):
        d.int_value("abc")
    with pytest.raises(CorefileError, match="must be between 1 and 5, got 10"):
        d.int_value("10", 1, 5)
    assert parse_duration("1m30s") == 90.0
    assert parse_duration("500ms") == 0.5
    assert parse_duration("2h") == 7200.0
    assert parse_duration("15") == 15.0
    for bad in ("", "5x", "s", "1m30"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_unknown_property_names_the_property_even_after_reading_its_arguments():
    d = dispenser(". {\n x {\n  bogus 1 2\n }\n}", "x")
    d.next()
    with pytest.raises(CorefileError) as e:
        for _ in d.block():
            d.remaining_args()
            raise d.unknown_property(["good"])
    assert str(e.value) == "Corefile:3 - plugin/x: unknown property 'bogus' (expected good)"
