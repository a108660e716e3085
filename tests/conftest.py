"""Test-wide set-up: unit tests (tests/unit), integration tests (tests/integration),
privilege tests (tests/security) and fault-injection scenarios (tests/chaos) are told apart
by folder, and marked so each set can be run alone (`-m unit`). The service fixtures live
in ``tests/stack.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.stack import lane, stack

__all__ = ["lane", "stack"]  # fixtures for tests/integration, tests/security and tests/chaos

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        folder = Path(str(item.path)).relative_to(HERE).parts[0]
        if folder in ("unit", "integration", "chaos", "security"):
            item.add_marker(getattr(pytest.mark, folder))
