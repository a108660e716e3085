"""The documentation site (``make docs``): it builds, and a broken link fails the build.

The site is MkDocs with mkdocs.yml's ``strict`` and ``validation``, and the hooks of
scripts/docs_hooks.py that make README.md its front page. The real site must build with
no warning; a small site with the very same configuration proves that each kind of broken
link (a missing page, a missing #anchor on another page or on the same one, from the README
or from a page, a missing repository file) fails it, naming the link.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from mkdocs.commands.build import build
from mkdocs.config import load_config
from mkdocs.exceptions import Abort

ROOT = Path(__file__).resolve().parents[2]

# The small site: a README (the front page) and two pages, linked both ways as on GitHub.
README = """# Front page

See [the page](docs/page.md#a-section), [the other](docs/other.md) and `code.py`.
"""
PAGE = """# A page

Back to [the front page](../README.md#front-page), on to [the other](other.md#its-section),
down to [a section](#a-section), and [the code](../code.py).

## A section

Text.
"""
OTHER = """# The other page

## Its section

Text, and ![a picture](picture.png).
"""


def _site(root: Path) -> Path:
    """Write the small site under ``root`` with the project's mkdocs.yml settings."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    config["hooks"] = [str(ROOT / "scripts" / "docs_hooks.py")]
    config["nav"] = [{"Home": "index.md"}, {"Page": "page.md"}, {"Other": "other.md"}]
    (root / "docs").mkdir(parents=True)
    (root / "README.md").write_text(README)
    (root / "docs" / "page.md").write_text(PAGE)
    (root / "docs" / "other.md").write_text(OTHER)
    (root / "docs" / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / "code.py").write_text("")
    path = root / "mkdocs.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _build(config_file: Path, site_dir: Path) -> Any:
    config = load_config(str(config_file), site_dir=str(site_dir))
    build(config)
    return config


def test_the_configuration_is_strict_about_links_and_anchors() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    assert config["strict"] is True
    links = config["validation"]["links"]
    assert {links[k] for k in ("not_found", "anchors", "unrecognized_links")} == {"warn"}
    assert config["validation"]["nav"]["omitted_files"] == "warn"


def test_make_docs_builds_strictly_and_make_test_runs_it() -> None:
    """``-q`` drops the warnings strict counts, and ``-v`` makes MkDocs 1.6.1 skip its
    anchor checks: the recipe uses neither. ``make test`` builds the docs before its tests."""
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^docs:.*## .*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe is not None, "no make docs"
    assert "mkdocs build" in recipe[1]
    assert not re.search(r"\s(-q|--quiet|-v|--verbose)\b", recipe[1]), recipe[1]
    test = re.search(r"^test:([^#]*)##", makefile, re.MULTILINE)
    assert test is not None and "docs" in test[1].split(), "make test does not build the docs"
    assert re.search(r'"mkdocs==[0-9.]+"', (ROOT / "pyproject.toml").read_text()), "not pinned"


def test_the_site_builds_with_the_readme_as_its_front_page(tmp_path: Path) -> None:
    """The real site: every link of the README and of docs/ resolves, anchors included."""
    _build(ROOT / "mkdocs.yml", tmp_path / "site")
    index = (tmp_path / "site" / "index.html").read_text()
    assert "lambda-tweets" in index
    # The README's docs/ links, rewritten for the site, point at its pages.
    assert 'href="CONTRACT.html"' in index
    assert 'href="monitoring.html#make-dashboard"' in index
    pages = {p.name for p in (ROOT / "docs").glob("*.md")}
    built = {p.name for p in (tmp_path / "site").glob("*.html")}
    assert {name.removesuffix(".md") + ".html" for name in pages} <= built


def test_the_small_site_builds(tmp_path: Path) -> None:
    """The control: the small site with every link right builds."""
    _build(_site(tmp_path / "src"), tmp_path / "site")
    page = (tmp_path / "site" / "page.html").read_text()
    assert 'href="index.html#front-page"' in page
    assert "<code>code.py</code>" in page  # a repository file: shown, not linked


@pytest.mark.parametrize(
    ("file", "good", "bad", "named"),
    [
        ("README.md", "docs/page.md#a-section", "docs/page.md#no-section", "page.md#no-section"),
        ("README.md", "docs/other.md", "docs/missing.md", "missing.md"),
        ("docs/page.md", "other.md#its-section", "other.md#no-section", "other.md#no-section"),
        ("docs/page.md", "(#a-section)", "(#nowhere)", "#nowhere"),
        ("docs/page.md", "../README.md#front-page", "../README.md#no-front", "index.md#no-front"),
        ("docs/page.md", "../code.py", "../no_such_code.py", "no_such_code.py"),
        ("docs/other.md", "picture.png", "no-picture.png", "no-picture.png"),
    ],
)
def test_a_broken_link_fails_the_build(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, file: str, good: str, bad: str, named: str
) -> None:
    config_file = _site(tmp_path / "src")
    path = tmp_path / "src" / file
    text = path.read_text()
    assert good in text
    path.write_text(text.replace(good, bad))
    with caplog.at_level(logging.WARNING, logger="mkdocs"), pytest.raises(Abort):
        _build(config_file, tmp_path / "site")
    assert named in caplog.text
