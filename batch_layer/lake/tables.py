"""The master dataset as two tables: ``master_tweets`` and ``master_rejects``.

Each is a DuckDB view over the gzip JSON lines of one topic (``KAFKA_TOPIC``), read in
place in S3: the columns of the lines (:data:`MASTER_COLUMNS`, :data:`REJECT_COLUMNS`,
the lines' own keys, see :mod:`batch_layer.landing`) and the folders of the object keys as
partition columns, ``topic``, ``dt`` (the day of the chunk's first Kafka timestamp),
``partition`` (the Kafka partition) and ``generation`` (the topic's incarnation: 0 for the
objects under ``topic=<t>/``, ``n`` under ``topic=<t>/gen=<n>/``). A filter on ``dt`` or
``partition`` skips the other folders' objects before any is read.

The columns are defined here once, with a kind each; :func:`duckdb_type` and the DDL of
:mod:`batch_layer.lake.ddl` turn the kinds into each engine's types.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import duckdb

from batch_layer.lake.engine import fetch, literal, load_lake_sql
from batch_layer.landing import MASTER_PREFIX, REJECTS_PREFIX, master_prefix, rejects_prefix
from lambda_common.settings import Settings


@dataclass(frozen=True)
class Column:
    """One key of a line, with its kind: ``string``, ``timestamp``, ``bigint``,
    ``int``, ``strings`` (an array of strings) or ``event`` (the event, verbatim)."""

    name: str
    kind: str


MASTER_COLUMNS = (
    Column("tweet_id", "string"),
    Column("created_at", "timestamp"),
    Column("event_hour", "timestamp"),
    Column("location", "string"),
    Column("user_id", "string"),
    Column("followers_count", "bigint"),
    Column("favorite_count", "bigint"),
    Column("retweet_count", "bigint"),
    Column("kafka_partition", "int"),
    Column("kafka_offset", "bigint"),
    Column("lang", "string"),
    Column("hashtags", "strings"),
    Column("event", "event"),
)
"""A master line: the warehouse row of a valid event (keys normalised, NUL replaced) and
the event verbatim (``landing.master_record``)."""

REJECT_COLUMNS = (
    Column("offset", "bigint"),
    Column("reason", "string"),
    Column("value_b64", "string"),
    Column("value_preview", "string"),
)
"""A rejects line (``landing.reject_record``) besides its topic and partition, which the
partition columns of the same names give."""

PARTITION_COLUMNS = ("topic", "dt", "partition", "generation")

_DUCKDB_TYPES = {
    "string": "VARCHAR",
    "timestamp": "TIMESTAMP",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "strings": "VARCHAR[]",
    "event": "JSON",
}


def duckdb_type(kind: str) -> str:
    """DuckDB's type of a column kind."""
    return _DUCKDB_TYPES[kind]


@dataclass(frozen=True)
class LakeTable:
    """One table over the objects of a prefix (``master`` or ``rejects``)."""

    name: str
    prefix: str
    columns: tuple[Column, ...]

    def key_prefix(self, topic: str) -> str:
        """``<prefix>/topic=<topic>/``: the key of every object of the table starts so."""
        return master_prefix(topic) if self.prefix == MASTER_PREFIX else rejects_prefix(topic)

    def root(self, bucket: str, topic: str) -> str:
        """``s3://bucket/<prefix>/topic=<topic>/``: every object of the table is below."""
        return f"s3://{bucket}/{self.key_prefix(topic)}"


MASTER_TWEETS = LakeTable("master_tweets", MASTER_PREFIX, MASTER_COLUMNS)
MASTER_REJECTS = LakeTable("master_rejects", REJECTS_PREFIX, REJECT_COLUMNS)
TABLES = (MASTER_TWEETS, MASTER_REJECTS)

_OBJECTS = "dt=*/partition=*/*.jsonl.gz"


@dataclass(frozen=True)
class Layout:
    """The objects of one generation layout (see ``landing._topic_path``): generation 0
    directly under the topic's folder, later ones under ``gen=<n>/``."""

    folder: str
    generation: str
    """The SQL of the ``generation`` column: ``0``, or the ``gen`` folder's value."""

    def pattern(self, root: str) -> str:
        """The glob of this layout's objects below ``root``."""
        return f"{root}{self.folder}{_OBJECTS}"

    def holds(self, key: str) -> bool:
        """Whether an object key (or URL) is of this layout."""
        return ("/gen=" in key) == bool(self.folder)

    @property
    def hive_types(self) -> str:
        """The partition columns' types, as DuckDB's ``hive_types`` takes them."""
        gen = ", 'gen': 'INTEGER'" if self.folder else ""
        return "{'dt': 'DATE', 'partition': 'INTEGER'" + gen + "}"


LAYOUTS = (Layout("", "0"), Layout("gen=*/", "gen"))

_FOLDER = re.compile(r"/(?:gen=(\d+)/)?dt=([0-9-]+)/partition=(\d+)/[^/]+$")


@dataclass(frozen=True, order=True)
class Folder:
    """The partition folder an object lies in."""

    generation: int
    dt: str
    partition: int


def folder_of(key: str) -> Folder | None:
    """The folder of an object key of either layout (None: not an object's key)."""
    match = _FOLDER.search(key)
    if match is None:
        return None
    return Folder(int(match[1] or 0), match[2], int(match[3]))


def scan_sql(table: LakeTable, layout: Layout, files: str) -> str:
    """A SELECT of the table's rows in the objects ``files`` (a SQL expression: a glob or
    a list of URLs, all of ``layout``)."""
    columns = ", ".join(f"{literal(c.name)}: {literal(duckdb_type(c.kind))}" for c in table.columns)
    return load_lake_sql("master_scan").format(
        names=", ".join(f'"{c.name}"' for c in table.columns),
        generation=layout.generation,
        files=files,
        hive_types=layout.hive_types,
        columns="{" + columns + "}",
    )


def empty_sql(table: LakeTable) -> str:
    """A SELECT of the table's columns and no row."""
    nulls = ", ".join(f'CAST(NULL AS {duckdb_type(c.kind)}) AS "{c.name}"' for c in table.columns)
    return load_lake_sql("master_empty").format(typed_nulls=nulls)


def files_sql(urls: Iterable[str]) -> str:
    """A SQL list literal of object URLs."""
    return "[" + ", ".join(literal(u) for u in urls) + "]"


def union_sql(table: LakeTable, scans: list[str]) -> str:
    """The table's rows from the given scans, or none (:func:`empty_sql`) without any."""
    return "\nUNION ALL\n".join(scans) if scans else empty_sql(table)


def create_tables(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """``master_tweets`` and ``master_rejects`` as views over every object of
    ``KAFKA_TOPIC`` (a layout without any object is left out: DuckDB refuses to scan
    none)."""
    where = settings.s3_endpoint_url or "AWS"
    for table in TABLES:
        root = table.root(settings.s3_bucket, settings.kafka_topic)
        scans = []
        for layout in LAYOUTS:
            pattern = layout.pattern(root)
            found = fetch(con, load_lake_sql("layout_present"), {"pattern": pattern}, where=where)
            if found.rows:
                scans.append(scan_sql(table, layout, literal(pattern)))
        view = load_lake_sql("table_view").format(name=table.name, select=union_sql(table, scans))
        fetch(con, view, where=where)
