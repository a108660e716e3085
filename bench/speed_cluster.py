"""The speed layer's sustained rate on a Spark standalone cluster, beside ``local[*]``.

A master and ``BENCH_SPARK_WORKERS`` workers (default 2; cores and memory each from
SPARK_WORKER_CORES and SPARK_WORKER_MEMORY) are started as ``make spark-up`` starts them,
but in a temporary folder and on free loopback ports, so a cluster of ``make spark-up``
is neither used nor disturbed. The job runs on it as ``SPARK_MASTER=spark://... make
speed`` does, on a fresh lane, through the same ladder of offered rates as on
``local[*]`` (``bench.speed.sustained``), after a warm-up run. The cluster is stopped
afterwards, also on failure; its folder (daemons' and executors' logs) is removed only
after a success.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench import speed
from lambda_common.errors import BenchmarkError
from lambda_common.settings import Settings
from local_stack.spark import SparkCluster, SparkDaemon, cluster_settings, master_url

logger = logging.getLogger(__name__)

APP_NAME = "lambda-speed-layer"
WARM_UP_S = 20


def _shape(cluster: SparkCluster) -> dict[str, Any]:
    """What the master says the cluster gave the job: workers, their cores and memory,
    the cores the application holds."""
    master = cluster.services["master"]
    if not isinstance(master, SparkDaemon):
        raise BenchmarkError("the cluster has no master daemon")
    state = master.master_state()
    alive = [w for w in state.get("workers", []) if w.get("state") == "ALIVE"]
    apps = [a for a in state.get("activeapps", []) if a.get("name") == APP_NAME]
    return {
        "workers": len(alive),
        "worker_cores": [int(w.get("cores", 0)) for w in alive],
        "worker_memory_mb": [int(w.get("memory", 0)) for w in alive],
        "cores_used": [int(w.get("coresused", 0)) for w in alive],
        "app_cores": int(apps[0].get("cores", 0)) if apps else 0,
    }


def run(settings: Settings) -> dict[str, Any]:
    """Start a cluster, run the sustained ladder with the job on it, stop the cluster."""
    workers = int(os.environ.get("BENCH_SPARK_WORKERS", "2"))
    folder = Path(tempfile.mkdtemp(prefix="bench-spark-"))
    cluster = SparkCluster(cluster_settings(settings, folder, workers))
    url = master_url(cluster.settings)
    try:
        with ExitStack() as cleanup:
            cleanup.callback(cluster.down)
            for line in cluster.up():
                logger.info("%s", line)
            with speed.running_job(settings, "speedcl", master=url) as (lane, _):
                shape = _shape(cluster)
                logger.info("speed job on %s: %s", url, shape)
                # On local[*] the freshness runs come first and warm the job up; here a
                # run at the first rate, not reported, does (the executors' first
                # micro-batches compile and load what the later ones reuse).
                speed.sustained(lane, speed.ladder()[:1], seconds=WARM_UP_S)
                rows = speed.sustained(lane, speed.ladder())
    except BaseException:
        logger.warning("the cluster's daemons' and executors' logs stay in %s", folder)
        raise
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "master": url,
        "worker_cores_setting": settings.spark_worker_cores,
        "worker_memory_setting": settings.spark_worker_memory,
        **shape,
        "sustained": rows,
    }


def lines(local: dict[str, Any] | None, cluster: dict[str, Any]) -> list[str]:
    """The sustained ladder on the cluster, beside local[*]'s (when it ran): what the
    cluster gave the job, then a line per offered rate and master."""
    local_master = (local or {}).get("master", "local[*]")
    width = max(len(local_master), len("cluster"))
    memory = "/".join(map(str, sorted(set(cluster["worker_memory_mb"])))) or "0"
    cores = "+".join(map(str, cluster["worker_cores"]))
    out = [
        f"\nspeed sustained, {local_master} vs a standalone cluster of "
        f"{cluster['workers']} workers ({cores} cores, {memory} MB each; the job held "
        f"{cluster['app_cores']} cores), {speed.SUSTAINED_SECONDS} s per rate:",
        f"  {'rate/s':>7}  {'master':<{width}} {'offered/s':>9} {'processed':>10} "
        f"{'capacity/s':>10} {'median batch':>12}  kept up",
    ]
    by_rate = {s["rate"]: s for s in (local or {}).get("sustained", [])}
    for row in cluster["sustained"]:
        pairs = [(local_master, by_rate.get(row["rate"])), ("cluster", row)]
        for i, (where, s) in enumerate((w, s) for w, s in pairs if s is not None):
            rate = f"{row['rate']:>7,}" if i == 0 else " " * 7
            out.append(
                f"  {rate}  {where:<{width}} {s['offered_per_s']:>9,.0f} {s['processed']:>10,} "
                f"{s['capacity_per_s']:>10,.0f} {s['median_batch_s']:>11.2f}s  "
                f"{'yes' if s['kept_up'] else 'NO'}"
            )
    return out
