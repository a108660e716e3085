"""Where the time goes, as the measured runs report it: the producer's summary line and
its split, a batch cycle's ``batch phases:`` line, the bench reading both, and the fair
floor's psql script rendered from the views' own SQL."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest

from bench import batch, fair_floor, phases
from ingestion import cli
from ingestion.producer import Stats
from lambda_common.settings import load_settings


def test_the_bench_reads_the_producers_own_summary_line() -> None:
    stats = Stats(sent=200_000, delivered=200_000, source_s=4.0, send_s=1.0, flush_s=0.25)
    stats.first_sent = time.monotonic()
    stats.finished = stats.first_sent + 10.0
    line = cli._summary(stats, ", seed 1")
    assert line.endswith("per event: source+encode 20.0 µs, send 5.0 µs; final flush 0.25s")
    stderr = f"some log line\n{line}\n"
    report = phases.producer_summary(stderr)
    assert report["sent"] == 200_000 and report["seconds"] == 10.0
    assert report["rate"] == 20_000
    assert (report["source_us"], report["send_us"], report["flush_s"]) == (20.0, 5.0, 0.25)
    # With start-up told apart (a real run), and a line of an older version (no split).
    real = "done: sent 1,000 events in 0.50s (2,000/s, start-up 1.25s before the first send), "
    assert phases.producer_summary(real + "delivered 1,000")["startup_s"] == 1.25
    assert "source_us" not in phases.producer_summary(real)
    with pytest.raises(ValueError, match="no producer summary"):
        phases.producer_summary("error: Kafka unreachable")


def test_a_producer_rows_breakdown_line_needs_the_split() -> None:
    row = {
        "contender": "KAFKA_CLIENT=confluent (1 process)",
        "source_us": 20.0,
        "send_us": 5.0,
        "flush_s": 0.1,
        "startup_s": 1.3,
    }
    line = phases.producer_line(row)
    assert line is not None and "source+encode 20.0, send 5.0 µs per event" in line
    assert phases.producer_line({"contender": "kcat -P"}) is None


def test_median_phases_and_the_per_event_line() -> None:
    runs = [{"copy": 1.0, "views": 3.0}, {"copy": 2.0, "views": 1.0}, {"copy": 3.0}]
    assert phases.median_phases(runs) == {"copy": 2.0, "views": 1.0}
    assert phases.median_phases([]) == {}
    line = phases.per_event_line("  ours", 2_000_000, {"copy": 2.0, "views": 1.0})
    assert line == "  ours, µs per event (2,000,000 events): copy 1.0, views 0.5"
    rows = [
        {"contender": "ours", "events": 1000, "phases_s": {"copy": 0.001}},
        {"contender": "floor", "events": 1000, "stock": "raw"},
    ]
    assert batch.phase_lines(rows) == ["  ours, µs per event (1,000 events): copy 1.0"]


@pytest.mark.usefixtures("clean_env")
def test_fair_floor_script_runs_every_views_own_sql_over_the_computed_range() -> None:
    settings = load_settings()
    script = fair_floor.render_script(
        settings, datetime(2026, 11, 21, 11), [Path("/w/t-0.tsv.gz"), Path("/w/t-1.tsv.gz")]
    )
    assert "\\copy floor_staging FROM PROGRAM 'gunzip -c /w/t-0.tsv.gz /w/t-1.tsv.gz'" in script
    assert "%(" not in script and "{" not in script  # every placeholder filled in
    assert "ON CONFLICT (tweet_id) DO NOTHING" in script
    for view in settings.views:
        statements = [line for line in script.splitlines() if f'"{view.batch_table}"' in line]
        assert [s.split()[0] for s in statements] == ["DELETE", "INSERT"]
    assert "DELETE FROM batch_daily" in script and "CAST('2026-11-21 11:00:00'" in script


@pytest.mark.usefixtures("clean_env")
def test_s3cmd_configuration_is_the_settings_server_and_owner_only(tmp_path: Path) -> None:
    settings = load_settings()
    path = tmp_path / "floor.s3cfg"
    fair_floor.s3cmd_config(settings, path)
    text = path.read_text()
    assert "host_base = localhost:9000\n" in text and "use_https = False\n" in text
    assert path.stat().st_mode & 0o077 == 0
