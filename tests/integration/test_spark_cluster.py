"""The speed layer on a real Spark standalone cluster: a master and two workers started as
``make spark-up`` starts them (in the test's own folder, on free ports), the job as
``SPARK_MASTER=spark://127.0.0.1:PORT make speed`` runs it, its speed tables compared with
the test's own aggregation of the lane's topic, then the cluster stopped."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lambda_common.errors import ServiceUnavailable
from lambda_common.warehouse import Warehouse
from local_stack.spark import SparkCluster, SparkDaemon, master_url
from tests.stack import StackHandle
from tests.topology import spark_cluster, spark_daemon

from .helpers import Lane, SpeedJob, wait_until_equal
from .test_speed_layer import _events, _send_events, _speed, _speed_expected


@pytest.fixture
def cluster(stack: StackHandle, tmp_path: Path) -> Iterator[SparkCluster]:
    with spark_cluster(stack.settings, tmp_path / "stack") as handle:
        yield handle


def _master(cluster: SparkCluster) -> SparkDaemon:
    return spark_daemon(cluster, "master")


def test_the_speed_job_runs_exactly_on_a_two_worker_cluster(
    lane: Lane, cluster: SparkCluster, tmp_path: Path
) -> None:
    lines = cluster.up()
    assert [line.split()[:2] for line in lines] == [
        ["master", "started"],
        ["worker-1", "started"],
        ["worker-2", "started"],
    ]
    assert all("already running" in line for line in cluster.up())  # idempotent
    assert _master(cluster).master_state()["aliveworkers"] == 2

    with Warehouse(lane.settings) as wh:
        wh.ensure_schema()  # what the job does at start; the oracle reads the horizon too
    now = datetime.now(UTC)
    _send_events(lane, _events(51, 1000, now - timedelta(hours=1), now))
    job = SpeedJob(lane, tmp_path)
    job.env["SPARK_MASTER"] = master_url(cluster.settings)
    job.start()
    try:
        wait_until_equal(job, lambda: _speed(lane), lambda: _speed_expected(lane))
        # The job is the cluster's application, with an executor (one core) on each worker.
        state = _master(cluster).master_state()
        apps = [app for app in state["activeapps"] if app["name"] == "lambda-speed-layer"]
        assert len(apps) == 1 and apps[0]["cores"] == 2, state["activeapps"]
        assert [w["coresused"] for w in state["workers"] if w["state"] == "ALIVE"] == [1, 1]
        # Ctrl-C (SIGINT) stops the job cleanly, as SIGTERM does.
        assert job.process is not None
        job.process.send_signal(signal.SIGINT)
        assert job.process.wait(timeout=60) == 0, job.tail()
    finally:
        if job.alive():
            job.kill()
    # Each executor ran in its worker's work folder (it holds the executor's log).
    for name in ("worker-1", "worker-2"):
        logs = list((cluster.stack_dir / "spark" / name / "work").glob("app-*/*/stderr"))
        assert logs, name

    lines = cluster.down()
    assert [line.split()[:2] for line in lines] == [
        ["worker-2", "stopped"],
        ["worker-1", "stopped"],
        ["master", "stopped"],
    ]
    assert all(st.pid is None for st in cluster.status())
    with pytest.raises(ServiceUnavailable):
        _master(cluster).master_state()
