"""What skydns and its helpers print for --help: aligned however long a command's name, every form shown."""
import io
import subprocess
import sys

from skydns.cli import commands, tap


def test_commands_are_aligned_whatever_their_length(monkeypatch):
    monkeypatch.setattr(commands, "available", lambda: [("ds", "print DS records"),
                                                        ("a-rather-long-command", "from a plugin distribution")])
    out = io.StringIO()
    tap.print_help(out)
    lines = out.getvalue().split("Commands:\n")[1].splitlines()
    assert [line.index(summary) for line, summary in zip(lines, ("print DS", "from a plugin"), strict=True)] == [25, 25], lines


def test_devetcd_help_shows_the_command_form():
    out = subprocess.run([sys.executable, "-m", "skydns.cli.devetcd", "--help"], capture_output=True, text=True,
                         timeout=30).stdout
    assert "-- CMD" in out and "ETCD_ENDPOINT" in out, out
