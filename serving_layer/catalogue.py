"""The named queries of ``make query``: ``serving_layer/queries/<name>.sql`` and those every
view gets from its definition (:mod:`serving_layer.view_queries`), one SQL statement each
over the serving views, written to run unchanged on PostgreSQL and Redshift.

Each opens with comment lines that describe it, one of which declares its parameters and
their defaults (``-- params: location (required), hours=48``). A parameter whose default
is a whole number takes a positive whole number; a required one takes text.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Literal

from lambda_common.errors import QueryUsageError
from lambda_common.views import View, load_views
from serving_layer.view_queries import view_queries

logger = logging.getLogger(__name__)

DEFAULT_QUERY = "latest"
"""What ``python -m serving_layer query`` runs with neither ``--name`` nor ``--sql``."""

MAX_INT_PARAM = 2**31 - 1
"""Largest value of a whole-number parameter (fits a 32-bit integer on either warehouse)."""

DERIVED = ("now", "since")
"""Values the runner binds for every named query besides its declared parameters."""

_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")
_PARAM = re.compile(r"(?P<name>[a-z_][a-z0-9_]*)\s*(?:=\s*(?P<default>.*?)|\(\s*required\s*\))\Z")


@dataclass(frozen=True)
class QueryParam:
    """One declared parameter of a named query."""

    name: str
    default: int | str | None
    """The value when not given; ``None`` when the parameter is required."""
    kind: Literal["int", "text"]

    @property
    def required(self) -> bool:
        """Whether the caller must give a value."""
        return self.default is None

    def describe(self) -> str:
        """``limit=20`` or ``location (required)``, as in the header line."""
        return f"{self.name} (required)" if self.default is None else f"{self.name}={self.default}"


@dataclass(frozen=True)
class NamedQuery:
    """A named query as shipped: its name, what it shows, its parameters and its SQL."""

    name: str
    description: str
    params: tuple[QueryParam, ...]
    text: str

    @property
    def defaults(self) -> dict[str, int | str | None]:
        """Parameter name -> default (``None`` for a required parameter)."""
        return {p.name: p.default for p in self.params}

    def describe_params(self) -> str:
        """The parameters as the header declares them, e.g. ``hours=24, limit=10``."""
        return ", ".join(p.describe() for p in self.params)


def _queries_root() -> Traversable:
    return resources.files("serving_layer").joinpath("queries")


def _shipped() -> dict[str, Traversable]:
    return {
        entry.name.removesuffix(".sql"): entry
        for entry in _queries_root().iterdir()
        if entry.name.endswith(".sql") and _NAME.match(entry.name.removesuffix(".sql"))
    }


@cache
def _texts(views: tuple[View, ...]) -> dict[str, str]:
    """Name -> text of every named query: the shipped files, then each view's own. A
    view's query named like one before it is left out, with a warning."""
    texts = {name: entry.read_text(encoding="utf-8") for name, entry in _shipped().items()}
    for view in views:
        for name, text in view_queries(view).items():
            if name in texts:
                logger.warning(
                    "view %s (%s): its named query %s is not offered: the name is taken",
                    view.name,
                    view.source,
                    name,
                )
                continue
            texts[name] = text
    return texts


def list_queries(views: tuple[View, ...] | None = None) -> list[str]:
    """The names of the named queries (shipped, and derived from ``views``: by default
    the views shipped with the package), sorted."""
    return sorted(_texts(load_views() if views is None else views))


@cache
def load_query(name: str, views: tuple[View, ...] | None = None) -> NamedQuery:
    """The named query ``name`` (shipped, or derived from one of ``views``: by default
    the views shipped with the package), its header parsed.

    Raises ``QueryUsageError`` (listing the names there are) for an unknown name.
    """
    views = load_views() if views is None else views
    texts = _texts(views)
    if name not in texts:
        raise QueryUsageError(
            f"unknown query {name!r}; named queries: {', '.join(list_queries(views))}"
        )
    return parse_query_text(name, texts[name])


def parse_query_text(name: str, text: str) -> NamedQuery:
    """Build a :class:`NamedQuery` from a file's text: the leading ``--`` comment lines
    are its description, except the one ``-- params: ...`` line (none, or an empty or
    ``none`` list: no parameters)."""
    description: list[str] = []
    params: tuple[QueryParam, ...] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("--"):
            break
        comment = stripped[2:].strip()
        if comment.lower().startswith("params:"):
            if params is not None:
                raise ValueError(f"query {name}: more than one '-- params:' line")
            params = _parse_params_line(name, comment[len("params:") :])
        elif comment:
            description.append(comment)
    if not description:
        raise ValueError(f"query {name}: no description in its header")
    return NamedQuery(name, " ".join(description), params or (), text)


def _parse_params_line(name: str, spec: str) -> tuple[QueryParam, ...]:
    params: list[QueryParam] = []
    if spec.strip().lower() == "none":
        return ()
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        match = _PARAM.match(item)
        if match is None:
            raise ValueError(f"query {name}: cannot read parameter {item!r}")
        param_name, default = match["name"], match["default"]
        if param_name in DERIVED or any(p.name == param_name for p in params):
            raise ValueError(f"query {name}: parameter {param_name!r} is reserved or repeated")
        if default is None:
            params.append(QueryParam(param_name, None, "text"))
        elif default.isdigit():
            params.append(QueryParam(param_name, positive_int(param_name, default), "int"))
        else:
            params.append(QueryParam(param_name, default, "text"))
    names = {p.name for p in params}
    if {"hours", "days"} <= names:
        raise ValueError(f"query {name}: declares both hours and days; which sets since?")
    for window in ("hours", "days"):
        if window in names and next(p for p in params if p.name == window).kind != "int":
            raise ValueError(f"query {name}: {window} must default to a whole number")
    return tuple(params)


def positive_int(name: str, text: str) -> int:
    value = text.strip()
    if value.isascii() and value.isdigit() and 0 < int(value) <= MAX_INT_PARAM:
        return int(value)
    raise QueryUsageError(
        f"parameter {name} must be a whole number from 1 to {MAX_INT_PARAM}, got {text[:40]!r}"
    )
