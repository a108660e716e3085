"""``make dashboard`` against the real warehouse: its JSON equals the serving views, its
``/metrics`` parses and agrees, headless Chromium draws both layers meeting at the
horizon and the status panel, and a warehouse that is down is a clear state, not a
broken page.

Each screenshot goes to the test's folder; the one ``make demo``'s test takes of the live
pipeline also to ``DASHBOARD_SCREENSHOT`` when set (the README's picture is taken so:
``DASHBOARD_SCREENSHOT=docs/dashboard.png``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from psycopg2 import sql

from lambda_common.warehouse import Warehouse
from serving_layer.dashboard.reads import POOL_WAIT_S, STATEMENT_TIMEOUT_S
from tests.compose_stack import free_port

from .helpers import REPO, Lane
from .test_serving_query import Data, data  # noqa: F401 - the seeded rows' fixture

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
WINDOW_HOURS = 24 * 60  # wider than every seeded row's age (40 days)
# A location whose text is markup Plotly would draw as a link (the review's finding 8).
PHISH = '<a href="https://phish.example/login">x</a>'


@contextmanager
def dashboard(env: dict[str, str], log: Path) -> Iterator[str]:
    """``python -m serving_layer dashboard`` on a free port; yields its base URL once it
    answers."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "serving_layer", "dashboard"],
            cwd=REPO,
            env={**os.environ, **env, "DASHBOARD_PORT": str(port), "DASHBOARD_REFRESH": "1s"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                get(f"{base}/healthz")
                break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0, log.read_text()[-3000:]
    assert "Traceback" not in log.read_text()


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - http://127.0.0.1
        return bytes(response.read())


def status_code(url: str, headers: dict[str, str]) -> int:
    """The HTTP status of a GET with these headers (its body one line, if an error)."""
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - http://127.0.0.1
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as e:
        assert len(e.read().decode().strip().splitlines()) == 1
        return e.code


def get_json(url: str) -> Any:
    return json.loads(get(url))


def status_of(base: str) -> dict[str, Any]:
    """``/api/status`` once the monitor has gathered."""
    deadline = time.monotonic() + 60
    while (doc := get_json(f"{base}/api/status"))["status"] is None:
        assert time.monotonic() < deadline, "the health monitor never gathered"
        time.sleep(0.5)
    return dict(doc)


def served(lane: Lane, serving: str, keys: list[str], since: datetime) -> dict[Any, int]:
    """Tweets per hour and per key of a serving view since ``since``, read directly."""
    per_hour: dict[Any, int] = defaultdict(int)
    per_key: dict[Any, int] = defaultdict(int)
    with Warehouse(lane.settings) as wh:
        rows = wh.query(
            sql.SQL("SELECT event_hour, {}, tweet_count FROM {} WHERE event_hour >= %s").format(
                sql.SQL(", ").join(map(sql.Identifier, keys)), sql.Identifier(serving)
            ),
            (since,),
        )
    for row in rows:
        per_hour[row[0]] += row[-1]
        per_key[tuple(row[1:-1])] += row[-1]
    return {"hours": dict(per_hour), "keys": dict(per_key)}


def test_endpoints_metrics_and_page(lane: Lane, data: Data, tmp_path: Path) -> None:  # noqa: F811
    with dashboard(lane.env(), tmp_path / "dashboard.log") as base:
        views = get_json(f"{base}/api/views")["views"]
        assert [v["name"] for v in views] == ["locations", "hashtags", "languages"]
        for view in views:
            name = view["name"]
            hours = get_json(f"{base}/api/views/{name}/hours?hours={WINDOW_HOURS}")
            since = datetime.fromisoformat(hours["since"].removesuffix("Z"))
            truth = served(lane, view["serving_view"], view["keys"], since)
            got = {
                datetime.fromisoformat(r["hour"].removesuffix("Z")): r["tweets"]
                for r in hours["rows"]
            }
            assert got == truth["hours"], name
            assert hours["horizon"] == data.horizon.isoformat() + "Z"
            for row in hours["rows"]:  # each hour labelled by the layer serving it
                hour = datetime.fromisoformat(row["hour"].removesuffix("Z"))
                assert row["layer"] == ("batch" if hour < data.horizon else "speed"), row
            assert {r["layer"] for r in hours["rows"]} == {"batch", "speed"}, name
            top = get_json(f"{base}/api/views/{name}/top?hours={WINDOW_HOURS}&limit=100")
            assert top["total"] == sum(truth["keys"].values()), name
            assert {
                tuple(r["key"][k] for k in view["keys"]): r["tweets"] for r in top["rows"]
            } == truth["keys"]
            assert abs(sum(r["share"] for r in top["rows"]) - 1) < 1e-4, name

        status = status_of(base)
        names = {c["name"]: c["level"] for c in status["checks"]}
        for name in ("locations", "hashtags", "languages"):
            assert names[f"serving.integrity.{name}"] == "OK"
        assert status["horizon"] == data.horizon.isoformat() + "Z"

        # /metrics: Prometheus' own parser reads it; the numbers are the serving views'.
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(get(f"{base}/metrics").decode())
            for s in family.samples
        }
        assert samples[("lambda_status_up", ())] == 1
        assert samples[("lambda_service_up", (("service", "warehouse"),))] == 1
        everything = served(lane, "serving_view", ["location"], datetime.min)
        assert samples[("lambda_view_tweets", (("view", "locations"),))] == sum(
            everything["hours"].values()
        )
        assert samples[("lambda_view_duplicate_keys", (("view", "hashtags"),))] == 0
        assert ("lambda_batch_horizon_age_seconds", ()) in samples

        # Another site's name resolved to this machine (DNS rebinding) reads nothing; a
        # bad parameter and an unknown path are the client's mistakes, said in one line.
        for path, headers, code in (
            ("/api/views/locations/top", {"Host": "evil.example"}, 400),
            ("/healthz", {"Host": f"evil.example:{base.rsplit(':', 1)[1]}"}, 400),
            ("/api/views/locations/hours?hours=0", {}, 400),
            ("/api/nope", {}, 404),
            ("/api/views/nope/top", {}, 404),
        ):
            assert status_code(base + path, headers) == code, (path, headers)
        assert status_code(f"{base}/healthz", {"Host": "localhost:1"}) == 200

        page = browse(base, tmp_path)
        assert page["horizon_labels"] >= 3, page  # one horizon marker per view's chart
        assert page["bar_traces"] >= 6, page  # batch and speed bars in each of 3 charts
        assert page["checks"] == len(status["checks"]), page
        assert page["refreshed"] >= 2, page  # it updated itself without a reload
        assert not page["banner"], page
        assert page["chart_links"] == 0, page


def browse(
    base: str,
    folder: Path,
    *,
    expect_error: bool = False,
    keep: bool = False,
    extra: Callable[[Any], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Load the page in headless Chromium; what it drew, and a screenshot (``keep``: also
    to ``DASHBOARD_SCREENSHOT``). ``extra(page)`` adds what a test looks at itself."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1500})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(base + "/", wait_until="networkidle")
            if expect_error:
                page.wait_for_selector("#banner:not([hidden])", timeout=30_000)
            else:
                page.wait_for_selector("#view-languages .hours-chart .main-svg", timeout=30_000)
                page.wait_for_selector("#checks tbody tr", timeout=30_000)
            # Polled from here: the page's Content-Security-Policy forbids the eval that
            # Playwright's wait_for_function needs, as it should.
            deadline = time.monotonic() + 30
            while page.evaluate("() => Number(document.body.dataset.refreshed || 0)") < 2:
                assert time.monotonic() < deadline, "the page never redrew itself"
                time.sleep(0.2)
            shot = folder / "dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
            if keep and (target := os.environ.get("DASHBOARD_SCREENSHOT")):
                shutil.copyfile(shot, target)
            drawn = page.evaluate(
                """() => ({
                    horizon_labels: [...document.querySelectorAll('.hours-chart .annotation-text')]
                        .filter((e) => e.textContent.startsWith('horizon')).length,
                    bar_traces: document.querySelectorAll('.hours-chart .trace.bars').length,
                    checks: document.querySelectorAll('#checks tbody tr').length,
                    refreshed: Number(document.body.dataset.refreshed || 0),
                    banner: document.getElementById('banner').hidden ? '' :
                        document.getElementById('banner').textContent,
                    badge: document.getElementById('status-badge').textContent,
                    // Plotly draws markup of a text as SVG elements: a link would be one.
                    chart_links: document.querySelectorAll('.chart svg a').length,
                })"""
            )
            if extra is not None:
                drawn.update(extra(page))
            assert not errors, errors
            assert shot.stat().st_size > 10_000
            return dict(drawn)
        finally:
            browser.close()


def test_warehouse_down_is_a_clear_state(lane: Lane, tmp_path: Path) -> None:
    """A reader DSN to a port where nothing listens: one-line JSON errors, the service
    gauge at 0, a banner on the page; never a password."""
    closed = free_port()
    env = {
        **lane.env(),
        "QUERY_DSN": f"postgresql://lambda_reader:secret-pw-123@127.0.0.1:{closed}/lambda",
    }
    with dashboard(env, tmp_path / "dashboard.log") as base:
        with pytest.raises(urllib.error.HTTPError) as failed:
            get(f"{base}/api/views/locations/hours")
        assert failed.value.code == 503
        body = json.loads(failed.value.read())
        assert body["kind"] == "unavailable" and "unreachable" in body["error"]
        assert "secret-pw-123" not in json.dumps(body)
        status = status_of(base)
        assert status["status"] == "FAIL" and status["errors"]["warehouse"]
        metrics = get(f"{base}/metrics").decode()
        assert 'lambda_service_up{service="warehouse"} 0.0' in metrics
        assert "secret-pw-123" not in metrics
        page = browse(base, tmp_path, expect_error=True)
        assert "unreachable" in page["banner"] and page["badge"] == "FAIL", page


def top_chart(page: Any) -> dict[str, Any]:
    """What the locations card's top chart holds and shows: the figure's labels, the
    tick texts, and the hover label of its longest bar (the key with the most tweets;
    None when no hover label came)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    chart = "#view-locations .top-chart"
    shown = page.evaluate(
        """(chart) => ({
            figure_y: document.querySelector(chart).data[0].y,
            ticks: [...document.querySelectorAll(`${chart} .ytick text`)].map((e) => e.textContent),
        })""",
        chart,
    )
    # Plotly listens on the plot area drawn over the bars: move there, past that check.
    page.locator(f"{chart} .bars .point").last.hover(force=True)
    try:
        page.wait_for_selector(f"{chart} .hoverlayer .hovertext", timeout=10_000)
    except PlaywrightTimeout:
        return {**shown, "hover": None, "hover_links": None}
    hover = page.evaluate(
        """(chart) => ({
            hover: document.querySelector(`${chart} .hoverlayer`).textContent,
            hover_links: document.querySelectorAll(`${chart} .hoverlayer a`).length,
        })""",
        chart,
    )
    return {**shown, **hover}


def test_markup_in_a_key_is_drawn_as_text(lane: Lane, data: Data, tmp_path: Path) -> None:  # noqa: F811
    """A location that is HTML reaches Plotly escaped, so the chart shows its text: no
    link, no styled span, in the ticks or the hover label (finding 8)."""
    with Warehouse(lane.settings) as wh:
        wh.execute(
            "INSERT INTO speed_view VALUES (%s, %s, %s, %s, %s, %s)",
            (data.h, PHISH, 10_000, 1, 1, 1),
        )
    with dashboard(lane.env(), tmp_path / "dashboard.log") as base:
        top = get_json(f"{base}/api/views/locations/top?hours=24&limit=10")
        assert top["rows"][0]["key"] == {"location": PHISH}  # scripts get the value
        assert "<" not in json.dumps([r["label"] for r in top["rows"]]), top
        page = browse(base, tmp_path, extra=top_chart)
    assert not any("<a" in y for y in page["figure_y"]), page["figure_y"]
    assert PHISH in page["ticks"], page["ticks"]  # drawn as its own text
    assert page["chart_links"] == 0, page
    assert page["hover"] is not None and PHISH in page["hover"], page
    assert page["hover_links"] == 0, page


def timed_get(url: str, timeout: float) -> tuple[int, float, str]:
    """A GET's status, how long it took and its body (status 0: no answer in time)."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
            status, body = int(response.status), response.read().decode()
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read().decode()
    except OSError as e:
        status, body = 0, str(e)
    return status, time.monotonic() - started, body


def test_a_busy_warehouse_is_a_quick_503_while_liveness_answers(
    lane: Lane,
    data: Data,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A writer holds ACCESS EXCLUSIVE on ``batch_horizon``, which every chart read
    needs: 45 concurrent reads all get a one-line 503 "busy" within the pool's wait bound
    plus the statement timeout, while /healthz and /metrics answer within 1 s each, from
    the monitor's last snapshot; once the lock goes, the charts read again (finding 4)."""
    bound = POOL_WAIT_S + STATEMENT_TIMEOUT_S["postgres"] + 3  # 3 s: start-up and slack
    paths = [
        f"/api/views/{view}/{chart}?hours=24"
        for view in ("locations", "hashtags", "languages")
        for chart in ("hours", "top")
    ]
    with dashboard(lane.env(), tmp_path / "dashboard.log") as base:
        status_of(base)  # the monitor has gathered once
        probes: list[tuple[str, int, float]] = []
        with Warehouse(lane.settings) as writer, writer.transaction() as cur:
            cur.execute("LOCK TABLE batch_horizon IN ACCESS EXCLUSIVE MODE")
            with ThreadPoolExecutor(45) as pool:
                reads = [
                    pool.submit(timed_get, base + paths[i % len(paths)], bound + 30)
                    for i in range(45)
                ]
                while not all(r.done() for r in reads):
                    for path in ("/healthz", "/metrics"):
                        code, took, _ = timed_get(base + path, 5)
                        probes.append((path, code, took))
                    time.sleep(0.2)
            answers = [r.result() for r in reads]
            # The writer still holds the lock here: every read failed without it going.
        after = get_json(base + paths[0])
    slow = [(path, code, round(took, 2)) for path, code, took in probes if code != 200 or took >= 1]
    assert len(probes) >= 10 and not slow, slow
    assert {code for code, _, _ in answers} == {503}, answers
    assert max(took for _, took, _ in answers) <= bound, sorted(t for _, t, _ in answers)
    for _, _, body in answers:
        assert json.loads(body)["kind"] == "busy", body
        assert len(body.splitlines()) == 1 and "lambda_reader" not in body, body
    assert after["horizon"] == data.horizon.isoformat() + "Z"  # reads again, lock gone
