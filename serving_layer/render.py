"""``make query``'s list of named queries (``--list``); the rows themselves are rendered
by :mod:`lambda_common.render`."""

from __future__ import annotations

from collections.abc import Sequence

from lambda_common.render import render_catalogue
from serving_layer.catalogue import NamedQuery


def render_query_list(queries: Sequence[NamedQuery], fmt: str = "table") -> str:
    """The named queries, their parameters and descriptions (``--list``)."""
    return render_catalogue([(q.name, q.describe_params(), q.description) for q in queries], fmt)
