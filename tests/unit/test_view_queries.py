"""The named queries derived from each view's definition (``serving_layer.view_queries``):
the six that were files until then are the same queries, and a view of one's own gets
its own with no SQL written."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from lambda_common.errors import QueryUsageError
from lambda_common.views import load_views, parse_view
from serving_layer.catalogue import list_queries, load_query, parse_query_text
from serving_layer.view_queries import view_queries

FIXTURES = Path(__file__).parent.parent / "fixtures" / "named_queries_v3"


BOUND = re.compile(r"%\((\w+)\)s")


@pytest.mark.parametrize("old", sorted(FIXTURES.glob("*.sql")), ids=lambda p: p.stem)
def test_a_derived_query_is_the_file_it_replaces(old: Path) -> None:
    before = parse_query_text(old.stem, old.read_text(encoding="utf-8"))
    after = load_query(old.stem)
    assert after.description == before.description
    assert after.params == before.params
    # The SQL is written anew around the rows tagged with their layer; that it answers
    # alike is proven on PostgreSQL (tests/integration/test_serving_query.py).
    assert set(BOUND.findall(after.text)) == set(BOUND.findall(before.text))


def test_every_shipped_view_gets_its_queries() -> None:
    names = set(list_queries())
    for expected in [
        "top_locations",
        "location_hourly",
        "latest",
        "layers",
        "top_hashtags",
        "hashtag_hourly",
        "latest_hashtags",
        "layers_hashtags",
        "top_languages",
        "lang_hourly",
        "latest_languages",
        "layers_languages",
    ]:
        assert expected in names
    assert {"daily_totals", "language_shares", "layers_summary"} <= names


OWN = """\
-- view: lang_places
-- key: lang varchar(140)
-- key: location varchar(800)
-- reads: tweets
SELECT event_hour, lang, location, COUNT(*) AS tweet_count,
    SUM(CAST(followers_count AS DECIMAL(38, 0))) AS followers_sum,
    SUM(CAST(favorite_count AS DECIMAL(38, 0))) AS favorite_sum,
    SUM(CAST(retweet_count AS DECIMAL(38, 0))) AS retweet_sum
FROM tweets GROUP BY event_hour, lang, location
"""


def test_a_view_of_ones_own_with_two_keys() -> None:
    view = parse_view(OWN, "own/lang_places.sql")
    views = (*load_views(), view)
    assert {"top_lang_places", "lang_location_hourly", "latest_lang_places"} <= set(
        list_queries(views)
    )
    top = load_query("top_lang_places", views)
    assert top.description.startswith("The lang places with the most tweets")
    assert 'GROUP BY "lang", "location"' in top.text and 'FROM "serving_lang_places"' in top.text
    hourly = load_query("lang_location_hourly", views)
    assert hourly.describe_params() == "lang (required), location (required), hours=48"
    assert 'v."lang" = %(lang)s AND v."location" = %(location)s' in hourly.text
    assert "The lang is matched" in hourly.description
    assert "The location is matched" in hourly.description
    latest = load_query("latest_lang_places", views).text
    assert 'FROM "batch_lang_places" AS b' in latest and 'FROM "speed_lang_places" AS s' in latest
    layers = load_query("layers_lang_places", views).text
    assert re.search(r'ORDER BY event_hour DESC, tweet_count DESC, "lang", "location"', layers)


def test_a_key_named_like_a_parameter_gets_no_hourly_query() -> None:
    view = parse_view(OWN.replace("lang_places", "x").replace("lang", "hours"), "own/x.sql")
    names = view_queries(view)
    assert not any(name.endswith("_hourly") for name in names)
    assert "top_x" in names


def test_a_derived_name_that_is_taken_is_left_out_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A view named "summary" would derive layers_summary, a shipped query's name.
    own = OWN.replace("lang_places", "summary")
    views = (*load_views(), parse_view(own, "own/summary.sql"))
    with caplog.at_level(logging.WARNING):
        names = list_queries(views)
    assert "top_summary" in names and "latest_summary" in names
    assert "layers_summary" in caplog.text and "own/summary.sql" in caplog.text
    assert "serving_summary" not in load_query("layers_summary", views).text


def test_an_unknown_name_lists_the_names() -> None:
    with pytest.raises(QueryUsageError, match="unknown query 'nope'; named queries: daily_"):
        load_query("nope")
