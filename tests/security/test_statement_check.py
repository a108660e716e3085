"""``make query``'s statement check reads SQL text as the real PostgreSQL does (finding 1).

Reported: ``make query SQL="SELECT E'\\'', '\\'; COMMIT; SET statement_timeout = 0;
SELECT pg_sleep(4), ...; --'"`` ran its second statement outside the read-only
transaction and past the timeout, exit 0, because the check read the backslash of the
plain string ``'\\'`` as an escape (PostgreSQL does so in ``E'...'`` strings only); the
same form ran ``ALTER ROLE ... IN DATABASE ... SET search_path = nowhere``.

Here: the reported texts through the command, and the lexer's split of many crafted
texts compared with what the server runs, each text carrying a hidden statement that
leaves a mark (a transaction-local setting) when the server runs it.
"""

from __future__ import annotations

import contextlib
import random
import subprocess
import time

import psycopg2
import pytest

from lambda_common.errors import QueryError
from lambda_common.warehouse import Warehouse
from serving_layer.execute import read_only_transaction
from serving_layer.guard import check_statement
from serving_layer.sql_lexer import POSTGRES, LexRules, SqlLexError, tokenize
from tests.integration.helpers import Lane, run_module
from tests.stack import StackHandle

from .conftest import PrivateReader

REPORTED = (
    "SELECT E'\\'', '\\'; COMMIT; SET statement_timeout = 0; "
    "SELECT pg_sleep(4), current_setting($$transaction_read_only$$); --'"
)


def _refused_in_one_line(done: subprocess.CompletedProcess[str]) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1, f"exit {done.returncode}: {done.stdout[-300:]} {done.stderr}"
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr


def test_the_reported_text_is_refused_in_one_line_and_sleeps_nowhere(lane: Lane) -> None:
    started = time.monotonic()
    done = run_module("serving_layer", "query", "--sql", REPORTED, env=lane.env(), timeout=60)
    elapsed = time.monotonic() - started
    _refused_in_one_line(done)
    assert "only one SQL statement" in done.stderr
    assert elapsed < 4.0, f"took {elapsed:.1f}s: did pg_sleep(4) run?"


def test_the_reported_role_change_is_refused_and_sets_nothing(
    private_reader: PrivateReader,
) -> None:
    database = private_reader.settings.warehouse.dbname
    text = (
        f"SELECT E'\\'', '\\'; COMMIT; ALTER ROLE \"{private_reader.user}\" "
        f'IN DATABASE "{database}" SET search_path = nowhere; --\''
    )
    before = private_reader.settings_rows()
    done = run_module(
        "serving_layer", "query", "--sql", text, env=private_reader.lane.env(), timeout=60
    )
    _refused_in_one_line(done)
    assert private_reader.settings_rows() == before


# -- the lexer against the server ----------------------------------------------------------

MARK = "lambda_test.hidden"
HIDDEN = f"SELECT set_config($m${MARK}$m$, $m$ran$m$, true)"

# Each splits into one statement or several, as the lexer says; the server must agree.
# {h} is the hidden statement. None holds a form PostgreSQL 15 refuses outright.
CRAFTED = [
    "SELECT E'\\'', '\\'; {h}; --'",
    "SELECT e'\\'', '\\'; {h}; --'",
    "SELECT E'\\\\'; {h}; --'",
    "SELECT '\\'; {h}; --'",
    "SELECT 'a\\' , '; {h}; --'",
    "SELECT N'\\'; {h}; --'",
    "SELECT 'it''s', '; {h}; --'",
    "SELECT E'a'\n'\\' , '; {h}; --'",
    "SELECT 'a'\n'\\' , '; {h}; --'",
    "SELECT 'a' -- c\n 'b', '\\'; {h}; --'",
    "SELECT 'a'\n -- c 'b'\n; {h}",
    "SELECT 'a'\r'b'; {h}",
    "SELECT 'a' /* c */\n, 'b'; {h}",
    "SELECT B'1'\n'0', '\\'; {h}; --'",
    "SELECT X'1f', '\\'; {h}; --'",
    "SELECT U&'\\' UESCAPE '!', '; {h}; --'",
    "SELECT U&'d!0061t' UESCAPE '!'; {h}",
    'SELECT 1 AS U&"a;""b"; {h}',
    'SELECT 1 AS "a;""b", \'; {h}; --\'',
    "SELECT $$; {h}; $$",
    "SELECT $a$ $ab$; {h}; $a$",
    "SELECT $a$x$ba$; {h}; $a$",
    "SELECT $é$'$é$; {h}",
    "SELECT 1$$; {h}; $$",
    "SELECT x$$ FROM (SELECT 1 AS x$$) AS s; {h}",
    "SELECT 1 --x\r; {h}",
    "SELECT 1 --x\n; {h}",
    "SELECT 1 /* /* ; {h}; */ */",
    "SELECT 1 /* /* */ ; {h}; /* */ */",
    "SELECT 1 +/* ; */ 2; {h}",
    "SELECT 1 /**/; {h}",
    "SELECT 1 /*/ ; {h}; */",
]


def _mark_ran(cur: psycopg2.extensions.cursor, text: str) -> bool | None:
    """Run ``text`` (the check bypassed) in the reader's read-only transaction: whether
    the hidden statement left its mark, or None when the server refused the text."""
    cur.execute("SAVEPOINT probe")
    try:
        cur.execute(text)
    except psycopg2.Error:
        cur.execute("ROLLBACK TO SAVEPOINT probe")
        return None
    cur.execute("SELECT current_setting(%s, true)", (MARK,))
    ran = cur.fetchall()[0][0] == "ran"
    cur.execute("ROLLBACK TO SAVEPOINT probe")
    return ran


def _statements(text: str, rules: LexRules) -> int | None:
    """How many statements the lexer splits ``text`` into; None if it cannot."""
    try:
        tokens = tokenize(text, rules)
    except SqlLexError:
        return None
    code = [t for t in tokens if t.kind not in ("space", "comment")]
    while code and code[-1].kind == "semicolon":
        code.pop()
    return 1 + sum(t.kind == "semicolon" for t in code)


@pytest.mark.parametrize("scs", ["on", "off"])
def test_the_lexer_splits_each_crafted_text_as_postgresql_does(
    stack: StackHandle, scs: str
) -> None:
    rules = POSTGRES if scs == "on" else LexRules(standard_conforming_strings=False)
    outcomes = {True: 0, False: 0, None: 0}
    with (
        Warehouse(stack.settings, role="reader") as reader,
        read_only_transaction(reader, timeout_s=10) as cur,
    ):
        cur.execute(f"SET LOCAL standard_conforming_strings = {scs}")
        for template in CRAFTED:
            text = template.format(h=HIDDEN)
            ran = _mark_ran(cur, text)
            count = _statements(text, rules)
            outcomes[ran] += 1
            if count is None:
                assert ran is None, f"the server ran what the lexer cannot split: {text!r}"
            else:
                assert ran is None or ran == (count > 1), (text, count, ran)
                if ran is None:  # refused for its grammar, not its lexing: one statement
                    assert count == 1, (text, count)
    assert outcomes[True] >= 10 and outcomes[False] >= 5, outcomes


def test_no_random_text_the_check_accepts_runs_a_second_statement(stack: StackHandle) -> None:
    """Random texts from the pieces that matter, the hidden statement among them: none
    that the check accepts runs it, in a session left with standard_conforming_strings
    off (which the check must allow for) or with it on."""
    pieces = [
        "'", "E'", "e'", "N'", "B'", "X'", "U&'", "''", "\\", "\\'", "$$", "$a$", "--",
        "\n", "\r", " ", "/*", "*/", '"', ",", "1", f"; {HIDDEN}; ", f"; {HIDDEN}; ",
    ]  # fmt: skip
    rng = random.Random(20261206)
    accepted = ran_somewhere = 0
    with Warehouse(stack.settings, role="reader") as reader:
        conn = reader.connection()
        for _ in range(3000):
            text = "SELECT 1, " + "".join(rng.choice(pieces) for _ in range(rng.randrange(2, 9)))
            try:
                check_statement(text)
            except QueryError:
                continue
            accepted += 1
            for scs in ("on", "off"):
                with contextlib.closing(conn.cursor()) as cur:
                    conn.rollback()
                    cur.execute(f"SET standard_conforming_strings = {scs}")
                    ran = _mark_ran(cur, text)
                    conn.rollback()
                assert not ran, (scs, text)
                ran_somewhere += ran is not None
    assert accepted > 200 and ran_somewhere > 100, (accepted, ran_somewhere)
