"""The benchmarks' own logic without the local stack: BENCH_ONLY's parts, the landing
processes a batch-scale run implies, the cluster's ladder beside local[*]'s, and the
cluster stopped whether the speed job runs or fails, the replay contenders' file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from bench import goals, producer, speed, speed_cluster
from bench.batch_scale import landing_processes
from ingestion.replay import parse_lines
from lambda_common.contract import Event
from lambda_common.errors import BenchmarkError
from lambda_common.settings import Settings, load_settings


def test_bench_only_defaults_to_every_part_and_refuses_an_unknown_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BENCH_ONLY", raising=False)
    assert producer.parts() == set(producer.PARTS)
    monkeypatch.setenv("BENCH_ONLY", "batch, speed-cluster")
    assert producer.parts() == {"batch", "speed-cluster"}
    monkeypatch.setenv("BENCH_ONLY", "batch,speed_cluster")
    with pytest.raises(BenchmarkError, match="no such part: speed_cluster"):
        producer.parts()


@pytest.mark.parametrize(
    ("events", "processes", "cpus", "expected"),
    [
        (20_000, 1, 2, 1),  # below 50,000 offsets: the cycle lands in its own process
        (20_000, 2, 2, 2),
        (1_000_000, 1, 2, 2),  # a pool of one worker per CPU
        (1_000_000, 2, 2, 4),  # two pools on the same two CPUs
        (1_000_000, 2, 8, 12),  # at most one worker per chunk: 2 partitions x 3 chunks
    ],
)
def test_landing_processes(events: int, processes: int, cpus: int, expected: int) -> None:
    assert landing_processes(events, processes, cpus) == expected


def test_the_scale_note_says_what_two_cpus_can_show(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    note = producer.scale_note({"batch-scale", "speed-cluster"})
    assert "the 2 batch processes and the Spark cluster's workers share the same 2 cores" in note
    assert note.endswith("not scale-out gains")
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert "scale-out across machines is not measured" in producer.scale_note({"speed-cluster"})


def _ladder_row(rate: int, processed: int, kept_up: bool) -> dict[str, Any]:
    return {
        "rate": rate,
        "offered_per_s": rate * 0.99,
        "processed": processed,
        "capacity_per_s": 2.5 * rate,
        "batches": 30,
        "median_batch_s": 0.4,
        "kept_up": kept_up,
    }


def test_the_cluster_ladder_is_printed_beside_local() -> None:
    cluster = {
        "workers": 2,
        "worker_cores": [1, 1],
        "worker_memory_mb": [1024, 1024],
        "app_cores": 2,
        "sustained": [_ladder_row(2000, 60_000, True), _ladder_row(4000, 90_000, False)],
    }
    local = {"master": "local[*]", "sustained": [_ladder_row(2000, 59_500, True)]}
    lines = speed_cluster.lines(local, cluster)
    assert "2 workers (1+1 cores, 1024 MB each; the job held 2 cores)" in lines[0]
    assert lines[2].split() == ["2,000", "local[*]", "1,980", "59,500", "5,000", "0.40s", "yes"]
    assert lines[3].split() == ["cluster", "1,980", "60,000", "5,000", "0.40s", "yes"]
    # A rate local[*] did not run: the cluster's row alone, labelled with the rate.
    assert lines[4].split() == ["4,000", "cluster", "3,960", "90,000", "10,000", "0.40s", "NO"]
    assert speed_cluster.lines(None, cluster)[2].split()[:2] == ["2,000", "cluster"]


class FakeCluster:
    """Records ``up`` and ``down`` instead of starting Spark."""

    instances: ClassVar[list[FakeCluster]] = []

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.calls: list[str] = []
        self.instances.append(self)

    def up(self) -> list[str]:
        self.calls.append("up")
        return ["master started"]

    def down(self) -> list[str]:
        self.calls.append("down")
        return ["master stopped"]


@pytest.fixture
def fake_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Settings]:
    monkeypatch.chdir(tmp_path)  # no developer .env
    monkeypatch.setattr(speed_cluster, "SparkCluster", FakeCluster)
    monkeypatch.setattr(speed_cluster.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(speed, "ladder", lambda: [500])
    FakeCluster.instances.clear()
    yield load_settings(local_stack_dir=tmp_path / "stack")


def test_the_cluster_is_stopped_and_its_folder_kept_when_the_job_fails(
    fake_cluster: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    @contextmanager
    def failing_job(settings: Settings, kind: str, master: str | None = None) -> Iterator[Any]:
        assert master is not None and master.startswith("spark://127.0.0.1:")
        raise BenchmarkError("the speed layer did not start")
        yield  # pragma: no cover

    monkeypatch.setattr(speed, "running_job", failing_job)
    with pytest.raises(BenchmarkError, match="did not start"):
        speed_cluster.run(fake_cluster)
    (cluster,) = FakeCluster.instances
    assert cluster.calls == ["up", "down"]
    assert cluster.settings.local_stack_dir.exists()  # its logs, to read


def test_the_cluster_runs_the_ladder_then_stops_and_is_removed(
    fake_cluster: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    @contextmanager
    def job(settings: Settings, kind: str, master: str | None = None) -> Iterator[Any]:
        yield "lane", 1

    shape = {"workers": 2, "worker_cores": [1, 1], "app_cores": 2}
    monkeypatch.setattr(speed, "running_job", job)
    monkeypatch.setattr(speed_cluster, "_shape", lambda cluster: shape)
    runs: list[tuple[list[int], int]] = []

    def ladder(lane: Any, rates: list[int], seconds: int = speed.SUSTAINED_SECONDS) -> Any:
        runs.append((rates, seconds))
        return [_ladder_row(r, 1, True) for r in rates]

    monkeypatch.setattr(speed, "sustained", ladder)
    result = speed_cluster.run(fake_cluster)
    # A warm-up at the first rate, not reported, then the ladder.
    assert runs == [([500], speed_cluster.WARM_UP_S), ([500], speed.SUSTAINED_SECONDS)]
    (cluster,) = FakeCluster.instances
    assert cluster.calls == ["up", "down"]
    assert not cluster.settings.local_stack_dir.exists()
    assert result["app_cores"] == 2 and [r["rate"] for r in result["sustained"]] == [500]
    assert result["master"] == f"spark://127.0.0.1:{cluster.settings.spark_master_port}"


def test_the_replay_file_holds_the_synthetic_contenders_events(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(producer, "REPO", tmp_path)
    tsv, jsonl = producer._write_events(50)
    keyed = [line.split(b"\t", 1) for line in tsv.read_bytes().splitlines()]
    lines = jsonl.read_bytes().splitlines()
    assert len(lines) == 50 and [value for _, value in keyed] == lines
    # Replayed, they are the same events (but for their source).
    replayed = list(parse_lines(lines, now=datetime(2026, 12, 1, tzinfo=UTC)))
    assert [e.tweet_id.encode() for e in replayed if isinstance(e, Event)] == [k for k, _ in keyed]
    written = tsv.stat().st_mtime_ns
    producer._write_events(50)  # written once: the files are kept
    assert tsv.stat().st_mtime_ns == written


def _row(benchmark: str, contender: str, ratio: float) -> dict[str, Any]:
    return {"benchmark": benchmark, "contender": contender, "ratio": ratio}


def test_goals_judge_our_best_contender_against_each_target() -> None:
    producer_rows = [
        _row("producer events/s", "python -m ingestion (1 process)", 0.03),
        _row("producer events/s", "KAFKA_CLIENT=confluent --workers 2", 0.26),
        _row("producer events/s", "kcat -P (pre-generated)", 1.0),
    ]
    batch_rows = [
        _row("batch cycle events/s", "batch cycle (land+COPY+view)", 0.41),
        _row("batch cycle events/s", "batch cycle, KAFKA_CLIENT=confluent", 0.55),
        _row("batch cycle events/s", "kcat -C | gzip; psql \\copy", 1.0),
    ]
    speed_result = {
        "freshness": {"rate": 2000, "p95_s": 2.4},
        "drain": {"capacity_per_s": 18_045.2},
        "sustained": [
            {"offered_per_s": 15_900.0, "kept_up": True},
            {"offered_per_s": 31_700.0, "kept_up": False},
        ],
    }
    judged = {g.name: g for g in goals.judge(producer_rows, batch_rows, speed_result)}
    assert judged["producer vs kcat -P"].met
    assert "KAFKA_CLIENT=confluent --workers 2" in judged["producer vs kcat -P"].achieved
    assert not judged["batch cycle vs its floor"].met
    assert judged["batch cycle vs its floor"].achieved.startswith("0.55")
    speed_goal = judged["speed layer kept up (local[*])"]
    assert not speed_goal.met
    assert speed_goal.achieved == "15,900/s, fell behind at 31,700/s"
    assert judged["speed capacity, backlog (local[*])"].achieved == "18,045/s"
    assert not judged["speed capacity, backlog (local[*])"].met
    assert not judged["freshness p95 at 2,000/s"].met
    assert "MISSED" in judged["freshness p95 at 2,000/s"].line()


def test_goals_skip_the_parts_the_run_left_out_and_meet_at_the_boundary() -> None:
    speed_result = {
        "freshness": {"rate": 2000, "p95_s": 2.0},
        "drain": {"capacity_per_s": 25_000.0},
        "sustained": [{"offered_per_s": 25_000.0, "kept_up": True}],
    }
    judged = goals.judge([], [], speed_result)
    assert [g.name for g in judged] == [
        "speed layer kept up (local[*])",
        "speed capacity, backlog (local[*])",
        "freshness p95 at 2,000/s",
    ]
    assert all(g.met for g in judged)
    assert goals.judge([], [], None) == []
