"""Named-query parameters named after a view key (``location``, ``hashtag``, ``lang``):
each is matched as the pipeline groups that key (:mod:`lambda_common.contract`), so
``" Paris "`` finds ``Paris`` and ``"#Python "`` finds ``python``. Kept apart so the
parameter binding (:mod:`serving_layer.params`) and the queries derived from the views
(:mod:`serving_layer.view_queries`) share one table of keys."""

from __future__ import annotations

from collections.abc import Callable

from lambda_common.contract import normalize_hashtags, normalize_lang, normalize_location
from lambda_common.errors import QueryUsageError

__all__ = ["KEY_NORMALISERS", "match_rule"]


def _hashtag(raw: str) -> str:
    keys = normalize_hashtags([raw])
    if not keys:
        raise QueryUsageError(
            f"parameter hashtag {raw[:40]!r} is empty once trimmed and its leading # "
            "removed; give a hashtag, e.g. hashtag=python"
        )
    return keys[0]


# Parameter name -> the contract's normaliser of that grouping key: a value is compared
# with what the views hold, so it is normalised as the pipeline normalises events.
KEY_NORMALISERS: dict[str, Callable[[str], str]] = {
    "location": normalize_location,
    "hashtag": _hashtag,
    "lang": normalize_lang,
}

_MATCH_RULES = {
    "location": "The location is matched as the pipeline groups it: surrounding ASCII "
    "whitespace trimmed, blank meaning (unknown).",
    "hashtag": "The hashtag is matched as the pipeline keys it: surrounding ASCII "
    "whitespace trimmed, one leading # removed, lower-cased.",
    "lang": "The lang is matched as the pipeline groups it: surrounding ASCII whitespace "
    "trimmed, lower-cased, cut to 35 code points, blank meaning (unknown).",
}


def match_rule(key: str) -> str:
    """One sentence on how a value given for the key parameter ``key`` is matched."""
    return _MATCH_RULES.get(key, f"The {key} is matched as given.")
