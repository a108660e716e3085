"""``make verify``'s and ``make lake-query``'s pure parts, on DuckDB in memory over master
objects that landing's own encoder wrote to a local folder (no S3): the de-duplication
rule, the views' translation and what it computes, the reading of the lines, the report's
wording, and what a lake query may not do."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from batch_layer.hours import BEGINNING, full_range
from batch_layer.lake.compare import Counts, compare_ledger, compare_view
from batch_layer.lake.engine import httpfs_path, secret_params
from batch_layer.lake.master_views import MasterViews
from batch_layer.lake.query import check_select, examples, lock_down
from batch_layer.lake.tables import LAYOUTS, MASTER_TWEETS, TABLES, empty_sql, scan_sql
from batch_layer.lake.translate import duckdb_select, is_exact, translate
from batch_layer.lake.verify import day_range
from batch_layer.landing import encode_chunk, read_master_object
from batch_layer.target import aggregate
from ingestion.synthetic import SyntheticOptions, SyntheticTweets
from lambda_common.contract import Event
from lambda_common.contract.rows import row_from_master
from lambda_common.errors import ConfigError, QueryError
from lambda_common.kafka.eventlog import Message
from lambda_common.settings import load_settings
from lambda_common.views import load_views, parse_view

NOW = datetime(2026, 11, 21, 12, 5, tzinfo=UTC)
TS = int(datetime(2026, 11, 20, 23, 59, tzinfo=UTC).timestamp() * 1000)
HORIZON = datetime(2026, 11, 21, 9)


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(":memory:")
    yield connection
    connection.close()


def _event(tweet_id: str, followers: int, hour: int = 8, **extra: object) -> bytes:
    created = datetime(2026, 11, 21, hour, 30, tzinfo=UTC)
    event = Event(tweet_id, created, "u1", followers, 1, 2, **extra)  # type: ignore[arg-type]
    return event.to_json_bytes()


def _land(root: Path, partition: int, first: int, values: list[bytes], gen: int = 0) -> str:
    """One chunk encoded by landing into ``root``; returns its master object's key."""
    messages = [Message(first + i, TS, v) for i, v in enumerate(values)]
    last = first + len(values) - 1
    chunk = encode_chunk("t", partition, first, last, messages, NOW, generation=gen)
    for key, body in (
        (chunk.landed.key, chunk.body),
        (chunk.landed.rejects_key, chunk.rejects_body),
    ):
        if key and body is not None:
            (root / key).parent.mkdir(parents=True, exist_ok=True)
            (root / key).write_bytes(body)
    return chunk.landed.key


def _lake(con: duckdb.DuckDBPyConnection, root: Path) -> MasterViews:
    return MasterViews(con, f"{root}/", "a folder")


def test_the_first_copy_by_generation_partition_and_offset_is_the_tweet(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    keys = [
        _land(tmp_path, 1, 5, [_event("1", 100)]),
        _land(tmp_path, 0, 9, [_event("1", 200), _event("2", 20)]),
        _land(tmp_path, 0, 0, [_event("1", 300), _event("2", 30)], gen=1),
        _land(tmp_path, 0, 1, [_event("2", 10), b"{not json", _event("3", 1, hour=10)]),
    ]
    lake = _lake(con, tmp_path)
    events = lake.stage(keys)
    assert sorted(events.values()) == [1, 2, 2, 2]
    lake.build_relations(BEGINNING, HORIZON)
    got = con.execute("SELECT tweet_id, followers_count FROM tweets ORDER BY 1").fetchall()
    # Partition before offset: tweet 1's copy at (0, 0, 9) beats (0, 1, 5); generation 0
    # beats generation 1; tweet 3 is of an hour at or after the horizon.
    assert got == [("1", 200), ("2", 10)]
    rejects = [k.replace("master/", "rejects/", 1) for k in keys]
    assert lake.count_rejects([r for r in rejects if (tmp_path / r).exists()]) == {rejects[3]: 1}


def test_every_view_recomputed_is_the_contracts_aggregation(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    options = SyntheticOptions(
        seed=5, count=600, start=NOW - timedelta(days=1), end=NOW, duplicate_fraction=0.2
    )
    events = list(SyntheticTweets(options))
    keys = [_land(tmp_path, p, 0, [e.to_json_bytes() for e in events[p::3]]) for p in range(3)]
    lake = _lake(con, tmp_path)
    lake.stage(keys)
    lake.build_relations(BEGINNING, HORIZON)
    rows = [
        row_from_master(r)  # the values as the warehouse loads them: counts, offsets ints
        for key in keys
        for r in read_master_object((tmp_path / key).read_bytes())
    ]
    first: dict[str, dict[str, object]] = {}
    for row in sorted(rows, key=lambda r: (r["kafka_partition"], r["kafka_offset"])):
        first.setdefault(str(row["tweet_id"]), row)
    assert len(first) < len(rows)  # duplicates were there to drop
    for view in load_views():
        want = aggregate(view, first.values(), full_range(HORIZON))
        got = lake.view_rows(view, duckdb_select(view, "postgres"))
        assert got == want, view.name
        assert all(isinstance(v[1], Decimal) for v in got.values())


@pytest.mark.parametrize("dialect", ["postgres", "redshift"])
def test_each_shipped_view_translates_exactly(dialect: str) -> None:
    for view in load_views():
        text = translate(view.select, dialect)
        assert is_exact(view.select, text, dialect)
        assert duckdb_select(view, dialect) == text


@pytest.mark.parametrize(
    "measure",
    [
        "SUM(followers_count) / COUNT(*)",  # integer division there, not in DuckDB
        "SUM(followers_count::numeric)",  # NUMERIC unbounded there, DECIMAL(18,3) here
    ],
)
def test_a_view_without_an_exact_translation_is_refused(measure: str) -> None:
    text = (
        "-- view: odd\n-- key: lang varchar(140)\n-- reads: tweets\n"
        f"SELECT event_hour, lang, {measure} AS tweet_count FROM tweets GROUP BY 1, 2"
    )
    view = parse_view(text, "/srv/views/odd.sql")
    with pytest.raises(ConfigError, match=r"view odd \(/srv/views/odd.sql\): .* no exact"):
        duckdb_select(view, "postgres")


def test_lines_with_quoted_numbers_and_padded_years_read_as_numbers(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    key = (
        "master/topic=t/dt=2026-11-20/partition=0/t-0-"
        + "0" * 20
        + "-"
        + "1".zfill(20)
        + ".jsonl.gz"
    )
    base = {"location": "x", "user_id": "u", "lang": "en", "hashtags": ["a"], "event": {}}
    lines = [
        {**base, "tweet_id": "1", "created_at": "0999-01-01 10:00:00.000000",
         "event_hour": "0999-01-01 10:00:00", "followers_count": "9223372036854775807",
         "favorite_count": 0, "retweet_count": "1", "kafka_partition": "0", "kafka_offset": "0"},
        {**base, "tweet_id": "2", "created_at": "999-01-01 10:00:00.000000",
         "event_hour": "999-01-01 10:00:00", "followers_count": 5,
         "favorite_count": 0, "retweet_count": 1, "kafka_partition": 0, "kafka_offset": 1},
    ]  # fmt: skip
    path = tmp_path / key
    path.parent.mkdir(parents=True)
    path.write_bytes(gzip.compress(b"".join(json.dumps(x).encode() + b"\n" for x in lines)))
    scan = scan_sql(MASTER_TWEETS, LAYOUTS[0], f"'{path}'")
    columns = "tweet_id, event_hour, followers_count, kafka_offset, dt, generation"
    got = con.execute(f"SELECT {columns} FROM ({scan}) AS lines").fetchall()  # noqa: S608
    hour = datetime(999, 1, 1, 10)
    assert got == [
        ("1", hour, 2**63 - 1, 0, date(2026, 11, 20), 0),
        ("2", hour, 5, 1, date(2026, 11, 20), 0),
    ]


def test_a_view_line_names_the_first_differing_keys_and_both_values() -> None:
    view = next(v for v in load_views() if v.name == "locations")
    hour = datetime(2026, 11, 21, 8)
    lake = {(hour, "Paris"): (2, 10, 1, 1), (hour, "Rome"): (1, 5, 0, 0)}
    assert compare_view(view, dict(lake), lake).line == (
        "OK   locations (batch_view): 2 rows and 3 tweets match"
    )
    warehouse = {(hour, "Paris"): (2, 11, 1, 1), (hour, "Oslo"): (1, 1, 1, 1)}
    line = compare_view(view, warehouse, lake).line
    assert line.startswith("FAIL locations (batch_view): 3 of 3 rows differ, first ")
    assert line.index("'Oslo'") < line.index("'Paris'") < line.index("'Rome'")
    assert (
        "(2026-11-21 08:00, 'Paris'): warehouse tweet_count 2, followers_sum 11, favorite_sum "
        "1, retweet_sum 1, master dataset tweet_count 2, followers_sum 10," in line
    )
    assert "(2026-11-21 08:00, 'Rome'): warehouse no row, master dataset" in line


def test_the_ledger_line_names_a_missing_object_and_a_wrong_count() -> None:
    ledger = {"a": Counts(3, 0), "b": Counts(2, 1), "c": Counts(1, 0)}
    counted = {"a": Counts(3, 0), "b": Counts(2, 0)}
    assert compare_ledger(ledger, dict(ledger)).line == (
        "OK   load_ledger: 3 objects, 6 events and 1 rejects as counted in S3"
    )
    assert compare_ledger(ledger, counted).line == (
        "FAIL load_ledger: 2 of 3 objects differ, first b: ledger 2 events and 1 rejects, "
        "S3 holds 2 events and 0 rejects; c: ledger 1 events and 0 rejects, S3 has no "
        "such object"
    )


@pytest.mark.parametrize(
    "text",
    [
        "COPY (SELECT 1) TO 'out.csv'",
        "EXPLAIN ANALYZE COPY (SELECT 1) TO 'out.csv'",
        "ATTACH 'other.db'",
        "INSERT INTO t VALUES (1)",
        "SET enable_external_access = true",
        "SELECT 1; SELECT 2",
    ],
)
def test_a_lake_query_runs_only_one_select(con: duckdb.DuckDBPyConnection, text: str) -> None:
    with pytest.raises(QueryError, match=r"only a SELECT|exactly one statement"):
        check_select(con, text)


@pytest.mark.usefixtures("clean_env")
def test_a_lake_query_reads_nothing_but_the_topics_folders(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    for text in ("WITH a AS (SELECT 1) SELECT * FROM a", "FROM range(3)", "DESCRIBE SELECT 1"):
        check_select(con, text)
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    lock_down(con, load_settings(kafka_topic="t"))
    with pytest.raises(duckdb.PermissionException):
        con.execute("SELECT * FROM read_csv($path)", {"path": str(secret)})
    with pytest.raises(duckdb.InvalidInputException, match="locked"):
        con.execute("SET enable_external_access = true")


def test_every_example_runs_on_empty_tables(con: duckdb.DuckDBPyConnection) -> None:
    for table in TABLES:
        con.execute(f"CREATE VIEW {table.name} AS {empty_sql(table)}")
    assert set(examples()) == {"days", "duplicates", "hours", "rejects"}
    for name, (about, text) in examples().items():
        assert about and not about.startswith("-"), name
        check_select(con, text)
        con.execute(text).fetchall()


@pytest.mark.usefixtures("clean_env")
def test_duckdb_reads_s3_with_the_pipelines_keys_and_endpoint() -> None:
    local = secret_params(load_settings(s3_bucket="lake-bucket"))
    assert local == {
        "scope": "s3://lake-bucket",
        "key_id": "lambda-local",
        "secret": "lambda-local-secret",
        "session_token": "",
        "region": "us-east-1",
        "endpoint": "localhost:9000",
        "url_style": "path",
        "use_ssl": False,
    }
    tls = secret_params(load_settings(s3_endpoint_url="https://s3.example:9443"))
    assert (tls["endpoint"], tls["use_ssl"]) == ("s3.example:9443", True)
    aws = secret_params(
        load_settings(s3_endpoint_url="", aws_region="eu-west-1", aws_session_token="token-1")
    )
    assert (aws["endpoint"], aws["url_style"], aws["use_ssl"]) == (
        "s3.eu-west-1.amazonaws.com",
        "vhost",
        True,
    )
    assert aws["session_token"] == "token-1"


def test_httpfs_loads_from_its_package_without_any_download(tmp_path: Path) -> None:
    config: dict[str, str | bool | int | float | list[str]] = {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "extension_directory": str(tmp_path),  # empty: nothing installed to fall back on
    }
    with duckdb.connect(":memory:", config=config) as connection:
        connection.execute(f"LOAD '{httpfs_path()}'")
        loaded = connection.execute(
            "SELECT loaded FROM duckdb_extensions() WHERE extension_name = 'httpfs'"
        ).fetchall()
    assert loaded == [(True,)]
    assert not any(tmp_path.iterdir())


def test_days_are_whole_utc_days_both_included() -> None:
    assert day_range(date(2026, 11, 20), date(2026, 11, 21)) == (
        datetime(2026, 11, 20),
        datetime(2026, 11, 22),
    )
    start, end = day_range(None, None)
    assert start == BEGINNING and end > datetime(9000, 1, 1)
