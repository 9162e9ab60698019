"""Help texts: every command has a short help that ``rnnscope --help`` shows whole, every
option says what it does, and no text leans on the project's internal paper numbering
("seed 004") that means nothing to someone who installed rnnscope from a registry."""
from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from rnnscope.cli import main

SEED_REF = re.compile(r"\bseed 00\d\b", re.IGNORECASE)


def _walk(group: click.Group, path: tuple[str, ...] = ()):
    for name, cmd in sorted(group.commands.items()):
        yield (*path, name), cmd
        if isinstance(cmd, click.Group):
            yield from _walk(cmd, (*path, name))


COMMANDS = list(_walk(main))
IDS = [" ".join(p) for p, _ in COMMANDS]


def test_the_walk_finds_the_commands():
    names = {p[-1] for p, _ in COMMANDS}
    assert {"agreement", "probe", "serve", "extract", "train", "concept-causality"} <= names


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=IDS)
def test_every_option_has_help(path, cmd):
    missing = [p.opts[0] for p in cmd.params
               if isinstance(p, click.Option) and "--help" not in p.opts
               and not (p.help or "").strip()]
    assert not missing, f"rnnscope {' '.join(path)}: options without help: {missing}"


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=IDS)
def test_no_help_text_names_a_seed_number(path, cmd):
    texts = [cmd.help or "", cmd.short_help or "", cmd.epilog or ""]
    texts += [getattr(p, "help", None) or "" for p in cmd.params]
    bad = [t for t in texts if SEED_REF.search(t)]
    assert not bad, f"rnnscope {' '.join(path)}: {bad}"


def test_top_level_help_shows_every_short_help_whole():
    out = CliRunner().invoke(main, ["--help"], prog_name="rnnscope", terminal_width=80)
    assert out.exit_code == 0, out.output
    # the usage line's "[ARGS]..." is click's notation, not a cut summary
    lines = [ln for ln in out.output.splitlines() if not ln.startswith("Usage:")]
    assert not [ln for ln in lines if ln.rstrip().endswith("...")], out.output
    for name, cmd in main.commands.items():
        short = cmd.get_short_help_str(limit=10_000)
        assert short.strip(), f"{name}: no short help"
        row = next((ln for ln in lines if ln.split()[:1] == [name]), None)
        assert row is not None, f"{name} missing from rnnscope --help"
        assert row.split(None, 1)[1].strip() == short, \
            f"{name}: the short help does not fit on its line of rnnscope --help: {row!r}"
        assert not SEED_REF.search(short)


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=IDS)
def test_command_help_renders(path, cmd):
    out = CliRunner().invoke(main, [*path, "--help"], prog_name="rnnscope", terminal_width=80)
    assert out.exit_code == 0, out.output
    assert not SEED_REF.search(out.output), out.output
