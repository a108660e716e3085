"""Fixtures the unit tests share."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambda_common.settings import Settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Settings from their defaults alone: no developer ``.env`` (the working folder is the
    test's own) and no exported setting leaks into the test."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
