"""The named queries every view gets from its definition (:mod:`lambda_common.views`),
as its tables and serving view do: ``top_<view>``, ``<key>_hourly`` and the newest rows
overall (``latest``) and per layer (``layers``) of the view.

The templates are ``serving_layer/queries/per_view/*.sql``: a named query's text with the
view's names, keys and the words that describe them left as ``{placeholders}``
(``tagged.sql`` is not a query: the serving view's rows with their layer, which the
others read). Names
come from validated definitions and are double-quoted all the same; values stay bound
(``%(hashtag)s``). The ``locations`` view (CONTRACT section 2) keeps the names it always
had, ``latest`` and ``layers``; any other view's get its name as a suffix.
"""

from __future__ import annotations

import logging
from functools import cache
from importlib import resources

from lambda_common.views import LOCATIONS, RELATIONS, View
from lambda_common.views.sql import quote
from serving_layer.key_params import match_rule

logger = logging.getLogger(__name__)

__all__ = ["view_queries"]

RESERVED_PARAMS = frozenset({"hours", "days", "limit", "now", "since"})
"""Names a key parameter may not take: the queries' own parameters and derived values."""

# What a count over a relation means, said once in every query of the views reading it.
_RELATION_NOTES = {
    "tweet_hashtags": "A tweet counts once for each distinct hashtag it carries; tweets "
    "without hashtags are not here.",
}
assert set(_RELATION_NOTES) <= set(RELATIONS)


@cache
def _template(name: str) -> str:
    root = resources.files("serving_layer").joinpath("queries", "per_view")
    return root.joinpath(f"{name}.sql").read_text(encoding="utf-8")


def _names(view: View) -> dict[str, str]:
    suffix = "" if view.name == LOCATIONS else f"_{view.name}"
    keys = [k.name for k in view.keys]
    return {
        "top": f"top_{view.name}",
        "hourly": "_".join(keys) + "_hourly",
        "latest": f"latest{suffix}",
        "layers": f"layers{suffix}",
    }


def view_queries(view: View) -> dict[str, str]:
    """Query name -> the text of each named query derived from ``view``. A view whose key
    is named like a query parameter (``hours``, ``limit``…) gets no ``_hourly`` query."""
    keys = [k.name for k in view.keys]
    note = _RELATION_NOTES.get(view.reads)
    fill = {
        "serving": quote(view.serving_view),
        "batch": quote(view.batch_table),
        "speed": quote(view.speed_table),
        "keys": ", ".join(quote(k) for k in keys),
        "v_keys": ", ".join(f"v.{quote(k)}" for k in keys),
        "key_params": ", ".join(f"{k} (required)" for k in keys),
        "key_match": " AND ".join(f"v.{quote(k)} = %({k})s" for k in keys),
    }
    # The serving view's rows, each with the layer that serves it: what three of them read.
    fill["tagged"] = _template("tagged").rstrip("\n").format(**fill)
    texts: dict[str, str] = {}
    for kind, name in _names(view).items():
        if kind == "hourly" and RESERVED_PARAMS & set(keys):
            logger.debug("view %s: no %s (a key is named like a parameter)", view.name, name)
            continue
        if kind == "top":
            noun, notes = view.name.replace("_", " "), [note] if note else []
        else:
            noun, notes = " and ".join(keys), [match_rule(k) for k in keys]
        texts[name] = _template(kind).format(
            noun=noun, note="".join(" " + n for n in notes), **fill
        )
    return texts
