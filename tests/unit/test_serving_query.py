"""The serving layer's query command without a warehouse: the named queries' headers and
SQL (parsed as Redshift and PostgreSQL), parameters, the read-only statement check and
the three output formats."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlglot
from sqlglot import exp

from lambda_common.errors import QueryError
from lambda_common.render import CELL_WIDTH, QueryResult, render
from serving_layer.catalogue import (
    DERIVED,
    MAX_INT_PARAM,
    QueryParam,
    QueryUsageError,
    list_queries,
    load_query,
    parse_query_text,
)
from serving_layer.guard import check_statement
from serving_layer.params import bind_params, parse_param_pairs
from serving_layer.render import render_query_list
from tests.unit import redshift_rules as rules

NOW = datetime(2026, 11, 21, 10, 15, 30)
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _bind(statement: str) -> str:
    """Placeholders replaced by literals, as the driver does when it sends them."""
    return PLACEHOLDER.sub("'value'", statement)


# -- the shipped named queries ---------------------------------------------------------


def test_the_documented_queries_ship_with_their_parameters() -> None:
    expected = {
        "latest": (QueryParam("limit", 20, "int"),),
        "top_locations": (QueryParam("hours", 24, "int"), QueryParam("limit", 10, "int")),
        "location_hourly": (
            QueryParam("location", None, "text"),
            QueryParam("hours", 48, "int"),
        ),
        "daily_totals": (QueryParam("days", 30, "int"),),
        "top_hashtags": (QueryParam("hours", 24, "int"), QueryParam("limit", 10, "int")),
        "hashtag_hourly": (
            QueryParam("hashtag", None, "text"),
            QueryParam("hours", 48, "int"),
        ),
        "language_shares": (QueryParam("hours", 24, "int"), QueryParam("limit", 20, "int")),
    }
    assert set(expected) <= set(list_queries())
    for name, params in expected.items():
        query = load_query(name)
        assert query.name == name and query.params == params
        assert query.description and "--" not in query.description
    assert load_query("location_hourly").describe_params() == "location (required), hours=48"
    assert load_query("top_locations").defaults == {"hours": 24, "limit": 10}


@pytest.mark.parametrize("name", list_queries())
def test_every_query_header_matches_its_sql(name: str) -> None:
    query = load_query(name)
    declared = {p.name for p in query.params}
    used = set(PLACEHOLDER.findall(query.text))
    assert used <= declared | set(DERIVED), f"{name} uses undeclared {used - declared}"
    # hours and days are used through since, the start of the window they set.
    windows = declared & {"hours", "days"}
    assert bool(windows) == ("since" in used), f"{name}: since and hours/days go together"
    assert declared - windows <= used, f"{name} declares unused {declared - windows - used}"
    # psycopg2 formats like Python's % operator: no stray % that would break binding.
    values = bind_params(query, {p.name: "x" for p in query.params if p.required}, now=NOW)
    assert "%" not in query.text % values


def _named_statements() -> list[tuple[str, str]]:
    return [(name, dialect) for name in list_queries() for dialect in ("redshift", "postgres")]


@pytest.mark.parametrize(("name", "dialect"), _named_statements())
def test_every_query_parses_as_redshift_and_postgres(name: str, dialect: str) -> None:
    text = load_query(name).text
    if dialect == "redshift":
        # Parsed, and none of the features Redshift lacks (tests/unit/redshift_rules.py).
        assert rules.faults(text) == [], name
        parsed = [rules.parse(text)]
    else:
        parsed = sqlglot.parse(_bind(text), read=dialect)
    assert len(parsed) == 1, f"{name}: one statement expected"
    # exp.Command is sqlglot's "could not understand, kept as text": that is not a parse.
    assert isinstance(parsed[0], exp.Query), f"{name}: not understood as a query ({dialect})"


def test_query_names_are_checked_before_any_file_is_opened() -> None:
    for bad in ("nope", "../lambda_common/sql/common/schema", "LATEST", ""):
        with pytest.raises(QueryUsageError, match="unknown query") as info:
            load_query(bad)
        assert "latest, " in str(info.value) or ", latest" in str(info.value)


def test_header_parsing() -> None:
    text = (
        "-- Line one of the description,\n"
        "--   line two.\n"
        "-- params: where (required), hours=6, label=all rows\n"
        "SELECT 1 -- not part of the header\n"
        "-- nor this\n"
    )
    query = parse_query_text("q", text)
    assert query.description == "Line one of the description, line two."
    assert query.params == (
        QueryParam("where", None, "text"),
        QueryParam("hours", 6, "int"),
        QueryParam("label", "all rows", "text"),
    )
    assert query.params[0].required and not query.params[1].required
    assert query.text == text
    assert parse_query_text("q", "-- Desc.\n-- params: none\nSELECT 1").params == ()
    assert parse_query_text("q", "-- Desc.\nSELECT 1").params == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-- D.\n-- params: a=1\n-- params: b=2\nSELECT 1", "more than one"),
        ("-- D.\n-- params: 9a=1\nSELECT 1", "cannot read"),
        ("-- D.\n-- params: a (optional)\nSELECT 1", "cannot read"),
        ("-- D.\n-- params: now=1\nSELECT 1", "reserved"),
        ("-- D.\n-- params: a=1, a=2\nSELECT 1", "reserved or repeated"),
        ("-- D.\n-- params: hours=1, days=2\nSELECT 1", "both hours and days"),
        ("-- D.\n-- params: hours=some\nSELECT 1", "whole number"),
        ("-- params: a=1\nSELECT 1", "no description"),
    ],
)
def test_bad_headers_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_query_text("q", text)


# -- parameters ----------------------------------------------------------------------


def test_param_pairs() -> None:
    assert parse_param_pairs([]) == {}
    assert parse_param_pairs(["hours=6", "location=a=b", " limit =3", "empty="]) == {
        "hours": "6",
        "location": "a=b",
        "limit": "3",
        "empty": "",
    }
    with pytest.raises(QueryUsageError, match="NAME=VALUE, got 'hours'"):
        parse_param_pairs(["hours"])
    with pytest.raises(QueryUsageError, match="NAME=VALUE"):
        parse_param_pairs(["=6"])
    with pytest.raises(QueryUsageError, match="hours is given twice"):
        parse_param_pairs(["hours=1", "hours=2"])


def test_defaults_derived_values_and_overrides() -> None:
    top = load_query("top_locations")
    assert bind_params(top, {}, now=NOW) == {
        "hours": 24,
        "limit": 10,
        "now": NOW,
        # The current hour and the 23 before it.
        "since": datetime(2026, 11, 20, 11),
    }
    assert bind_params(top, {"hours": "1", "limit": " 7 "}, now=NOW)["since"] == datetime(
        2026, 11, 21, 10
    )
    daily = load_query("daily_totals")
    assert bind_params(daily, {"days": "1"}, now=NOW)["since"] == datetime(2026, 11, 21)
    assert bind_params(daily, {}, now=NOW)["since"] == datetime(2026, 10, 23)
    assert bind_params(load_query("latest"), {}, now=NOW)["since"] is None
    # A window reaching back before year 1 covers everything rather than failing.
    assert bind_params(daily, {"days": str(MAX_INT_PARAM)}, now=NOW)["since"] == datetime.min
    before = datetime.now(UTC).replace(tzinfo=None)
    now = bind_params(daily, {})["now"]
    assert now.tzinfo is None and before <= now <= before + timedelta(minutes=1)


def test_a_location_is_matched_as_the_pipeline_groups_it() -> None:
    hourly = load_query("location_hourly")
    assert bind_params(hourly, {"location": " \tParis \n"}, now=NOW)["location"] == "Paris"
    assert bind_params(hourly, {"location": "  "}, now=NOW)["location"] == "(unknown)"
    odd = 'say "hi"\tthere 🎉 \\N'
    assert bind_params(hourly, {"location": odd}, now=NOW)["location"] == odd
    assert bind_params(hourly, {"location": "a\x00b"}, now=NOW)["location"] == "a\ufffdb"


def test_a_hashtag_is_matched_as_the_pipeline_keys_it() -> None:
    hourly = load_query("hashtag_hourly")

    def bound(raw: str) -> str:
        return str(bind_params(hourly, {"hashtag": raw}, now=NOW)["hashtag"])

    assert bound("#Python ") == "python"
    assert bound(" \tPYTHON\n") == "python"
    assert bound("##dup") == "#dup"  # one leading # removed, as the pipeline does
    assert bound("Straße") == "straße"
    assert bound("x" * 150) == "x" * 100
    assert bound("a\x00b") == "a\ufffdb"  # NUL as the warehouse holds it
    for empty in ("", "   ", "#", " # "):
        with pytest.raises(QueryUsageError, match=r"parameter hashtag .* is empty") as info:
            bound(empty)
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["top_hashtags", "hashtag_hourly", "language_shares"])
def test_the_new_views_queries_read_their_serving_views(name: str) -> None:
    text = load_query(name).text
    view = "serving_languages" if name == "language_shares" else "serving_hashtags"
    tables = {t.name for t in sqlglot.parse_one(_bind(text), read="postgres").find_all(exp.Table)}
    assert view in tables and "serving_view" not in tables


def test_unknown_missing_and_invalid_parameters_are_one_line_errors() -> None:
    hourly = load_query("location_hourly")
    with pytest.raises(QueryUsageError) as info:
        bind_params(hourly, {"location": "x", "limit": "3"}, now=NOW)
    assert str(info.value) == (
        "query location_hourly has no parameter 'limit'; "
        "its parameters: location (required), hours=48"
    )
    with pytest.raises(QueryUsageError) as info:
        bind_params(hourly, {"hours": "3"}, now=NOW)
    assert str(info.value) == (
        "query location_hourly needs --param location=VALUE; "
        "its parameters: location (required), hours=48"
    )
    for bad in ("0", "-1", "abc", "1.5", "", "1e3", "١٢", str(MAX_INT_PARAM + 1)):
        with pytest.raises(QueryUsageError, match="hours must be a whole number from 1") as info:
            bind_params(hourly, {"location": "x", "hours": bad}, now=NOW)
        assert "\n" not in str(info.value)
    with pytest.raises(QueryUsageError, match="its parameters: none"):
        bind_params(load_query("layers_summary"), {"x": "1"}, now=NOW)


# -- the read-only statement check ---------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT 1",
        "select 1;",
        "SELECT 1 ;  \n",
        "  ( SELECT 1 ) UNION SELECT 2",
        "WITH x AS (SELECT 1) SELECT * FROM x",
        "-- a comment; with a semicolon\nSELECT 1",
        "/* ; */ SELECT 1; -- trailing comment; too",
        "SELECT 'a;b', \"odd;name\" FROM t",
        "SELECT 'it''s; fine'",
        "VALUES (1)",
        "TABLE serving_view",
        "SHOW search_path",
        "EXPLAIN SELECT 1",
        "SELECT * FROM t WHERE location LIKE 'Par%'",
        "SELECT $é$;'$é$",  # a dollar-quoted string with a non-ASCII tag: one statement
        "SELECT $ü2$it's$ü2$",
        "SELECT $$; DELETE FROM t; $$",  # one dollar-quoted string, as PostgreSQL reads it
    ],
)
def test_one_read_statement_is_accepted(statement: str) -> None:
    check_statement(statement)


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("DELETE FROM batch_view", "not DELETE"),
        ("  insert into t values (1)", "not INSERT"),
        ("COPY t TO '/tmp/x'", "not COPY"),
        ("SET TRANSACTION READ WRITE", "not SET"),
        ("COMMIT", "not COMMIT"),
        ("SELECT 1; DELETE FROM batch_view", "only one SQL statement"),
        ("SELECT 1; COMMIT; DELETE FROM batch_view", "only one SQL statement"),
        ("SELECT 1;;SELECT 2", "only one SQL statement"),
        # Read as PostgreSQL reads them (tests/unit/test_sql_guard.py has many more): a
        # second statement after a string, or a literal left open, which PostgreSQL
        # refuses whole.
        ("SELECT E'\\''; DELETE FROM t; SELECT '", "cannot be read: unterminated quoted"),
        ("SELECT 'a\\'; DELETE FROM t; SELECT ''", "only one SQL statement"),
        ("/* /* */ ; DELETE FROM t; /* */ SELECT 1", "cannot be read: unterminated /\\*"),
        # The reported bypass: a non-ASCII dollar tag read as PostgreSQL reads it.
        ("SELECT $é$'$é$; COMMIT; DROP TABLE batch_horizon; -- '", "only one SQL statement"),
        ("SELECT $日本$'$日本$; DELETE FROM t; -- '", "only one SQL statement"),
        ("", "holds no statement"),
        ("  ; -- nothing\n", "holds no statement"),
    ],
)
def test_anything_else_is_refused(statement: str, message: str) -> None:
    with pytest.raises(QueryError, match=message) as info:
        check_statement(statement)
    assert "\n" not in str(info.value)


# -- output --------------------------------------------------------------------------

ODD = 'say "hi"\tthere\nnow'
SAMPLE = QueryResult(
    ("event_hour", "location", "tweet_count", "layer"),
    [
        (datetime(2026, 11, 21, 10), ODD, 1234567, "speed"),
        (datetime(2026, 11, 21, 9, 30, 15), "🎉 party", Decimal(5), "batch"),
        (datetime(2026, 11, 21, 9), "\\N", 0, None),
    ],
)


def test_table() -> None:
    assert render(SAMPLE, "table") == (
        "event_hour        location              tweet_count  layer\n"
        "----------------  --------------------  -----------  -----\n"
        '2026-11-21 10:00  say "hi"\\tthere\\nnow    1,234,567  speed\n'
        "2026-11-21 09:30  🎉 party" + " " * 24 + "5  batch\n"
        "2026-11-21 09:00  \\N" + " " * 30 + "0\n"
        "(3 rows)\n"
    )
    assert render(SAMPLE) == render(SAMPLE, "table")


def test_table_cuts_long_text_and_escapes_controls() -> None:
    long = "x" * 100
    wide = "界" * 30
    result = QueryResult(
        ("a", "b"),
        [(long, "\x1b[31mred\u202e\r")],
    )
    lines = render(result, "table").splitlines()
    assert lines[2].startswith("x" * (CELL_WIDTH - 1) + "…  ")
    assert lines[2].endswith("\\x1b[31mred\\u202e\\r")
    assert render(QueryResult(("w",), [(wide,)]), "table").splitlines()[2] == "界" * 19 + "…"
    assert render(QueryResult(("n",), [(1,)]), "table").endswith("\n(1 row)\n")


def test_table_of_no_rows_and_of_other_types() -> None:
    assert render(QueryResult(("a", "b"), []), "table") == "a  b\n-  -\n(0 rows)\n"
    aware = datetime(2026, 11, 21, 12, 5, tzinfo=timezone(timedelta(hours=2)))
    result = QueryResult(
        ("t", "d", "f", "ok", "raw"),
        [(aware, date(2026, 1, 2), Decimal("1234.5"), True, b"\x00\xff")],
    )
    assert render(result, "table").splitlines()[2] == (
        "2026-11-21 10:05  2026-01-02  1,234.5  true  \\x00ff"
    )


def test_csv_keeps_values_verbatim() -> None:
    text = render(SAMPLE, "csv")
    assert text.splitlines()[0] == "event_hour,location,tweet_count,layer"
    assert list(csv.reader(io.StringIO(text))) == [
        ["event_hour", "location", "tweet_count", "layer"],
        ["2026-11-21 10:00:00", ODD, "1234567", "speed"],
        ["2026-11-21 09:30:15", "🎉 party", "5", "batch"],
        ["2026-11-21 09:00:00", "\\N", "0", ""],
    ]


def test_json_is_an_array_of_objects() -> None:
    assert json.loads(render(SAMPLE, "json")) == [
        {
            "event_hour": "2026-11-21T10:00:00",
            "location": ODD,
            "tweet_count": 1234567,
            "layer": "speed",
        },
        {
            "event_hour": "2026-11-21T09:30:15",
            "location": "🎉 party",
            "tweet_count": 5,
            "layer": "batch",
        },
        {"event_hour": "2026-11-21T09:00:00", "location": "\\N", "tweet_count": 0, "layer": None},
    ]
    odd = QueryResult(("a", "a", "d"), [(Decimal("1.5"), Decimal("NaN"), date(2026, 1, 2))])
    assert json.loads(render(odd, "json")) == [{"a": 1.5, "a_2": "NaN", "d": "2026-01-02"}]
    assert render(QueryResult(("a",), []), "json") == "[]\n"


# Sums are numeric(38,0): psycopg2 gives them as Decimal, beyond what a bigint or a float
# holds exactly (2 * (2^63 - 1), and the largest 38-digit value).
BIG_SUMS = QueryResult(
    ("location", "followers_sum", "favorite_sum"),
    [("Paris", Decimal(2 * (2**63 - 1)), Decimal(10**38 - 1))],
)


def test_big_decimal_sums_are_exact_in_every_format() -> None:
    doubled, widest = "18446744073709551614", "9" * 38
    text = render(BIG_SUMS, "json")
    # Written as JSON integers, digit for digit (a float would print 1.8446744073709552e+19).
    assert f'"followers_sum": {doubled},' in text and f'"favorite_sum": {widest}\n' in text
    assert json.loads(text) == [
        {"location": "Paris", "followers_sum": 2 * (2**63 - 1), "favorite_sum": 10**38 - 1}
    ]
    assert render(BIG_SUMS, "csv").splitlines()[1] == f"Paris,{doubled},{widest}"
    assert render(BIG_SUMS, "table").splitlines()[2].split() == [
        "Paris",
        f"{2 * (2**63 - 1):,}",
        f"{10**38 - 1:,}",
    ]


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="formats: table, csv, json"):
        render(SAMPLE, "xml")


def test_query_list() -> None:
    queries = [load_query(n) for n in list_queries()]
    text = render_query_list(queries, "table")
    assert "\nlocation_hourly  (location (required), hours=48)\n    Hour by hour" in text
    assert "\nhashtag_hourly  (hashtag (required), hours=48)\n    Hour by hour" in text
    assert "\nlanguage_shares  (hours=24, limit=20)\n" in text
    listed = json.loads(render_query_list(queries, "json"))
    assert [q["name"] for q in listed] == list_queries()
    assert {"name": "latest", "params": "limit=20"}.items() <= listed[
        list_queries().index("latest")
    ].items()
