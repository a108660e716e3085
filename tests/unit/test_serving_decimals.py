"""The serving SQL keeps every sum DECIMAL(38,0) on Redshift: no sum crosses a set
operation, a COALESCE or a CASE as a DECIMAL (Redshift gives those at most 19 digits),
every SUM of a sum is cast to DECIMAL(38,0) (tests/unit/redshift_rules.py says why, with
Amazon's pages). The values themselves: tests/integration/test_redshift_precision.py."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from lambda_common.sql import load_sql, statements
from lambda_common.views import View, load_views, parse_view
from lambda_common.views.sql import quote, serving_ddl
from serving_layer.catalogue import list_queries, load_query
from tests.unit import redshift_rules as rules

# A view of one's own (VIEWS_DIR) with two keys of other types: derived like the rest.
MINE = parse_view(
    """\
-- view: audiences
-- key: audience varchar(16)
-- key: verified boolean
-- reads: tweets
SELECT event_hour, 'all' AS audience, FALSE AS verified, COUNT(*) AS tweet_count,
    SUM(CAST(followers_count AS DECIMAL(38, 0))) AS followers_sum,
    SUM(CAST(favorite_count AS DECIMAL(38, 0))) AS favorite_sum,
    SUM(CAST(retweet_count AS DECIMAL(38, 0))) AS retweet_sum
FROM tweets GROUP BY 1, 2, 3
""",
    "mine/audiences.sql",
)
VIEWS = (*load_views(), MINE)


def _filled(name: str, view: View) -> list[str]:
    """A serving-view reader of the dashboard or status, filled in as the code does."""
    keys = ", ".join(quote(k.name) for k in view.keys)
    names = {"serving": quote(view.serving_view), "relation": quote(view.serving_view)}
    text = load_sql(name, "redshift").format(keys=keys, **names)
    return statements(text)


def _serving_sql() -> list[tuple[str, str]]:
    out = [(f"serving view {v.name}", serving_ddl(v, "redshift")) for v in VIEWS]
    out += [(f"query {name}", load_query(name).text) for name in list_queries()]
    for name in ("dashboard_top", "dashboard_hours", "status_serving"):
        out += [(f"{name} {v.name}", s) for v in VIEWS for s in _filled(name, v)]
    return out


@pytest.mark.parametrize(("name", "statement"), _serving_sql(), ids=lambda x: str(x)[:40])
def test_every_serving_statement_keeps_its_sums_decimal_38_0(name: str, statement: str) -> None:
    tree = rules.parse(statement)
    assert tree is not None
    assert rules.faults(statement) == [], name
    assert rules.decimal_faults(tree) == [], name


@pytest.mark.parametrize("dialect", ["redshift", "postgres"])
@pytest.mark.parametrize("view", VIEWS, ids=lambda v: v.name)
def test_a_serving_view_carries_its_sums_across_the_union_as_text(dialect: str, view: View) -> None:
    create = sqlglot.parse_one(rules.bind(serving_ddl(view, dialect)), read=dialect)
    assert isinstance(create, exp.Create) and create.args["kind"] == "VIEW"
    select = create.expression
    assert [p.alias_or_name for p in select.expressions] == list(view.columns)
    (union,) = list(select.find_all(exp.Union))
    assert union.args.get("distinct") is False  # UNION ALL: the layers' rows never meet
    for branch in (union.this, union.expression):
        sums = {p.alias_or_name: p.this for p in branch.expressions}
        sums = {n: c for n, c in sums.items() if n in rules.SUMS}
        assert {n: c.to.sql("redshift") for n, c in sums.items()} == dict.fromkeys(
            rules.SUMS, "VARCHAR(40)"
        )
    back = {p.alias_or_name: p.this for p in select.expressions if p.alias_or_name in rules.SUMS}
    assert {n: c.to.sql("redshift") for n, c in back.items()} == dict.fromkeys(
        rules.SUMS, "DECIMAL(38, 0)"
    )


def test_daily_totals_casts_each_days_sums_back_after_its_union() -> None:
    tree = rules.parse(load_query("daily_totals").text)
    assert isinstance(tree, exp.Select)
    assert [p.alias_or_name for p in tree.expressions] == [
        "event_day",
        "tweet_count",
        *rules.SUMS,
        "locations",
    ]
    assert len(list(tree.find_all(exp.Union))) == 1


WRONG = {
    "a sum crossing a union as a decimal": (
        "SELECT u.followers_sum FROM (SELECT b.followers_sum FROM b "
        "UNION ALL SELECT s.followers_sum FROM s) AS u",
        "crosses a set operation as b.followers_sum",
    ),
    "a union's text not cast back": (
        "SELECT u.followers_sum FROM (SELECT CAST(b.followers_sum AS VARCHAR(40)) AS "
        "followers_sum FROM b UNION ALL SELECT CAST(s.followers_sum AS VARCHAR(40)) AS "
        "followers_sum FROM s) AS u",
        "is not cast back to DECIMAL(38,0)",
    ),
    "a union at the top": (
        "SELECT CAST(b.followers_sum AS VARCHAR(40)) AS followers_sum FROM b "
        "UNION ALL SELECT CAST(s.followers_sum AS VARCHAR(40)) AS followers_sum FROM s",
        "leave it as text",
    ),
    "another decimal in a union": (
        "SELECT x FROM (SELECT CAST(a AS DECIMAL(38, 0)) AS x FROM b "
        "UNION ALL SELECT CAST(a AS DECIMAL(38, 0)) AS x FROM s) AS u",
        "x: a DECIMAL crosses a set operation",
    ),
    "a star in a union": (
        "SELECT * FROM (SELECT * FROM b UNION ALL SELECT * FROM s) AS u",
        "SELECT * in a set operation's branch",
    ),
    "a sum not cast": ("SELECT SUM(followers_sum) FROM serving_view", "is not cast to DECIMAL"),
    "a COALESCE of a sum": (
        "SELECT CAST(SUM(COALESCE(followers_sum, 0)) AS DECIMAL(38, 0)) FROM v",
        "takes a sum",
    ),
    "a CASE of a sum": (
        "SELECT CASE WHEN a THEN retweet_sum ELSE favorite_sum END FROM v",
        "takes a sum",
    ),
}


@pytest.mark.parametrize("case", sorted(WRONG))
def test_the_check_finds_each_way_a_sum_could_lose_digits(case: str) -> None:
    statement, fault = WRONG[case]
    tree = rules.parse(statement)
    assert tree is not None
    found = rules.decimal_faults(tree)
    assert any(fault in f for f in found), found
    assert all(rules.PRECISION in f or "r_SUM.html" in f for f in found)
