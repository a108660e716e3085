"""The view definitions (lambda_common.views): the shipped files, the parsing rules, and
``VIEWS_DIR`` adding views of one's own (CONTRACT section 2b, docs/adding-a-view.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambda_common.errors import ConfigError
from lambda_common.settings import load_settings
from lambda_common.views import (
    MEASURES,
    RELATIONS,
    Key,
    View,
    load_views,
    parse_view,
    views_fingerprint,
)

pytestmark = pytest.mark.unit

GOOD = """\
-- view: audiences
-- key: audience varchar(16)
-- reads: tweets
--
-- Tweets per hour and audience size.
SELECT
    event_hour,
    CASE WHEN followers_count >= 1000000 THEN 'mega' ELSE 'small' END AS audience,
    COUNT(*)                                     AS tweet_count,
    SUM(CAST(followers_count AS DECIMAL(38, 0))) AS followers_sum,
    SUM(CAST(favorite_count AS DECIMAL(38, 0)))  AS favorite_sum,
    SUM(CAST(retweet_count AS DECIMAL(38, 0)))   AS retweet_sum
FROM tweets
GROUP BY 1, 2;
"""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer .env or exported VIEWS_DIR leaks into these tests."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VIEWS_DIR", raising=False)


def _with(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new)


# --- the shipped views ------------------------------------------------------------------


def test_the_shipped_views_locations_first() -> None:
    views = load_views()
    assert [v.name for v in views] == ["locations", "hashtags", "languages"]
    by_name = {v.name: v for v in views}
    locations = by_name["locations"]
    assert (locations.batch_table, locations.speed_table, locations.serving_view) == (
        "batch_view",
        "speed_view",
        "serving_view",
    )
    assert locations.keys == (Key("location", "varchar(800)"),)
    assert locations.reads == "tweets"
    hashtags = by_name["hashtags"]
    assert (hashtags.batch_table, hashtags.speed_table, hashtags.serving_view) == (
        "batch_hashtags",
        "speed_hashtags",
        "serving_hashtags",
    )
    assert hashtags.key_columns == ("event_hour", "hashtag")
    assert hashtags.reads == "tweet_hashtags"
    languages = by_name["languages"]
    assert languages.key_columns == ("event_hour", "lang")
    assert languages.reads == "tweets"
    assert languages.serving_view == "serving_languages"
    for view in views:
        assert view.columns == (*view.key_columns, *MEASURES)
        assert view.source == f"lambda_common/views/{view.name}.sql"
        assert view.select.startswith("SELECT") and "--" not in view.select


def test_keys_fit_the_contract_limits_in_utf8_bytes() -> None:
    # varchar(n) counts bytes on Redshift: 4 bytes per code point of the contract's limit.
    by_name = {v.name: v for v in load_views()}
    assert by_name["locations"].keys[0].sql_type == "varchar(800)"  # 200 code points
    assert by_name["hashtags"].keys[0].sql_type == "varchar(400)"  # 100 code points
    assert by_name["languages"].keys[0].sql_type == "varchar(140)"  # 35 code points


def test_settings_give_the_shipped_views_without_views_dir() -> None:
    settings = load_settings()
    assert settings.views_dir is None
    assert settings.views == load_views()


# --- a good definition ------------------------------------------------------------------


def test_a_good_file_is_parsed() -> None:
    view = parse_view(GOOD, "my/audiences.sql")
    assert view.name == "audiences"
    assert view.keys == (Key("audience", "varchar(16)"),)
    assert view.key_columns == ("event_hour", "audience")
    assert view.columns == ("event_hour", "audience", *MEASURES)
    assert view.reads == "tweets"
    assert (view.batch_table, view.speed_table, view.serving_view) == (
        "batch_audiences",
        "speed_audiences",
        "serving_audiences",
    )
    assert view.source == "my/audiences.sql"
    # Comment lines and the final semicolon are gone; the SELECT is kept as written.
    assert view.select.startswith("SELECT\n    event_hour,")
    assert view.select.endswith("GROUP BY 1, 2")
    assert "--" not in view.select and ";" not in view.select


def test_header_spacing_and_case_of_the_type_are_free() -> None:
    text = _with(GOOD, "-- key: audience varchar(16)", "--key:   audience   VARCHAR(16)  ")
    text = _with(text, "-- reads: tweets", "--   reads :tweets")
    view = parse_view(text, "x.sql")
    assert view.keys == (Key("audience", "varchar(16)"),)
    assert view.reads == "tweets"


def test_several_keys_and_each_type() -> None:
    keys = "\n".join(
        f"-- key: k{i} {t}"
        for i, t in enumerate(["varchar(1)", "bigint", "integer", "date", "timestamp", "boolean"])
    )
    view = parse_view(_with(GOOD, "-- key: audience varchar(16)", keys), "x.sql")
    assert view.key_columns == ("event_hour", "k0", "k1", "k2", "k3", "k4", "k5")
    assert view.keys[1] == Key("k1", "bigint")


def test_tables_line_names_the_three_relations() -> None:
    view = parse_view(GOOD.replace("-- reads:", "-- tables: b_a s_a v_a\n-- reads:"), "x.sql")
    assert (view.batch_table, view.speed_table, view.serving_view) == ("b_a", "s_a", "v_a")


def test_a_view_may_read_tweet_hashtags() -> None:
    view = parse_view(_with(GOOD, "-- reads: tweets", "-- reads: tweet_hashtags"), "x.sql")
    assert view.reads == "tweet_hashtags"
    assert "hashtag" in RELATIONS["tweet_hashtags"]
    assert "hashtag" not in RELATIONS["tweets"]
    assert {"event_hour", "lang", "location", "followers_count"} <= set(RELATIONS["tweets"])


def test_the_fingerprint_follows_what_the_view_computes() -> None:
    view = parse_view(GOOD, "a.sql")
    assert parse_view(GOOD, "elsewhere/a.sql").fingerprint == view.fingerprint
    assert parse_view("-- a comment\n" + GOOD, "a.sql").fingerprint == view.fingerprint
    changed = parse_view(_with(GOOD, "1000000", "2000000"), "a.sql")
    assert changed.fingerprint != view.fingerprint
    wider = parse_view(_with(GOOD, "varchar(16)", "varchar(32)"), "a.sql")
    assert wider.fingerprint != view.fingerprint
    shipped = load_views()
    assert views_fingerprint(shipped) == views_fingerprint(load_views())
    assert views_fingerprint(shipped) != views_fingerprint((*shipped, view))


# --- rejected definitions: ConfigError naming the file ---------------------------------


BAD = {
    "no view line": _with(GOOD, "-- view: audiences\n", ""),
    "two view lines": _with(GOOD, "-- view: audiences\n", "-- view: audiences\n-- view: b\n"),
    "upper-case name": _with(GOOD, "-- view: audiences", "-- view: Audiences"),
    "name with a dash": _with(GOOD, "-- view: audiences", "-- view: my-view"),
    "name starting with a digit": _with(GOOD, "-- view: audiences", "-- view: 1view"),
    "name of 41 characters": _with(GOOD, "-- view: audiences", "-- view: " + "a" * 41),
    "quote in the name": _with(GOOD, "-- view: audiences", '-- view: a"b'),
    "no reads line": _with(GOOD, "-- reads: tweets\n", ""),
    "unknown relation": _with(GOOD, "-- reads: tweets", "-- reads: raw_tweets"),
    "two reads lines": _with(GOOD, "-- reads: tweets", "-- reads: tweets\n-- reads: tweets"),
    "no key line": _with(GOOD, "-- key: audience varchar(16)\n", ""),
    "key without a type": _with(GOOD, "varchar(16)", ""),
    "key of type text": _with(GOOD, "varchar(16)", "text"),
    "varchar without a length": _with(GOOD, "varchar(16)", "varchar"),
    "varchar(0)": _with(GOOD, "varchar(16)", "varchar(0)"),
    "varchar too long": _with(GOOD, "varchar(16)", "varchar(123456)"),
    "type with SQL after it": _with(GOOD, "varchar(16)", "varchar(16) DEFAULT 'x'"),
    "upper-case key name": _with(GOOD, "-- key: audience", "-- key: Audience"),
    "key named like a measure": _with(GOOD, "-- key: audience", "-- key: tweet_count"),
    "key named like another measure": _with(GOOD, "-- key: audience", "-- key: retweet_sum"),
    "key named event_hour": _with(GOOD, "-- key: audience", "-- key: event_hour"),
    "the same key twice": _with(
        GOOD, "-- key: audience varchar(16)", "-- key: a bigint\n-- key: a integer"
    ),
    "two statements": _with(GOOD, "GROUP BY 1, 2;", "GROUP BY 1, 2; DELETE FROM raw_tweets"),
    "two statements on two lines": GOOD + "SELECT 1;\n",
    "not a SELECT": _with(GOOD, "SELECT\n", "WITH x AS (SELECT 1)\nSELECT\n"),
    "a DELETE": "-- view: a\n-- key: k bigint\n-- reads: tweets\nDELETE FROM raw_tweets\n",
    "no body": "-- view: a\n-- key: k bigint\n-- reads: tweets\n",
    "tables line with two names": GOOD.replace("-- reads:", "-- tables: b_a s_a\n-- reads:"),
    "tables line with a bad name": GOOD.replace("-- reads:", "-- tables: b_a s_a V\n-- reads:"),
    "two tables lines": GOOD.replace(
        "-- reads:", "-- tables: b_a s_a v_a\n-- tables: b_b s_b v_b\n-- reads:"
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_definition_breaking_a_rule_is_refused_naming_the_file(case: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_view(BAD[case], "/my/views/bad_view.sql")
    assert "/my/views/bad_view.sql" in str(info.value)


def test_a_bad_file_in_views_dir_is_refused_naming_it(tmp_path: Path) -> None:
    (tmp_path / "good.sql").write_text(GOOD, encoding="utf-8")
    (tmp_path / "broken.sql").write_text(BAD["key named like a measure"], encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_views(tmp_path)
    assert str(tmp_path / "broken.sql") in str(info.value)


# --- VIEWS_DIR ---------------------------------------------------------------------------


def test_views_dir_adds_a_view_after_locations(tmp_path: Path) -> None:
    (tmp_path / "audiences.sql").write_text(GOOD, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a view", encoding="utf-8")
    (tmp_path / "zz.sql").write_text(
        _with(GOOD, "-- view: audiences", "-- view: aa_first"), encoding="utf-8"
    )
    views = load_views(tmp_path)
    # locations first, then the rest by name, the user's among the shipped ones.
    assert [v.name for v in views] == [
        "locations",
        "aa_first",
        "audiences",
        "hashtags",
        "languages",
    ]
    audiences = next(v for v in views if v.name == "audiences")
    assert audiences.source == str(tmp_path / "audiences.sql")
    assert audiences.serving_view == "serving_audiences"


def test_settings_read_views_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "audiences.sql").write_text(GOOD, encoding="utf-8")
    monkeypatch.setenv("VIEWS_DIR", str(tmp_path))
    views = load_settings().views
    assert [v.name for v in views] == ["locations", "audiences", "hashtags", "languages"]
    monkeypatch.setenv("VIEWS_DIR", "")
    assert load_settings().views == load_views()


def test_views_dir_must_be_a_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIEWS_DIR", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="VIEWS_DIR"):
        load_settings()
    with pytest.raises(ConfigError, match="not a folder"):
        load_views(tmp_path / "missing")


@pytest.mark.parametrize(
    ("header", "clash"),
    [
        ("-- view: hashtags", "'hashtags'"),  # a shipped view's name
        ("-- view: locations", "'locations'"),
        ("-- view: batch_view", "'batch_view'"),  # a name a shipped view's table has
        ("-- view: a\n-- tables: batch_view s_a v_a", "'batch_view'"),
        ("-- view: a\n-- tables: b_a serving_languages v_a", "'serving_languages'"),
        ("-- view: a\n-- tables: b_a s_a speed_hashtags", "'speed_hashtags'"),
    ],
)
def test_a_name_used_twice_across_files_is_refused(tmp_path: Path, header: str, clash: str) -> None:
    (tmp_path / "mine.sql").write_text(_with(GOOD, "-- view: audiences", header), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_views(tmp_path)
    message = str(info.value)
    assert str(tmp_path / "mine.sql") in message and clash in message


def test_two_user_files_defining_the_same_view_are_refused(tmp_path: Path) -> None:
    (tmp_path / "one.sql").write_text(GOOD, encoding="utf-8")
    (tmp_path / "two.sql").write_text(GOOD, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_views(tmp_path)
    assert str(tmp_path / "two.sql") in str(info.value)
    assert str(tmp_path / "one.sql") in str(info.value)


def test_a_view_is_a_frozen_value() -> None:
    view = parse_view(GOOD, "a.sql")
    assert isinstance(view, View)
    assert view == parse_view(GOOD, "a.sql")
    with pytest.raises(AttributeError):
        view.name = "b"  # type: ignore[misc]
