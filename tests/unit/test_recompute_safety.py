"""make recompute never clears what it cannot load again (security finding 5)."""

from __future__ import annotations

import pytest

from batch_layer.target import RecomputeRefused, check_recompute
from lambda_common import cli
from lambda_common.cli import NotConfirmed, confirm

pytestmark = pytest.mark.unit


def test_a_recompute_that_finds_objects_of_its_own_topic_goes_ahead() -> None:
    check_recompute("tweets", 3, {"tweets": 5})
    check_recompute("tweets", 0, {})  # nothing loaded, nothing found: nothing to lose


def test_finding_nothing_where_the_ledger_has_objects_is_refused() -> None:
    with pytest.raises(RecomputeRefused, match="no master objects of topic 'tweets'"):
        check_recompute("tweets", 0, {"tweets": 5})


def test_another_topic_in_the_ledger_is_refused_whatever_was_found() -> None:
    with pytest.raises(RecomputeRefused, match="also holds topic 'tweets' \\(5 objects\\)"):
        check_recompute("tweetz", 4, {"tweets": 5})


def test_confirm_without_a_terminal_shows_what_and_refuses(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli.sys.stdin, "isatty", lambda: False, raising=False)
    with pytest.raises(NotConfirmed, match=r"^not confirmed \(no terminal\): nothing was"):
        confirm("make recompute clears x\nsecond line", yes=False)
    assert capsys.readouterr().err == "make recompute clears x\nsecond line\n"  # shown whole
    confirm("anything", yes=True)  # --yes goes ahead


def test_confirm_on_a_terminal_needs_yes_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli.sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    with pytest.raises(NotConfirmed, match="nothing was changed"):
        confirm("clear everything?", yes=False)
    monkeypatch.setattr("builtins.input", lambda prompt: "YES")
    confirm("clear everything?", yes=False)
