"""The one-line contract of the CLI: user errors exit 2, bugs exit 1 with a hint, --debug shows all."""
from __future__ import annotations

import errno

import pytest
from click.testing import CliRunner

import rnnscope.corpus.readers as readers
from rnnscope.cli import main


def _fail_with(monkeypatch, exc: BaseException) -> None:
    def boom(*a, **k):
        raise exc

    monkeypatch.setattr(readers, "read_corpus", boom)  # corpus-info imports it when it runs


def test_internal_error_is_one_line_exit_1_with_a_hint(monkeypatch, tmp_path):
    _fail_with(monkeypatch, ValueError("shapes (3,) and (4,) not aligned\nmore detail"))
    out = CliRunner().invoke(main, ["corpus-info", str(tmp_path / "x.txt")])
    assert out.exit_code == 1
    assert out.output.count("\n") == 1, out.output
    assert out.output.startswith("internal error: ValueError: shapes (3,) and (4,) not aligned")
    assert "--debug" in out.output


def test_debug_shows_the_exception(monkeypatch, tmp_path):
    _fail_with(monkeypatch, ValueError("boom"))
    out = CliRunner().invoke(main, ["--debug", "corpus-info", str(tmp_path / "x.txt")])
    assert isinstance(out.exception, ValueError)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_disk_full_is_a_user_error(monkeypatch, tmp_path, code):
    _fail_with(monkeypatch, OSError(code, "No space left on device", str(tmp_path / "store")))
    out = CliRunner().invoke(main, ["corpus-info", str(tmp_path / "x.txt")])
    assert out.exit_code == 2 and out.output.count("\n") == 1
    assert out.output.startswith("error: the disk is full writing") and "store" in out.output


def test_usage_errors_stay_clicks(tmp_path):
    out = CliRunner().invoke(main, ["corpus-info"])
    assert out.exit_code == 2 and "Missing argument" in out.output


@pytest.mark.parametrize("lr", ["0", "-1", "nan", "inf"])
def test_bad_learning_rate_is_refused(tmp_path, lr):
    (tmp_path / "t.txt").write_text("a b c\n" * 20)
    out = CliRunner().invoke(main, ["train", "--corpus-train", str(tmp_path / "t.txt"),
                                    "--valid-fraction", "0.2", "--lr", lr, "--out", str(tmp_path / "r")])
    assert out.exit_code == 2 and out.output.startswith("error: the learning rate") and \
        out.output.count("\n") == 1


def test_unknown_url_protocol_is_a_user_error():
    out = CliRunner().invoke(main, ["store-info", "nosuchproto://bucket/store"])
    assert out.exit_code == 2 and out.output.startswith("error:") and out.output.count("\n") == 1
