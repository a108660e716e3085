"""``make lake-ddl``: the AWS DDL of the master dataset, the same two tables as
``make lake-query`` (:mod:`batch_layer.lake.tables`), for Athena and Redshift Spectrum.

- **Athena / Glue**: a database; per table, one external table per generation layout
  (the Hive JSON SerDe over the gzip JSON lines, partition projection on ``dt``,
  ``partition`` and, for the later generations' ``gen=<n>/`` folders, ``generation``),
  and a view joining the two with the partition columns ``make lake-query`` has; then a
  sample query.
- **Redshift Spectrum**: an external schema over a Glue database of its own and one
  external table per table (OpenX JSON SerDe) whose partitions are the folders found in
  S3 now: Spectrum does not use Athena's partition projection, so run the command again
  when new days have landed (its ``ADD IF NOT EXISTS`` keeps what is there).

Names, types and locations come from the table definitions, ``S3_BUCKET``,
``KAFKA_TOPIC``, ``AWS_REGION`` and ``REDSHIFT_IAM_ROLE``; nothing is run.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from batch_layer.lake.engine import load_lake_sql
from batch_layer.lake.tables import TABLES, Column, Folder, LakeTable, folder_of
from lambda_common.cli import write_output
from lambda_common.contract import COUNT_FIELDS, Event
from lambda_common.objectstore import S3ObjectStore
from lambda_common.settings import Settings
from lambda_common.sql import statements

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,99}\Z")
ROLE_PLACEHOLDER = "arn:aws:iam::123456789012:role/set-REDSHIFT_IAM_ROLE"


def _event_fields() -> tuple[Column, ...]:
    """The event's keys as the contract writes them (``Event.to_dict``)."""
    names = [n for n in Event.__dataclass_fields__ if n != "hashtags"]
    kinds = {n: "bigint" if n in COUNT_FIELDS else "string" for n in names}
    return (*(Column(n, kinds[n]) for n in names), Column("hashtags", "strings"))


@dataclass(frozen=True)
class TypeNames:
    """How one engine's DDL names the column kinds: its scalar types, and how a struct's
    field is written."""

    scalars: dict[str, str]
    field: str
    """A struct field, ``{name}`` and ``{type}`` filled in."""

    def of(self, kind: str) -> str:
        """The type of a column kind (``strings``: an array; ``event``: a struct)."""
        if kind == "strings":
            return f"array<{self.scalars['string']}>"
        if kind == "event":
            fields = (self.field.format(name=c.name, type=self.of(c.kind)) for c in _event_fields())
            return f"struct<{', '.join(fields)}>"
        return self.scalars[kind]


ATHENA_TYPES = TypeNames(
    {"string": "string", "timestamp": "timestamp", "bigint": "bigint", "int": "int"},
    "`{name}`:{type}",
)
SPECTRUM_TYPES = TypeNames(
    {"string": "varchar(65535)", "timestamp": "timestamp", "bigint": "bigint", "int": "int"},
    "{name}:{type}",
)


@dataclass
class Found:
    """The folders of one table's objects in S3 now."""

    folders: set[Folder] = field(default_factory=set)

    @classmethod
    def of(cls, keys: Iterable[str]) -> Found:
        """The folders of these object keys."""
        return cls({f for f in map(folder_of, keys) if f is not None})

    def first_day(self) -> str | None:
        """The earliest ``dt`` (None: no object yet)."""
        return min((f.dt for f in self.folders), default=None)

    def last(self, attribute: str, floor: int) -> int:
        """The highest value of ``generation`` or ``partition``, at least ``floor``."""
        return max([floor, *(int(getattr(f, attribute)) for f in self.folders)])


def _properties(table: LakeTable, root: str, found: Found, partitions: int, later: bool) -> str:
    start = found.first_day() or "NOW-1YEARS"
    props = {
        "projection.enabled": "true",
        "projection.dt.type": "date",
        "projection.dt.format": "yyyy-MM-dd",
        "projection.dt.range": f"{start},NOW",
        "projection.dt.interval": "1",
        "projection.dt.interval.unit": "DAYS",
        "projection.partition.type": "integer",
        "projection.partition.range": f"0,{found.last('partition', partitions - 1)}",
    }
    folder = "dt=${dt}/partition=${partition}/"
    if later:
        props["projection.generation.type"] = "integer"
        props["projection.generation.range"] = f"1,{found.last('generation', 1)}"
        folder = "gen=${generation}/" + folder
    props["storage.location.template"] = root + folder
    return ",\n".join(f"  '{k}' = '{v}'" for k, v in props.items())


def athena_ddl(settings: Settings, database: str, found: dict[str, Found]) -> list[str]:
    """Athena's statements: the database, two tables and a view per table, a sample."""
    out = [load_lake_sql("athena_database").format(database=database)]
    for table in TABLES:
        root = table.root(settings.s3_bucket, settings.kafka_topic)
        columns = ",\n".join(f"  `{c.name}` {ATHENA_TYPES.of(c.kind)}" for c in table.columns)
        names = {}
        for later, suffix in ((False, "gen0"), (True, "gens")):
            names[later] = f"{table.name}_{suffix}"
            partitions = "`generation` int, `dt` string, `partition` int"
            out.append(
                load_lake_sql("athena_table").format(
                    database=database,
                    table=names[later],
                    columns=columns,
                    partitions=partitions if later else partitions.split(", ", 1)[1],
                    location=root,
                    properties=_properties(
                        table, root, found[table.name], settings.kafka_topic_partitions, later
                    ),
                )
            )
        out.append(
            load_lake_sql("athena_view").format(
                database=database,
                view=table.name,
                columns=", ".join(f'"{c.name}"' for c in table.columns),
                topic=settings.kafka_topic,
                first=names[False],
                later=names[True],
            )
        )
    out.append(load_lake_sql("athena_sample").format(database=database))
    return [s for text in out for s in statements(text)]


def _partition_clause(table: LakeTable, root: str, folder: Folder) -> str:
    gen = f"gen={folder.generation}/" if folder.generation else ""
    where = f"{root}{gen}dt={folder.dt}/partition={folder.partition}/"
    values = f"generation={folder.generation}, dt='{folder.dt}', \"partition\"={folder.partition}"
    return f"PARTITION ({values}) LOCATION '{where}'"


def spectrum_ddl(
    settings: Settings, schema: str, database: str, found: dict[str, Found]
) -> list[str]:
    """Redshift Spectrum's statements: the external schema, a table per table and its
    partitions found in S3."""
    out = [
        load_lake_sql("spectrum_schema").format(
            schema=schema,
            database=database,
            role=settings.redshift_iam_role or ROLE_PLACEHOLDER,
            region=settings.aws_region,
        )
    ]
    for table in TABLES:
        root = table.root(settings.s3_bucket, settings.kafka_topic)
        columns = ",\n".join(f'  "{c.name}" {SPECTRUM_TYPES.of(c.kind)}' for c in table.columns)
        out.append(
            load_lake_sql("spectrum_table").format(
                schema=schema, table=table.name, columns=columns, location=root
            )
        )
        folders = sorted(found[table.name].folders)
        if folders:
            clauses = "\n".join(_partition_clause(table, root, f) for f in folders)
            out.append(
                load_lake_sql("spectrum_partitions").format(
                    schema=schema, table=table.name, partitions=clauses
                )
            )
    return [s for text in out for s in statements(text)]


def render(athena: list[str], spectrum: list[str]) -> str:
    """Both sets of statements, each ending with ``;``, under a heading each."""
    parts = ["-- ===== Athena / AWS Glue (run each statement in Athena) =====\n"]
    parts += [f"{s};\n" for s in athena]
    parts.append("\n-- ===== Redshift Spectrum (run as the schema's owner) =====\n")
    parts += [f"{s};\n" for s in spectrum]
    return "\n".join(parts)


def _name(text: str) -> str:
    if not _NAME.match(text):
        raise argparse.ArgumentTypeError(f"must be lower-case letters, digits and _: {text!r}")
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sub-command's options."""
    parser.add_argument(
        "--database", type=_name, default="lambda_tweets", help="Glue database (Athena)"
    )
    parser.add_argument(
        "--schema", type=_name, default="lake", help="Redshift's external schema (Spectrum)"
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Write the DDL for the objects S3 holds now; exit code 0."""
    store = S3ObjectStore(settings)
    topic = settings.kafka_topic
    found = {t.name: Found.of(store.list_keys(t.key_prefix(topic))) for t in TABLES}
    athena = athena_ddl(settings, args.database, found)
    spectrum = spectrum_ddl(settings, args.schema, f"{args.database}_spectrum", found)
    write_output(render(athena, spectrum))
    return 0
