"""The values bound to a named query: its parameters from the command line, checked
against its declaration, plus the two values every query may use (see the ``query``
command's description: ``now`` and ``since``).

A parameter named after a view key (``location``, ``hashtag``, ``lang``) is matched as
the pipeline groups that key (:mod:`lambda_common.contract`): ``" Paris "`` finds
``Paris``, ``"#Python "`` finds ``python``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from lambda_common.contract.rows import warehouse_text
from lambda_common.errors import QueryUsageError
from serving_layer.catalogue import NamedQuery, positive_int
from serving_layer.key_params import KEY_NORMALISERS


def parse_param_pairs(pairs: Sequence[str]) -> dict[str, str]:
    """``["hours=24", "location=Paris"]`` -> ``{"hours": "24", "location": "Paris"}``.

    Only the first ``=`` separates, so a value may hold more. A pair without ``=`` or a
    name given twice raises ``QueryUsageError``.
    """
    given: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise QueryUsageError(f"--param expects NAME=VALUE, got {pair[:60]!r}")
        if key in given:
            raise QueryUsageError(f"parameter {key} is given twice")
        given[key] = value
    return given


def utc_now() -> datetime:
    """The current time in UTC, without time zone (how the views store time)."""
    return datetime.now(UTC).replace(tzinfo=None)


def bind_params(
    query: NamedQuery, given: Mapping[str, str], *, now: datetime | None = None
) -> dict[str, Any]:
    """The values to bind for ``query``: its parameters (``given`` over the defaults,
    validated) plus the derived ``now`` and ``since`` (see the module's description).

    Raises ``QueryUsageError`` for an unknown name, a missing required parameter, a
    value that is not a positive whole number where one is expected, or a hashtag that
    normalises to nothing; the message names the query's parameters.
    """
    declared = {p.name: p for p in query.params}
    spec = query.describe_params() or "none"
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise QueryUsageError(
            f"query {query.name} has no parameter {unknown[0]!r}; its parameters: {spec}"
        )
    values: dict[str, Any] = {}
    for param in query.params:
        raw = given.get(param.name)
        if raw is None:
            if param.required:
                raise QueryUsageError(
                    f"query {query.name} needs --param {param.name}=VALUE; its parameters: {spec}"
                )
            values[param.name] = param.default
        elif param.kind == "int":
            values[param.name] = positive_int(param.name, raw)
        else:
            values[param.name] = raw
        normalize = KEY_NORMALISERS.get(param.name)
        if normalize is not None and param.kind == "text":
            # NUL as the warehouse stores it (lambda_common.contract.rows).
            values[param.name] = warehouse_text(normalize(values[param.name]))
    now = utc_now() if now is None else now
    values["now"] = now
    values["since"] = window_start(now, values.get("hours"), values.get("days"))
    return values


def window_start(now: datetime, hours: int | None, days: int | None) -> datetime | None:
    """The start of a window of the last ``hours`` (the current hour and ``hours - 1``
    before it) or the last ``days`` (today and ``days - 1`` before), as the named queries
    and the dashboard read them; None when neither is given."""
    try:
        if hours is not None:
            return now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
        if days is not None:
            return datetime(now.year, now.month, now.day) - timedelta(days=days - 1)
    except OverflowError:
        return datetime.min  # a window reaching back before year 1: everything
    return None
