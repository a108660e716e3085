"""The batch cycle's fair stock floor: the cycle's semantic work done with stock tools only.

Beside the raw floor (``kcat -C | gzip``, ``psql \\copy`` into one column: no
validation, de-duplication or view), the fair floor does what a cycle does, each step a
stock program:

1. ``kcat -C`` of each partition's range (beginning to end), ``partition<TAB>offset
   <TAB>value`` lines, through ``gzip`` at the cycle's level (``GZIP_LEVEL``), one file
   per partition, all partitions at once (one pipeline each, as a shell's ``&`` would);
2. ``s3cmd put`` of the files to the same bucket of the same S3 server;
3. ``psql``, one transaction: ``\\copy`` of the lines into a staging table (the JSON as
   jsonb), ``INSERT ... ON CONFLICT DO NOTHING`` into ``raw_tweets`` and ``raw_hashtags``
   (the pipeline's own DDL, so the same keys and indexes, in a schema of their own), and
   each view's own rebuild SQL (``lambda_common.views.sql``) for the touched hours before
   the horizon, ``batch_daily`` and the horizon (bench/sql/fair_floor.sql).

The SQL may be ours; the programs are stock. What it leaves out or approximates (no
plans, ledger, rejects objects or offsets commit; approximate validation and key
normalisation in SQL) is listed in bench/sql/fair_floor.sql and the README.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from batch_layer.landing import GZIP_LEVEL
from batch_layer.plan import horizon_for
from lambda_common.errors import BenchmarkError
from lambda_common.kafka.factory import open_event_log
from lambda_common.settings import Settings
from lambda_common.sql import load_sql, statements
from lambda_common.views.sql import batch_rebuild
from lambda_common.warehouse import Warehouse

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = Path(__file__).with_name("sql") / "fair_floor.sql"
# Stand-ins for the rebuild statements' bound hours: the range the transaction computed.
_RANGE = {
    "%(since)s": "(SELECT since FROM floor_range)",
    "%(until)s": "(SELECT until FROM floor_range)",
}
_DAYS = {
    "%(since)s": "(SELECT since FROM floor_days)",
    "%(until)s": "(SELECT until FROM floor_days)",
}


@dataclass(frozen=True)
class FloorRun:
    """One fair-floor run: seconds end to end, and of each step."""

    seconds: float
    steps: dict[str, float]


def _bound(text: str, names: dict[str, str]) -> str:
    for placeholder, expression in names.items():
        text = text.replace(placeholder, expression)
    return text


def render_script(settings: Settings, horizon: datetime, dumps: list[Path]) -> str:
    """The psql script of step 3: staging, ``\\copy`` of ``dumps``, the SQL of
    bench/sql/fair_floor.sql with every view's rebuild for ``horizon``, in one
    transaction (psql's ``-1``)."""
    dialect = "postgres"
    rebuild = [
        _bound(statement, _RANGE) + ";"
        for view in settings.views
        for statement in batch_rebuild(view, dialect)
    ]
    daily = [
        _bound(statement, _DAYS) + ";"
        for statement in statements(load_sql("batch_daily_rebuild", dialect))
    ]
    sql = (
        TEMPLATE.read_text()
        .replace("{horizon}", horizon.isoformat(sep=" "))
        .replace("{view_rebuild}", "\n".join(rebuild + daily))
    )
    files = " ".join(str(d) for d in dumps)
    return (
        "CREATE TEMP TABLE floor_staging "
        "(kafka_partition integer, kafka_offset bigint, doc jsonb) ON COMMIT DROP;\n"
        # kcat's lines: TAB-separated, the JSON verbatim (no quote character in use).
        f"\\copy floor_staging FROM PROGRAM 'gunzip -c {files}' "
        "WITH (FORMAT csv, DELIMITER E'\\t', QUOTE E'\\x01')\n" + sql
    )


def s3cmd_config(settings: Settings, path: Path) -> None:
    """An s3cmd configuration for the settings' S3 server (path-style), owner-only."""
    endpoint = settings.s3_endpoint
    secret = settings.aws_secret_access_key
    host = f"{endpoint.host}:{endpoint.port}" if endpoint else "s3.amazonaws.com"
    https = settings.s3_endpoint_url is None or settings.s3_endpoint_url.startswith("https")
    path.touch(mode=0o600)
    path.write_text(
        "[default]\n"
        f"access_key = {settings.aws_access_key_id or ''}\n"
        f"secret_key = {secret.get_secret_value() if secret else ''}\n"
        f"host_base = {host}\n"
        f"host_bucket = {host}\n"
        f"use_https = {https}\n"
        f"bucket_location = {settings.aws_region}\n"
    )


def _tools() -> dict[str, str]:
    found = {name: shutil.which(name) for name in ("kcat", "gzip", "s3cmd", "psql")}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise BenchmarkError(f"the fair floor needs {', '.join(missing)} (make deps)")
    return {name: str(path) for name, path in found.items()}


def run(settings: Settings, topic: str, work: Path) -> FloorRun:
    """The fair floor over every event of ``topic`` (``settings``: the lane's), in a
    schema of its own (``<topic>_floor``, dropped after): seconds end to end."""
    tools = _tools()
    schema = f"{topic}_floor"
    with Warehouse(settings) as wh:
        wh.execute(f'CREATE SCHEMA "{schema}"')
    scoped = settings.in_schema(schema)
    try:
        with Warehouse(scoped) as wh:
            wh.ensure_schema()
        with open_event_log(settings, None, client_id="bench-floor") as log:
            partitions = log.describe(topic).partitions
        dumps = [work / f"{topic}-{p}.tsv.gz" for p in partitions]
        script = work / f"{topic}-floor.sql"
        horizon = horizon_for(datetime.now(UTC), settings.allowed_lateness)
        script.write_text(render_script(settings, horizon, dumps))
        config = work / f"{topic}.s3cfg"
        s3cmd_config(settings, config)
        try:
            return _timed_steps(scoped, tools, topic, partitions, dumps, script, config)
        finally:
            config.unlink(missing_ok=True)
            script.unlink(missing_ok=True)
            for dump in dumps:
                dump.unlink(missing_ok=True)
    finally:
        with Warehouse(settings) as wh:
            wh.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _timed_steps(
    settings: Settings,
    tools: dict[str, str],
    topic: str,
    partitions: tuple[int, ...],
    dumps: list[Path],
    script: Path,
    config: Path,
) -> FloorRun:
    steps: dict[str, float] = {}
    started = time.perf_counter()
    pipelines = []
    for partition, dump in zip(partitions, dumps, strict=True):
        out = dump.open("wb")
        kcat = subprocess.Popen(
            [
                *(tools["kcat"], "-C", "-q", "-e", "-b", settings.kafka_bootstrap_servers),
                *("-t", topic, "-p", str(partition), "-o", "beginning"),
                *("-f", "%p\\t%o\\t%s\\n"),
            ],
            stdout=subprocess.PIPE,
        )
        gzip = subprocess.Popen([tools["gzip"], f"-{GZIP_LEVEL}"], stdin=kcat.stdout, stdout=out)
        assert kcat.stdout is not None
        kcat.stdout.close()  # gzip holds the pipe; kcat gets SIGPIPE if gzip dies
        pipelines.append((kcat, gzip, out))
    failed = False
    for kcat, gzip, out in pipelines:
        failed |= bool(gzip.wait() or kcat.wait())
        out.close()
    if failed:
        raise BenchmarkError("the fair floor's kcat -C | gzip failed")
    steps["kcat+gzip"] = time.perf_counter() - started
    prefix = f"s3://{settings.s3_bucket}/bench-floor/{topic}/"
    s3cmd = [tools["s3cmd"], "-c", str(config), "--no-progress", "-q", "put"]
    steps["s3cmd put"] = _timed_step("s3cmd put", [*s3cmd, *map(str, dumps), prefix])
    # The connection through libpq's environment: no password in psql's argv.
    env = {**os.environ, **settings.warehouse.libpq_environment()}
    psql = [tools["psql"], "-q", "-X", "-1", "-v", "ON_ERROR_STOP=1", "-f", str(script)]
    steps["psql load+views"] = _timed_step("psql load", psql, env)
    return FloorRun(time.perf_counter() - started, steps)


def _timed_step(what: str, argv: list[str], env: dict[str, str] | None = None) -> float:
    """Seconds one stock program of the floor took; ``BenchmarkError`` if it failed."""
    mark = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise BenchmarkError(f"the fair floor's {what} failed: {done.stderr[-400:]}")
    return time.perf_counter() - mark
