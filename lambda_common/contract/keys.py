"""The grouping keys of an event (CONTRACT section 2b): its location, its language and its
hashtags as the views group them. Every layer takes its keys from here."""

from __future__ import annotations

__all__ = [
    "MAX_HASHTAG_CHARS",
    "MAX_LANG_CHARS",
    "MAX_LOCATION_CHARS",
    "UNKNOWN_LANG",
    "UNKNOWN_LOCATION",
    "normalize_hashtags",
    "normalize_lang",
    "normalize_location",
]

MAX_LOCATION_CHARS = 200
"""Grouping keeps at most this many code points of the trimmed location."""

UNKNOWN_LOCATION = "(unknown)"
"""The grouping key of an absent or blank location."""

MAX_HASHTAG_CHARS = 100
"""The ``hashtags`` view keeps at most this many code points of a normalised hashtag."""

MAX_LANG_CHARS = 35
"""The ``languages`` view keeps at most this many code points of the normalised ``lang``
(35 is BCP 47's longest registered language tag)."""

UNKNOWN_LANG = "(unknown)"
"""The grouping key of an absent or blank ``lang``."""

# Only the six ASCII whitespace characters the contract names. str.strip() with no
# argument would also remove U+00A0, U+3000, U+0085, U+001C..U+001F, which the
# contract says to keep verbatim.
_ASCII_WHITESPACE = " \t\n\r\f\v"


def normalize_location(raw: str | None) -> str:
    """The grouping key of a location.

    Trim surrounding ASCII whitespace (space, ``\\t``, ``\\n``, ``\\r``, ``\\f``, ``\\v``
    only -- not Unicode spaces such as U+00A0 or U+3000), then cut to the first 200 code
    points, trimmed again; absent or blank -> ``'(unknown)'``. Everything else is kept
    verbatim.
    """
    if raw is None:
        return UNKNOWN_LOCATION
    trimmed = raw.strip(_ASCII_WHITESPACE)
    if not trimmed:
        return UNKNOWN_LOCATION
    # Trim, cut, trim again (the contract's order): the cut may end in whitespace, and
    # Redshift compares VARCHAR ignoring trailing spaces, so "x" and "x " would be one
    # group there and two in PostgreSQL and Spark. No key ends in whitespace.
    return _trimmed_cut(trimmed, MAX_LOCATION_CHARS)


def _trimmed_cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` code points, then trimmed again (only a cut that ends in
    whitespace changes)."""
    cut = text[:limit]
    return cut.strip(_ASCII_WHITESPACE) if len(text) > limit else cut


def normalize_lang(raw: str | None) -> str:
    """The grouping key of ``lang``: surrounding ASCII whitespace trimmed, lower-cased as
    ``str.lower()`` does, cut to the first 35 code points, trimmed again; absent or blank
    -> ``'(unknown)'``."""
    if raw is None:
        return UNKNOWN_LANG
    trimmed = raw.strip(_ASCII_WHITESPACE)
    if not trimmed:
        return UNKNOWN_LANG
    # Lower first, then cut: str.lower() can lengthen a string ("İ" becomes two code
    # points), and the contract's order is trim, lower, cut.
    return _trimmed_cut(trimmed.lower(), MAX_LANG_CHARS)


def normalize_hashtags(raw: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The distinct hashtag keys of a tweet, in the order they first appear.

    Each element: surrounding ASCII whitespace trimmed, then one leading ``#`` removed,
    then lower-cased as ``str.lower()`` does, then cut to its first 100 code points, then
    trimmed again (``"# Kafka"`` is ``kafka``); an element empty after this is dropped.
    Two elements with the same key count once.
    """
    keys: dict[str, None] = {}
    for tag in raw:
        lowered = tag.strip(_ASCII_WHITESPACE).removeprefix("#").lower()
        key = lowered[:MAX_HASHTAG_CHARS].strip(_ASCII_WHITESPACE)
        if key:
            keys[key] = None
    return tuple(keys)
