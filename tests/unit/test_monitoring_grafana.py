"""monitoring/grafana-dashboard.json: made by lambda_monitoring/grafana.py with Grafana
Labs' builder library, checked against Grafana's dashboard schema as that library models
it (its types are generated from the schema; decoding keeps only what the schema knows at
each place), laid out on Grafana's 24-column grid, and querying only metrics the
dashboard exports. No Grafana runs here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from grafana_foundation_sdk.cog import plugins
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard as DashboardModel

from lambda_monitoring.grafana import render_dashboard
from tests.unit.test_monitoring_rules import (
    PROMETHEUS_SERIES,
    _exported,
    _selectors,
)

pytestmark = pytest.mark.unit

FILE = Path(__file__).resolve().parents[2] / "monitoring" / "grafana-dashboard.json"


def _shipped() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FILE.read_text())
    return data


def _missing(want: Any, got: Any, where: str = "") -> list[str]:
    """What of ``want`` is not in ``got`` (``got`` may hold more: the schema's defaults)."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return [f"{where}: not an object"]
        return [m for k, v in want.items() for m in _missing(v, got.get(k), f"{where}/{k}")]
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return [f"{where}: not a list of {len(want)}"]
        return [
            m
            for i, (w, g) in enumerate(zip(want, got, strict=True))
            for m in _missing(w, g, f"{where}/{i}")
        ]
    return [] if want == got else [f"{where}: {want!r} became {got!r}"]


def test_the_shipped_file_is_what_the_code_makes() -> None:
    assert FILE.read_text() == render_dashboard(), (
        "monitoring/grafana-dashboard.json is out of date: run make monitoring-files"
    )


def test_every_key_is_one_grafanas_dashboard_schema_knows_where_it_stands() -> None:
    plugins.register_default_plugins()  # the panels' and queries' own option types
    data = _shipped()
    decoded = json.loads(JSONEncoder(sort_keys=True).encode(DashboardModel.from_json(data)))
    assert _missing(data, decoded) == []
    # The check sees a key the schema does not know (decoding drops it).
    wrong = {**data, "panels": [{**data["panels"][1], "legend_mode": "table"}]}
    again = json.loads(JSONEncoder().encode(DashboardModel.from_json(wrong)))
    assert _missing(wrong, again) == ["/panels/0/legend_mode: 'table' became None"]


def test_layout_ids_and_datasource() -> None:
    data = _shipped()
    assert isinstance(data["schemaVersion"], int) and data["uid"] == "lambda-tweets"
    (variable,) = data["templating"]["list"]
    assert (variable["type"], variable["query"], variable["name"]) == (
        "datasource", "prometheus", "datasource",
    )  # fmt: skip
    panels = data["panels"]
    assert [p["id"] for p in panels] == list(range(1, len(panels) + 1))
    cells: set[tuple[int, int]] = set()
    for p in panels:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24, p["title"]
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not mine & cells, f"{p['title']} overlaps another panel"
        cells |= mine
        if p["type"] != "row":
            assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert p["targets"] and p["description"], p["title"]
            assert len({t["refId"] for t in p["targets"]}) == len(p["targets"])


def test_every_query_uses_metrics_the_dashboard_exports() -> None:
    exported = _exported()
    for p in _shipped()["panels"]:
        for target in p.get("targets", []):
            for name, labels in _selectors(target["expr"].replace("vector(0)", "")):
                if name in PROMETHEUS_SERIES or name in ("sum", "min", "max", "count"):
                    continue
                assert name in exported, f"{p['title']}: {name} is not on /metrics"
                assert set(labels) <= exported[name], (p["title"], name, labels)
