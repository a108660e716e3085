"""Faults on the scaled-out topology: a 3-node Kafka cluster (the topic replicated three
times, two in sync), the speed job on a 2-worker Spark standalone cluster, two batch
schedulers on disjoint partitions (``PARTITIONS=0/2`` and ``1/2``), and a producer
streaming all along. A fault hits one machine of it:

- the Kafka node leading a partition is SIGKILLed, and started again later;
- a Spark worker is SIGKILLed with its executors (its machine lost);
- one of the two batch processes is SIGKILLed, and started again later.

Then, with every process still running and nobody running a cycle by hand, every event
the producer sent (its own record: the seeded sequence it reports delivered in full) is
counted exactly once in every serving view, raw_tweets holds each tweet's winning copy,
and a poller reading the serving views all along never saw a key served twice.

``make test`` runs all three faults in one stream at a quick size; ``make chaos`` runs
each on its own at full size too. The one stream runs under both ``KAFKA_CLIENT``s, in
both; each fault on its own under kafka-python (``client_params`` in the conftest).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingestion.synthetic import SyntheticOptions, SyntheticTweets
from lambda_common.contract import Event, parse_event
from lambda_common.contract.rows import warehouse_text
from lambda_common.kafka.broker import ensure_topic
from lambda_common.settings import Settings
from lambda_common.warehouse import Warehouse
from local_stack.spark import SparkCluster, master_url
from local_stack.stack import LocalStack
from tests.integration.helpers import (
    CATCH_UP_S,
    SHIPPED_KEYS,
    Lane,
    ServingPoller,
    SpeedJob,
    ViewKey,
    ViewSums,
    aggregate,
    all_views_rows,
    mismatch,
)
from tests.stack import StackHandle
from tests.topology import (
    kafka_cluster,
    kafka_node,
    kill_machine,
    partition_leader,
    spark_cluster,
    spark_daemon,
)

from .conftest import Report, size
from .test_chaos import _cycles_logged, _kill, _process, _wait_for_micro_batches, _wait_until

PARTITION_SETS = ("0/2", "1/2")


@dataclass
class Topology:
    """The module's Kafka cluster and Spark cluster (PostgreSQL and S3: the session's)."""

    kafka: LocalStack
    spark: SparkCluster


@pytest.fixture(scope="module")
def topology(stack: StackHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    folder = tmp_path_factory.mktemp("topology")
    with (
        kafka_cluster(folder / "kafka", base=stack.settings) as kafka,
        spark_cluster(stack.settings, folder / "spark") as spark,
    ):
        spark.up()
        yield Topology(kafka, spark)


@pytest.fixture
def cluster_lane(stack: StackHandle, topology: Topology, kafka_client: str) -> Iterator[Lane]:
    """A private topic on the Kafka cluster (3 partitions, 3 replicas, 2 in sync) and a
    private warehouse schema, under the scenario's client; every node and worker up first
    (a scenario before may have left one down)."""
    topology.kafka.up(["kafka"])
    topology.spark.up()
    topic = stack.unique("chaos_topology")
    with Warehouse(stack.settings) as wh:
        wh.execute(f'CREATE SCHEMA "{topic}"')
    cluster = stack.settings.model_copy(
        update={"kafka_bootstrap_servers": topology.kafka.settings.kafka_bootstrap_servers}
    )
    settings = cluster.in_schema(topic, topic=topic)
    ensure_topic(settings, topic, partitions=3)
    with Warehouse(settings) as wh:
        wh.ensure_schema()
    yield Lane(settings, topic).with_client(kafka_client)
    with Warehouse(stack.settings) as wh:
        wh.execute(f'DROP SCHEMA "{topic}" CASCADE')


# -- the pipeline on the topology ---------------------------------------------------------


@dataclass
class Pipeline:
    """Every process of the pipeline for one scenario, and what it saw."""

    lane: Lane
    topology: Topology
    folder: Path
    report: Report
    speed: SpeedJob = field(init=False)
    batch: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    poller: ServingPoller = field(init=False)

    def __post_init__(self) -> None:
        self.speed = SpeedJob(self.lane, self.folder)
        self.speed.env["SPARK_MASTER"] = master_url(self.topology.spark.settings)
        self.poller = ServingPoller(self.lane.settings)

    def batch_log(self, partitions: str) -> Path:
        return self.folder / f"batch-{partitions.replace('/', '-of-')}.log"

    def start_batch(self, partitions: str) -> None:
        """``make batch PARTITIONS=...``, a cycle every 2 s."""
        self.batch[partitions] = _process(
            self.lane,
            self.batch_log(partitions),
            "batch_layer",
            "run",
            "--partitions",
            partitions,
            BATCH_INTERVAL="2s",
        )

    def all_alive(self) -> None:
        for partitions, process in self.batch.items():
            assert process.poll() is None, self.batch_log(partitions).read_text()[-3000:]
        assert self.speed.alive(), self.speed.tail()

    def stop(self) -> None:
        """SIGTERM to every process (each must exit 0), whatever happened before."""
        self.poller.stop.set()
        codes: dict[str, int | None] = {}
        for partitions, process in self.batch.items():
            if process.poll() is None:
                process.terminate()
            try:
                codes[partitions] = process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                _kill(process)
                codes[partitions] = None
        if self.speed.alive():
            codes["speed"] = self.speed.stop()
        assert all(code == 0 for code in codes.values()), codes


Fault = Callable[[Pipeline], str]
"""Injects one fault while the producer streams; returns a note for the report."""


def broker_leading_a_partition(pipeline: Pipeline) -> str:
    settings = pipeline.lane.settings
    leader = partition_leader(settings, settings.kafka_topic, 0)
    node = kafka_node(pipeline.topology.kafka, leader)
    pid = node.pid()
    assert pid is not None, f"{node.name} leads partition 0 but is not running"
    os.kill(pid, signal.SIGKILL)
    # Down long enough for the controllers to fence it and move its partitions' leaders.
    time.sleep(size(15, 25))
    pipeline.topology.kafka.up([node.name])
    return f"{node.name} (leader of partition 0) SIGKILLed, back after {size(15, 25)} s"


def spark_worker(pipeline: Pipeline) -> str:
    worker = spark_daemon(pipeline.topology.spark, "worker-1")
    pid = worker.pid()
    assert pid is not None, "worker-1 is not running"
    kill_machine(pid)
    return "worker-1 and its executor SIGKILLed, not restarted"


def one_batch_process(pipeline: Pipeline) -> str:
    partitions = PARTITION_SETS[1]
    _kill(pipeline.batch[partitions])
    time.sleep(size(10, 20))
    log = pipeline.batch_log(partitions)
    since = log.stat().st_size
    pipeline.start_batch(partitions)
    # Running again before the scenario goes on: when the stream is over by now (a loaded
    # machine), the views may already be exact, and a SIGTERM from the final stop during
    # the process's start-up, before its handler is in place, would end it with -15.
    _wait_until(
        lambda: _cycles_logged(log, since) > 0,
        CATCH_UP_S,
        f"the restarted batch PARTITIONS={partitions} to complete a cycle",
    )
    return f"batch PARTITIONS={partitions} SIGKILLed, restarted after {size(10, 20)} s"


def _produced(seed: int, count: int, start: datetime, end: datetime) -> list[Event]:
    """The producer's own record: the sequence ``python -m ingestion`` sends for this seed
    and window, in order (what it reports delivered in full)."""
    options = SyntheticOptions(
        seed=seed, count=count, start=start, end=end, duplicate_fraction=0.05
    )
    return list(SyntheticTweets(options))


def _first_copies(sent: list[Event], now: datetime) -> dict[str, Event]:
    """The winning copy of each tweet: the first in send order (a tweet's copies share a
    key, so a partition, whose order the idempotent producer keeps)."""
    first: dict[str, Event] = {}
    for e in sent:
        event = parse_event(e.to_json_bytes(), now=now)
        assert isinstance(event, Event), event
        first.setdefault(event.tweet_id, event)
    return first


def _expected(settings: Settings, first: dict[str, Event]) -> dict[ViewKey, ViewSums]:
    """Every view's rows over the winning copies, keyed ``(view, event_hour, *keys)``."""
    out: dict[ViewKey, ViewSums] = {}
    for view in settings.views:
        for key, sums in aggregate(first.values(), SHIPPED_KEYS[view.name], lambda h: True).items():
            out[(view.name, *key)] = sums
    return out


def _winners(first: dict[str, Event]) -> dict[str, tuple[int, int, int, str]]:
    """raw_tweets as it must be: each tweet's winning copy."""
    return {
        tweet_id: (
            e.followers_count,
            e.favorite_count,
            e.retweet_count,
            warehouse_text(e.location_key),
        )
        for tweet_id, e in first.items()
    }


def _raw_tweets(settings: Settings) -> dict[str, tuple[int, int, int, str]]:
    with Warehouse(settings) as wh:
        rows = wh.query(
            "SELECT tweet_id, followers_count, favorite_count, retweet_count, location "
            "FROM raw_tweets"
        )
    return {r[0]: (int(r[1]), int(r[2]), int(r[3]), r[4]) for r in rows}


_DONE = re.compile(r"done: sent ([\d,]+) events .* delivered ([\d,]+), failed ([\d,]+)")


def _delivered(log: Path) -> tuple[int, int]:
    """(delivered, failed) from the producer's closing line."""
    found = _DONE.findall(log.read_text(errors="replace"))
    assert found, log.read_text(errors="replace")[-2000:]
    _, delivered, failed = found[-1]
    return int(delivered.replace(",", "")), int(failed.replace(",", ""))


def _run(
    lane: Lane,
    topology: Topology,
    folder: Path,
    report: Report,
    faults: list[Fault],
    *,
    rate: int,
    seconds: int,
    seed: int,
) -> None:
    """The scenario: the pipeline on the topology, the producer streaming ``rate`` events/s
    for ``seconds``, ``faults`` injected one after another while it does; then the
    exactness checks with every process still running."""
    count = rate * seconds
    end = datetime.now(UTC).replace(microsecond=0)
    # Hours before the horizon come from the batch layer, the last ones from the speed
    # layer: both are exercised.
    start = end - timedelta(minutes=100)
    sent = _produced(seed, count, start, end)
    pipeline = Pipeline(lane, topology, folder, report)
    poll = threading.Thread(target=pipeline.poller.run, daemon=True)
    producer_log = folder / "producer.log"
    producer: subprocess.Popen[bytes] | None = None
    try:
        pipeline.speed.start()
        for partitions in PARTITION_SETS:
            pipeline.start_batch(partitions)
        poll.start()
        _wait_for_micro_batches(lane, pipeline.speed, more_than=0)
        producer = _process(
            lane, producer_log, "ingestion", "--count", str(count), "--rate", str(rate),
            "--seed", str(seed), "--duplicates", "0.05",
            "--start", start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "--end", end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )  # fmt: skip
        report.events += count
        # Faults spread over the stream, the last well before its end.
        gap = seconds / (len(faults) + 1)
        for fault in faults:
            time.sleep(gap * 0.5)
            # A fault before it (a node's restart) can outlast the stream on a loaded
            # machine: then this one meets a pipeline with nothing left to catch up.
            late = "" if producer.poll() is None else " (after the stream ended)"
            report.notes.append(fault(pipeline) + late)
        assert producer.wait(timeout=seconds + 240) == 0, producer_log.read_text()[-2000:]
        assert _delivered(producer_log) == (count, 0)

        first = _first_copies(sent, datetime.now(UTC))
        want, winners = _expected(lane.settings, first), _winners(first)
        # No manual step: the schedulers and the job converge on their own.
        deadline = time.monotonic() + CATCH_UP_S
        got: dict[ViewKey, ViewSums] = {}
        raw: dict[str, tuple[int, int, int, str]] = {}
        while time.monotonic() < deadline:
            pipeline.all_alive()
            raw = _raw_tweets(lane.settings)
            got = all_views_rows(lane.settings, "serving")
            if raw == winners and got == want:
                break
            time.sleep(2)
        assert len(raw) == len(winners), f"raw_tweets holds {len(raw)} of {len(winners)} tweets"
        assert raw == winners
        assert got == want, mismatch(want, got)
        pipeline.all_alive()
    finally:
        if producer is not None and producer.poll() is None:
            _kill(producer)
        pipeline.poller.stop.set()
        if poll.is_alive():
            poll.join(timeout=30)
        stopped = _stop_quietly(pipeline)
    samples = pipeline.poller.samples
    assert samples, "the poller read nothing"
    assert max(twice for _, twice, _ in samples) == 0, "a key was served twice"
    assert stopped is None, stopped
    report.notes.append(f"{len(samples)} polls, none with a key twice")


def _stop_quietly(pipeline: Pipeline) -> str | None:
    """Stop everything; the failure as text (checked after the scenario's own asserts, so
    a failed scenario reports its own cause first)."""
    try:
        pipeline.stop()
    except AssertionError as e:
        return str(e)
    finally:
        if pipeline.speed.alive():
            pipeline.speed.kill()
    return None


# -- the scenarios ------------------------------------------------------------------------


@pytest.mark.confluent_in_make_test
@pytest.mark.timeout(1200)
def test_every_topology_fault_in_one_stream(
    cluster_lane: Lane, topology: Topology, report: Report, tmp_path: Path
) -> None:
    _run(
        cluster_lane, topology, tmp_path, report,
        [broker_leading_a_partition, spark_worker, one_batch_process],
        rate=size(100, 200), seconds=size(75, 150), seed=701,
    )  # fmt: skip


@pytest.mark.chaos_only
@pytest.mark.kafka_python_only(
    "each fault alone, repeated: under confluent the one-stream scenario meets all three"
)
@pytest.mark.timeout(1200)
@pytest.mark.parametrize(
    "fault", [broker_leading_a_partition, spark_worker, one_batch_process], ids=lambda f: f.__name__
)
def test_one_topology_fault(
    cluster_lane: Lane, topology: Topology, report: Report, tmp_path: Path, fault: Fault
) -> None:
    # Twice where the fault can be undone (a node or process started again); a worker
    # lost stays lost, the job going on with the other one.
    faults = [fault] if fault is spark_worker else [fault, fault]
    _run(cluster_lane, topology, tmp_path, report, faults, rate=200, seconds=120, seed=702)
