"""The SQL lexer and the statement check of ``make query --sql`` (security finding 1).

The check once read backslashes alike in every string, under each of a few whole-text
readings; PostgreSQL reads them per literal (an escape in ``E'...'`` only, with
``standard_conforming_strings`` on), so ``SELECT E'\\'', '\\'; COMMIT; ...`` hid its
second statement from every reading and ran it outside the read-only transaction. The
tables below pin each lexical form to how PostgreSQL splits it (``tests/security/
test_statement_check.py`` compares the same with the real server), then the check.
"""

from __future__ import annotations

import contextlib
import gc
import random
import time
from collections.abc import Callable

import pytest

from lambda_common.errors import QueryError
from serving_layer.guard import READINGS, check_statement
from serving_layer.sql_lexer import POSTGRES, LexRules, SqlLexError, tokenize

pytestmark = pytest.mark.unit

SCS_OFF = LexRules(standard_conforming_strings=False)
FLAT = LexRules(nested_comments=False)
NO_PREFIXES = LexRules(standard_conforming_strings=False, prefixed_literals=False)
RULES = {"pg": POSTGRES, "scs-off": SCS_OFF, "flat": FLAT, "no-prefixes": NO_PREFIXES}

# The reported texts (finding 1), as make query's SQL= received them.
REPORTED = (
    "SELECT E'\\'', '\\'; COMMIT; SET statement_timeout = 0; "
    "SELECT pg_sleep(4), current_setting($$transaction_read_only$$); --'"
)
REPORTED_ALTER = (
    "SELECT E'\\'', '\\'; COMMIT; "
    "ALTER ROLE lambda_reader IN DATABASE lambda SET search_path = nowhere; --'"
)


def code(text: str, rules: str = "pg") -> list[tuple[str, str]]:
    """The tokens of ``text`` but white space, as (kind, text)."""
    return [(t.kind, t.text) for t in tokenize(text, RULES[rules]) if t.kind != "space"]


# -- the lexer: each form as PostgreSQL splits it -----------------------------------------

LEXED = [
    # (rules, text, tokens but white space)
    # E strings escape with a backslash, plain ones do not (standard_conforming_strings on).
    (
        "pg",
        REPORTED[: REPORTED.index("COMMIT") + 6],
        [
            ("word", "SELECT"),
            ("string", "E'\\''"),
            ("symbol", ","),
            ("string", "'\\'"),
            ("semicolon", ";"),
            ("word", "COMMIT"),
        ],
    ),
    ("pg", "e'it\\'s';", [("string", "e'it\\'s'"), ("semicolon", ";")]),
    ("pg", "E'\\\\';", [("string", "E'\\\\'"), ("semicolon", ";")]),
    ("pg", "'a\\';", [("string", "'a\\'"), ("semicolon", ";")]),
    ("pg", "'it''s;'", [("string", "'it''s;'")]),
    ("pg", "N'\\';", [("word", "N"), ("string", "'\\'"), ("semicolon", ";")]),
    ("pg", "se'\\';", [("word", "se"), ("string", "'\\'"), ("semicolon", ";")]),
    # With standard_conforming_strings off, a plain string escapes too.
    ("scs-off", "'a\\';'", [("string", "'a\\';'")]),
    ("scs-off", "N'\\';'", [("word", "N"), ("string", "'\\';'")]),
    # A string goes on after a line break (and -- comments ending in one), by the rules of
    # its first part: the E string's continuation escapes its quote.
    ("pg", "'a'\n'b'", [("string", "'a'\n'b'")]),
    ("pg", "'a'\r'b'", [("string", "'a'\r'b'")]),
    ("pg", "'a' -- c\n 'b'", [("string", "'a' -- c\n 'b'")]),
    ("pg", "'a'\n-- c\n'b'", [("string", "'a'\n-- c\n'b'")]),
    ("pg", "E'a'\n'\\';'", [("string", "E'a'\n'\\';'")]),
    ("pg", "'a' 'b'", [("string", "'a'"), ("string", "'b'")]),
    ("pg", "'a' /* c */\n'b'", [("string", "'a'"), ("comment", "/* c */"), ("string", "'b'")]),
    ("pg", "'a'\n -- c 'b'", [("string", "'a'"), ("comment", "-- c 'b'")]),
    ("pg", "'a'\n-" + "-" * 200, [("string", "'a'"), ("comment", "-" * 201)]),
    # Bit and hex strings: no escapes, no doubled quote; they continue too.
    ("pg", "B'1'\n'0'", [("string", "B'1'\n'0'")]),
    ("pg", "X'\\';", [("string", "X'\\'"), ("semicolon", ";")]),
    ("pg", "b'1''0'", [("string", "b'1'"), ("string", "'0'")]),
    ("scs-off", "x'\\';", [("string", "x'\\'"), ("semicolon", ";")]),
    # Unicode strings and identifiers: backslash is read after the string has ended;
    # UESCAPE's character is a plain string of its own.
    (
        "pg",
        "U&'\\' UESCAPE '!'",
        [("string", "U&'\\'"), ("word", "UESCAPE"), ("string", "'!'")],
    ),
    ("pg", "u&'a''b'", [("string", "u&'a''b'")]),
    ("pg", 'U&"a""b";', [("identifier", 'U&"a""b"'), ("semicolon", ";")]),
    ("pg", "U&x", [("word", "U"), ("symbol", "&"), ("word", "x")]),
    # Quoted identifiers.
    ("pg", '"a;""b";', [("identifier", '"a;""b"'), ("semicolon", ";")]),
    ("pg", '"it\'s";', [("identifier", '"it\'s"'), ("semicolon", ";")]),
    # Dollar quotes: tags like identifiers without $, any non-ASCII letter; never $1, never
    # inside a name; a longer $tag$ inside does not end a shorter one.
    ("pg", "$$a;b$$", [("string", "$$a;b$$")]),
    ("pg", "$é$'$é$;", [("string", "$é$'$é$"), ("semicolon", ";")]),
    ("pg", "$a$ $ab$ ; $a$", [("string", "$a$ $ab$ ; $a$")]),
    ("pg", "$a$x$ba$;$a$", [("string", "$a$x$ba$;$a$")]),
    ("pg", "$1$a$;$a$", [("param", "$1"), ("string", "$a$;$a$")]),
    ("pg", "x$$;", [("word", "x$$"), ("semicolon", ";")]),
    ("pg", "$abc ;", [("symbol", "$"), ("word", "abc"), ("semicolon", ";")]),
    ("pg", "1$$;$$", [("number", "1"), ("string", "$$;$$")]),
    # Comments: nested block comments, and line comments ending at \n or \r.
    ("pg", "/* /* ; */ ; */;", [("comment", "/* /* ; */ ; */"), ("semicolon", ";")]),
    (
        "flat",
        "/* /* ; */ ; */;",
        [
            ("comment", "/* /* ; */"),
            ("semicolon", ";"),
            ("symbol", "*"),
            ("symbol", "/"),
            ("semicolon", ";"),
        ],
    ),
    ("pg", "/*/ ; */;", [("comment", "/*/ ; */"), ("semicolon", ";")]),
    ("pg", "/**/;", [("comment", "/**/"), ("semicolon", ";")]),
    ("pg", "1 --x\r; y", [("number", "1"), ("comment", "--x"), ("semicolon", ";"), ("word", "y")]),
    ("pg", "1 --x\n;", [("number", "1"), ("comment", "--x"), ("semicolon", ";")]),
    # A comment starts inside an operator.
    (
        "pg",
        "1 +/* ; */2",
        [("number", "1"), ("symbol", "+"), ("comment", "/* ; */"), ("number", "2")],
    ),
    ("pg", "1 *--;\n2", [("number", "1"), ("symbol", "*"), ("comment", "--;"), ("number", "2")]),
    # Numbers; a letter right after one starts the next token (as PostgreSQL 14 reads it;
    # 15 refuses the text), so an E string after a number is an E string.
    ("pg", "1e'\\'';", [("number", "1"), ("string", "e'\\''"), ("semicolon", ";")]),
    ("pg", "1.5e-3x", [("number", "1.5e-3"), ("word", "x")]),
    ("pg", ".5", [("number", ".5")]),
    ("pg", "1..10", [("number", "1"), ("symbol", ".."), ("number", "10")]),
    ("pg", "٣;", [("word", "٣"), ("semicolon", ";")]),
    # \v is white space (PostgreSQL 16; 15 refuses it outside a literal).
    ("pg", "1\v;", [("number", "1"), ("semicolon", ";")]),
    # Without PostgreSQL's prefixes (a Redshift reading), the letter is a name and the
    # quote opens a plain string, which escapes.
    ("no-prefixes", "X'\\';'", [("word", "X"), ("string", "'\\';'")]),
    ("no-prefixes", "U&'\\';'", [("word", "U"), ("symbol", "&"), ("string", "'\\';'")]),
]


@pytest.mark.parametrize(("rules", "text", "tokens"), LEXED, ids=[repr(t) for _, t, _ in LEXED])
def test_each_lexical_form_is_split_as_postgresql_splits_it(
    rules: str, text: str, tokens: list[tuple[str, str]]
) -> None:
    assert code(text, rules) == tokens


def test_tokens_cover_the_text_exactly() -> None:
    text = REPORTED + "\n/* x */ $a$ b $a$ \"q\" U&'u' 1.5 -- end"
    tokens = tokenize(text)
    assert "".join(t.text for t in tokens) == text
    assert [t.start for t in tokens] == [
        sum(len(u.text) for u in tokens[:i]) for i in range(len(tokens))
    ]


UNTERMINATED = [
    ("pg", "SELECT 'abc", "unterminated quoted string (at character 8)"),
    ("pg", "SELECT E'abc\\'", "unterminated quoted string (at character 8)"),
    ("pg", "SELECT E'abc\\", "unterminated quoted string"),
    ("pg", "SELECT 'a'\n'b", "unterminated quoted string (at character 8)"),
    ("pg", "SELECT B'1", "unterminated quoted string"),
    ("pg", 'SELECT "abc', "unterminated quoted identifier (at character 8)"),
    ("pg", 'SELECT U&"abc', "unterminated quoted identifier"),
    ("pg", "SELECT $x$abc$y$", "unterminated dollar-quoted string (at character 8)"),
    ("pg", "SELECT /* /* */ 1", "unterminated /* comment (at character 8)"),
    ("scs-off", "SELECT 'a\\'", "unterminated quoted string"),
    ("scs-off", "SELECT U&'a'", "a U& string while standard_conforming_strings is off"),
]


@pytest.mark.parametrize(("rules", "text", "message"), UNTERMINATED)
def test_what_is_left_open_is_an_error_naming_where(rules: str, text: str, message: str) -> None:
    with pytest.raises(SqlLexError) as info:
        tokenize(text, RULES[rules])
    assert message in str(info.value)


def _lex_cpu_seconds(text: str) -> float:
    """The least CPU time of three tokenisations (CPU, not wall clock: other processes
    on the machine do not count)."""
    spent = []
    gc.disable()  # a collection would charge one run for the test's other garbage
    try:
        for _ in range(3):
            started = time.process_time()
            with contextlib.suppress(SqlLexError):
                tokenize(text)
            spent.append(time.process_time() - started)
    finally:
        gc.enable()
    return min(spent)


@pytest.mark.parametrize(
    "hostile",
    [
        lambda n: "SELECT 'a'" + " --" * (n // 3),  # dashes after a string: the look-ahead
        lambda n: "SELECT 'a'\n" + "-" * n,
        lambda n: "/*" * (n // 2) + "*/" * (n // 2),  # nested comment openers
        lambda n: "SELECT E'" + "\\'" * (n // 2) + "'",  # many escaped quotes
        lambda n: "SELECT " + "'x' " * (n // 4),
        lambda n: "SELECT " + "$a$" * (n // 3),
    ],
)
def test_the_lexer_stays_linear_on_hostile_text(hostile: Callable[[int], str]) -> None:
    """Four times the text costs about four times the work (a quadratic lexer: sixteen):
    the growth is measured, not a time limit a loaded machine could miss."""
    small, large = _lex_cpu_seconds(hostile(50_000)), _lex_cpu_seconds(hostile(200_000))
    assert large < 10 * max(small, 0.005), (small, large)


# -- the check: one statement that reads, under every reading -----------------------------

ACCEPTED = [
    ("postgres", "SELECT '\\'"),  # a one-backslash string
    ("postgres", "SELECT E'\\'', '\\'"),  # both strings, one statement
    ("postgres", "SELECT $$; DELETE FROM t; $$"),
    ("postgres", "SELECT 'a'\n';b'"),  # one continued string
    ("postgres", "SELECT U&'d!0061t' UESCAPE '!'"),
    ("postgres", 'SELECT "odd;""name" FROM t;;  -- done'),
    ("postgres", "( SELECT 1 ) UNION SELECT 2"),
    ("postgres", "/* /* nested; */ */ SELECT 1"),
    ("postgres", "select 1 --\r\n"),
    ("postgres", "SELECT $1"),  # the server refuses it (no parameter): one statement
    ("postgres", "SELECT $1$a$; DELETE FROM t; $a$"),  # a parameter, then a dollar quote
    ("redshift", "SELECT 'it\\'s; fine'"),  # Redshift escapes in plain strings
    ("redshift", "SELECT 'a''b'"),
    ("redshift", "SELECT '\\'; DELETE FROM t; --'"),  # one string when backslashes escape
]


@pytest.mark.parametrize(("dialect", "text"), ACCEPTED)
def test_one_reading_statement_is_accepted(dialect: str, text: str) -> None:
    check_statement(text, dialect)


REFUSED = [
    # The reported texts, and the same trick with other kinds of strings before the ;.
    ("postgres", REPORTED, "only one SQL statement"),
    ("postgres", REPORTED_ALTER, "only one SQL statement"),
    ("postgres", "SELECT e'\\'', '\\'; DELETE FROM t; --'", "only one SQL statement"),
    ("postgres", "SELECT N'\\'; DELETE FROM t; --'", "only one SQL statement"),
    ("postgres", "SELECT X'\\'; DELETE FROM t; --'", "only one SQL statement"),
    ("postgres", "SELECT U&'\\'; DELETE FROM t; --'", "only one SQL statement"),
    ("postgres", "SELECT 1e'\\'', '\\'; DELETE FROM t; --'", "only one SQL statement"),
    ("postgres", "SELECT E'a'\n'\\' , '; DELETE FROM t; --'", "only one SQL statement"),
    ("postgres", "SELECT 1 -- note\r; DELETE FROM t", "only one SQL statement"),
    ("postgres", "SELECT 1 +/* x */; DELETE FROM t", "only one SQL statement"),
    # One statement with standard_conforming_strings on, two with it off (a session may
    # turn it off: PGOPTIONS, ALTER ROLE ... SET).
    ("postgres", "SELECT 'a\\' , '; DELETE FROM t; --'", "only one SQL statement"),
    # Left open: PostgreSQL refuses the whole text; so does the check, saying where.
    ("postgres", "SELECT 'abc", "cannot be read: unterminated quoted string (at character 8)"),
    ("postgres", "SELECT /* /* */ 1", "cannot be read: unterminated /* comment"),
    ("postgres", "SELECT 1\x00; DELETE FROM t", "NUL character"),
    # Not a query.
    ("postgres", "DELETE FROM t", "not DELETE"),
    ("postgres", '"SELECT" 1', "only read-only queries are accepted"),
    ("postgres", "E'x'", "only read-only queries are accepted"),
    ("postgres", "/* SELECT */ COMMIT", "not COMMIT"),
    ("postgres", ";", "holds no statement"),
    ("postgres", "-- SELECT 1", "holds no statement"),
    ("postgres", "; SELECT 1", "only one SQL statement"),
    # Redshift: backslashes escape in every string; its prefixes and comment nesting are
    # undocumented, so both readings of each count.
    ("redshift", "SELECT X'\\' , '; DELETE FROM t; --'", "only one SQL statement"),
    ("redshift", "SELECT 1 /* /* */ ; DELETE FROM t; /* */ */", "only one SQL statement"),
    ("redshift", "SELECT 'a\\'' ; DELETE FROM t", "only one SQL statement"),
]


@pytest.mark.parametrize(("dialect", "text", "message"), REFUSED)
def test_anything_else_is_refused_in_one_line(dialect: str, text: str, message: str) -> None:
    with pytest.raises(QueryError) as info:
        check_statement(text, dialect)
    assert message in str(info.value)
    assert "\n" not in str(info.value) and "\r" not in str(info.value)


def test_a_refused_keyword_is_echoed_escaped_and_short() -> None:
    with pytest.raises(QueryError) as info:
        check_statement("DROP\u202eX" + "Y" * 100)
    assert "\\u202e" in str(info.value) and "\u202e" not in str(info.value)
    assert len(str(info.value)) < 160


def test_every_reading_of_each_dialect_is_checked() -> None:
    assert READINGS["postgres"][0] == POSTGRES
    assert SCS_OFF in READINGS["postgres"]
    assert len(set(READINGS["redshift"])) == 4
    assert all(not r.standard_conforming_strings for r in READINGS["redshift"])


def test_no_random_text_hides_a_second_statement_from_the_check() -> None:
    """Random texts from the pieces that matter: whenever the check accepts one, no
    of PostgreSQL's readings of it splits it at a ;, and it starts like a query."""
    pieces = [
        "'", "E'", "e'", "N'", "B'", "X'", "U&'", 'U&"', "''", "\\", "\\'", "$$", "$a$",
        "$1", "--", "\n", "\r", " ", "/*", "*/", '"', ";", "x", "1", ",", "-", "*", "/",
    ]  # fmt: skip
    rng = random.Random(20261206)
    accepted = 0
    for _ in range(20_000):
        text = "SELECT " + "".join(rng.choice(pieces) for _ in range(rng.randrange(1, 12)))
        try:
            check_statement(text)
        except QueryError:
            continue
        accepted += 1
        for rules in READINGS["postgres"]:
            try:
                tokens = tokenize(text, rules)
            except SqlLexError:
                continue
            kinds = [t.kind for t in tokens if t.kind not in ("space", "comment")]
            while kinds[-1] == "semicolon":
                kinds.pop()
            assert "semicolon" not in kinds, text
            assert tokens[0].text == "SELECT", text
    assert accepted > 1000
