"""``make lake-ddl``: every Athena statement parses in sqlglot's Athena dialect (the view
and the sample query in Trino's too) and every Redshift Spectrum statement in its
Redshift dialect; the tables have the columns and the partition folders of the master
dataset's layout."""

from __future__ import annotations

import re

import pytest
import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

from batch_layer.lake.ddl import Found, athena_ddl, spectrum_ddl
from batch_layer.lake.tables import MASTER_COLUMNS, REJECT_COLUMNS, Folder, folder_of
from lambda_common.settings import Settings, load_settings

ROLE = "arn:aws:iam::123456789012:role/lambda-redshift"
ROOT = "s3://lake-bucket/master/topic=tweets/"


def _key(folder: str, partition: int) -> str:
    return f"master/topic=tweets/{folder}/tweets-{partition}-{0:020d}-{99:020d}.jsonl.gz"


KEYS = [
    _key("dt=2026-11-20/partition=0", 0),
    _key("dt=2026-11-21/partition=4", 4),
    _key("gen=2/dt=2026-11-22/partition=1", 1),
]


@pytest.fixture
def settings(clean_env: None) -> Settings:
    return load_settings(s3_bucket="lake-bucket", aws_region="eu-west-1", redshift_iam_role=ROLE)


def _found() -> dict[str, Found]:
    return {"master_tweets": Found.of(KEYS), "master_rejects": Found()}


def _parse(statement: str, dialect: str) -> exp.Expression:
    parsed = sqlglot.parse_one(statement, read=dialect)
    # exp.Command is sqlglot's "could not understand, kept as text": that is not a parse.
    assert not isinstance(parsed, exp.Command), statement[:120]
    return parsed


def test_every_athena_statement_parses_and_the_tables_match_the_layout(
    settings: Settings,
) -> None:
    statements = athena_ddl(settings, "lambda_tweets", _found())
    assert len(statements) == 1 + 2 * 3 + 1
    tables = {}
    for statement in statements:
        parsed = _parse(statement, "athena")
        if isinstance(parsed, exp.Create) and parsed.kind == "TABLE":
            tables[parsed.this.this.name] = (parsed, statement)
        elif (isinstance(parsed, exp.Create) and parsed.kind == "VIEW") or isinstance(
            parsed, exp.Select
        ):
            _parse(statement, "trino")  # the views and the query are Trino SQL
    assert sorted(tables) == [
        "master_rejects_gen0",
        "master_rejects_gens",
        "master_tweets_gen0",
        "master_tweets_gens",
    ]
    first, text = tables["master_tweets_gen0"]
    columns = [c.name for c in first.this.expressions]
    assert columns == [c.name for c in MASTER_COLUMNS]
    assert "PARTITIONED BY (`dt` string, `partition` int)" in text
    assert "'org.apache.hive.hcatalog.data.JsonSerDe'" in text
    assert f"'storage.location.template' = '{ROOT}dt=${{dt}}/partition=${{partition}}/'" in text
    assert "'projection.dt.range' = '2026-11-20,NOW'" in text
    assert "'projection.partition.range' = '0,4'" in text  # the partition found, past 0..2
    _, later = tables["master_tweets_gens"]
    assert "PARTITIONED BY (`generation` int, `dt` string, `partition` int)" in later
    assert "gen=${generation}/dt=${dt}/partition=${partition}/'" in later
    assert "'projection.generation.range' = '1,2'" in later
    rejects, _ = tables["master_rejects_gen0"]
    assert [c.name for c in rejects.this.expressions] == [c.name for c in REJECT_COLUMNS]


def _shape(statement: str) -> str:
    """The statement's tokens in the Redshift dialect: strings as S, numbers as 9, quoted
    names as N, every other token as its text in upper case."""
    marks = {TokenType.STRING: "S", TokenType.NUMBER: "9", TokenType.IDENTIFIER: "N"}
    return " ".join(
        marks.get(token.token_type, token.text.upper())
        for token in sqlglot.tokenize(statement, read="redshift")
    )


_SCHEMA = re.compile(
    r"CREATE EXTERNAL SCHEMA IF NOT EXISTS \w+ FROM DATA CATALOG DATABASE S IAM_ROLE S "
    r"REGION S CREATE EXTERNAL DATABASE IF NOT EXISTS"
)
_PARTITION = r"PARTITION \( GENERATION = 9 , DT = S , N = 9 \) LOCATION S"
_ADD = re.compile(rf"ALTER TABLE \w+ \. \w+ ADD IF NOT EXISTS( {_PARTITION})+")


def test_every_spectrum_statement_parses_in_the_redshift_dialect(settings: Settings) -> None:
    schema, table, partitions, rejects = spectrum_ddl(
        settings, "lake", "lambda_tweets_spectrum", _found()
    )
    created = _parse(table, "redshift")
    assert isinstance(created, exp.Create)
    assert [c.name for c in created.this.expressions] == [c.name for c in MASTER_COLUMNS]
    assert "'org.openx.data.jsonserde.JsonSerDe'" in table
    assert isinstance(_parse(rejects, "redshift"), exp.Create)
    # sqlglot 30 has no grammar for CREATE EXTERNAL SCHEMA and ALTER TABLE ... ADD
    # PARTITION (it keeps them as commands): their Redshift tokens are checked against
    # the statements' syntax (Amazon's CREATE EXTERNAL SCHEMA and ALTER TABLE pages).
    for statement, shape in ((schema, _SCHEMA), (partitions, _ADD)):
        assert isinstance(sqlglot.parse_one(statement, read="redshift"), exp.Command)
        assert shape.fullmatch(_shape(statement)), _shape(statement)
    assert f"IAM_ROLE '{ROLE}'" in schema and "REGION 'eu-west-1'" in schema
    assert partitions.count("PARTITION (") == 3
    assert (
        "PARTITION (generation=2, dt='2026-11-22', \"partition\"=1) "
        f"LOCATION '{ROOT}gen=2/dt=2026-11-22/partition=1/'"
    ) in partitions


def test_a_folder_is_read_from_either_layouts_key() -> None:
    assert [folder_of(k) for k in KEYS] == [
        Folder(0, "2026-11-20", 0),
        Folder(0, "2026-11-21", 4),
        Folder(2, "2026-11-22", 1),
    ]
    assert folder_of("plans/topic=tweets/partition=0/from-1.json") is None
