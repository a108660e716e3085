"""The views, each defined once: one ``.sql`` file in this folder (CONTRACT sections 2 and
2b), read by :mod:`.definition`; the warehouse SQL every view gets from its definition
(its tables, serving view, batch rebuild and speed statements) is :mod:`.sql`'s. This
module holds no code of its own: it names the definitions' public API."""

from __future__ import annotations

from lambda_common.views.definition import (
    HOUR,
    LOCATIONS,
    MEASURES,
    RELATIONS,
    Key,
    View,
    load_views,
    parse_view,
    views_fingerprint,
)

__all__ = [
    "HOUR",
    "LOCATIONS",
    "MEASURES",
    "RELATIONS",
    "Key",
    "View",
    "load_views",
    "parse_view",
    "views_fingerprint",
]
