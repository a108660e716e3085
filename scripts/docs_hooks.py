"""MkDocs hooks (mkdocs.yml ``hooks:``) that make the repository's README.md the site's
front page and keep every link checkable.

Links are written for GitHub, relative to the file they stand in; this makes them work in
the site too, before MkDocs checks them (``strict`` + ``validation`` in mkdocs.yml):

- README.md becomes the page ``index.md``, its links to ``docs/X`` becoming ``X``.
- In a page of docs/, a link to ``../README.md#a`` becomes ``index.md#a``.
- A link to any other file of the repository outside docs/ (``../batch_layer/cycle.py``
  in a page, ``Makefile`` in the README) must name a file or folder that exists, or the
  build fails; in the site it becomes the path as code (or a link into ``repo_url`` when
  mkdocs.yml sets one), since the site holds no source files.

Everything MkDocs resolves itself (pages of docs/, their #anchors, images) it checks itself.
"""

from __future__ import annotations

import logging
import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.hooks.docs_hooks")

README = "README.md"

# An inline link or image: [text](target) or [text](target "title"); the text may span lines.
_LINK = re.compile(
    r"(?P<bang>!?)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)(?P<title>\s+\"[^\"]*\")?\)"
)
# Fenced code blocks are left alone: a link inside one is an example, not a link.
_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto:, ...


def _root(config: Any) -> Path:
    return Path(config["config_file_path"]).resolve().parent


def _docs_prefix(config: Any) -> str:
    """docs_dir relative to the repository root, e.g. ``docs``."""
    return Path(config["docs_dir"]).resolve().relative_to(_root(config)).as_posix()


def _outside_code(markdown: str, rewrite: Any) -> str:
    """Apply ``rewrite`` to the text between fenced code blocks."""
    out, last = [], 0
    for fence in _FENCE.finditer(markdown):
        out.append(rewrite(markdown[last : fence.start()]))
        out.append(fence.group(0))
        last = fence.end()
    out.append(rewrite(markdown[last:]))
    return "".join(out)


def _repository_link(text: str, path: str, anchor: str, config: Any, where: str) -> str:
    """A link to a repository file outside docs/: checked, then made a URL or code."""
    if not (_root(config) / path).exists():
        log.warning("%s links to '%s', which is not a file of the repository", where, path)
        return text
    repo_url = config.get("repo_url")
    if repo_url:
        branch = config.get("extra", {}).get("repo_branch", "main")
        return f"[{text}]({repo_url.rstrip('/')}/blob/{branch}/{path}{anchor})"
    return text if path in text else f"{text} (`{path}`)"


def rewrite_links(markdown: str, src: str, config: Any) -> str:
    """The markdown of ``src`` (a path from the repository root: ``README.md`` or
    ``docs/x.md``) with its links as the site needs them (see the module's docstring)."""
    docs = _docs_prefix(config)
    base = posixpath.dirname(src)
    in_docs = src.startswith(docs + "/")

    def one(match: re.Match[str]) -> str:
        target = match["target"]
        if target.startswith("#") or _EXTERNAL.match(target):
            return match.group(0)
        path, _, fragment = target.partition("#")
        anchor = f"#{fragment}" if fragment else ""
        resolved = posixpath.normpath(posixpath.join(base, path))
        title = match["title"] or ""
        if resolved == docs or resolved.startswith(docs + "/"):
            if in_docs:
                return match.group(0)  # MkDocs resolves and checks it
            inside = posixpath.relpath(resolved, docs)
            return f"{match['bang']}[{match['text']}]({inside}{anchor}{title})"
        if resolved == README:
            page = posixpath.relpath("index.md", posixpath.relpath(base, docs) if in_docs else ".")
            return f"{match['bang']}[{match['text']}]({page}{anchor}{title})"
        if resolved.startswith("../") or resolved == "..":
            log.warning("%s links to '%s', outside the repository", src, target)
            return match.group(0)
        return _repository_link(match["text"], resolved, anchor, config, src)

    return _outside_code(markdown, lambda text: _LINK.sub(one, text))


def on_files(files: Files, config: Any) -> Files:
    """Add README.md, its links rewritten, as the page index.md."""
    if files.get_file_from_path("index.md") is not None:
        log.warning("docs/index.md exists: the front page is README.md, made index.md here")
        return files
    readme = (_root(config) / README).read_text(encoding="utf-8")
    files.append(File.generated(config, "index.md", content=rewrite_links(readme, README, config)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Rewrite a docs page's links to the README and to files outside docs/."""
    if page.file.src_uri == "index.md" and page.file.generated_by:
        return markdown  # the README, rewritten in on_files
    src = f"{_docs_prefix(config)}/{page.file.src_uri}"
    return rewrite_links(markdown, src, config)
