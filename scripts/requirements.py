"""Print pip requirement lines taken from the pins in pyproject.toml: every runtime
dependency but those named with ``--without``, then the dev extra's packages named with
``--dev``. ``make venv-spark35`` installs with it the very versions ``make venv`` does,
around a pyspark of its own.

    python scripts/requirements.py --without pyspark --dev pytest pytest-timeout
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"

# A requirement's name: what stands before its version or extras (PEP 508).
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _name(requirement: str) -> str:
    match = _NAME.match(requirement)
    if match is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    # PEP 503: case, dots, dashes and underscores do not tell two names apart.
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def requirements(project: dict[str, object], without: set[str], dev: list[str]) -> list[str]:
    """The lines to install: the runtime pins minus ``without``, plus ``dev``'s pins from
    the ``dev`` extra (every name given must be pinned there)."""
    runtime = list(project["dependencies"])  # type: ignore[call-overload]
    extras: dict[str, list[str]] = project["optional-dependencies"]  # type: ignore[assignment]
    skip = {_name(n) for n in without}
    lines = [r for r in runtime if _name(r) not in skip]
    pinned = {_name(r): r for r in extras["dev"]}
    missing = [n for n in dev if _name(n) not in pinned]
    if missing:
        raise SystemExit(f"not in pyproject's dev extra: {', '.join(missing)}")
    return lines + [pinned[_name(n)] for n in dev]


def main(argv: list[str] | None = None) -> int:
    """Print the requirement lines, one a line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--without", nargs="*", default=[], metavar="NAME")
    parser.add_argument("--dev", nargs="*", default=[], metavar="NAME")
    args = parser.parse_args(argv)
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    sys.stdout.write(
        "".join(f"{line}\n" for line in requirements(project, set(args.without), args.dev))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
