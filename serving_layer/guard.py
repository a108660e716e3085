"""The statement check of ``make query --sql``: one statement that starts like a query.

A friendly first refusal, not the protection: the query runs as QUERY_DSN's user, which
can only read (see :mod:`serving_layer.execute`), so a text that slips past this check
still cannot write or disturb the pipeline's sessions.

The text is split as the warehouse's own scanner splits it (:mod:`serving_layer.sql_lexer`).
It must hold one statement under every reading the warehouse could apply; a reading
that cannot split the text at all (a literal left open, say) is one under which the
warehouse refuses the whole text before running any of it, so only the warehouse's
usual reading must succeed.

* PostgreSQL: its defaults (``standard_conforming_strings`` on: a backslash in a plain
  ``'...'`` string is an ordinary character), and the same with the setting off, which
  any session may choose (``PGOPTIONS``, ``ALTER ROLE ... SET``). The query's
  transaction also sets it on itself (:mod:`serving_layer.execute`).
* Redshift: backslashes escape in every string (Amazon's ``QUOTE_LITERAL`` doubles them),
  with ``E'``/``B'``/``X'``/``U&`` prefixes read as PostgreSQL reads them or as a name
  and a plain string, and block comments nested or not: its documentation says neither.

Reading each literal kind by a rule of its own is the point: a check that read every
string alike let ``SELECT E'\\'', '\\'; COMMIT; ...`` hide its second statement.
"""

from __future__ import annotations

from lambda_common.errors import QueryError
from lambda_common.terminal import escape
from serving_layer.sql_lexer import LexRules, SqlLexError, Token, tokenize

READ_ONLY_KEYWORDS = ("SELECT", "WITH", "VALUES", "TABLE", "SHOW", "EXPLAIN")
"""How a statement ``--sql`` accepts may begin (the transaction is read-only as well)."""

READINGS: dict[str, tuple[LexRules, ...]] = {
    "postgres": (LexRules(), LexRules(standard_conforming_strings=False)),
    "redshift": tuple(
        LexRules(standard_conforming_strings=False, prefixed_literals=p, nested_comments=c)
        for p in (True, False)
        for c in (True, False)
    ),
}
"""Per dialect, the readings a text must pass; the first is the warehouse's usual one."""

_NOT_CODE = ("space", "comment")


def check_statement(statement: str, dialect: str = "postgres") -> None:
    """Refuse (``QueryError``, one line) anything but one statement that reads.

    The text must be a single statement (trailing ``;`` are fine) beginning with one of
    :data:`READ_ONLY_KEYWORDS`, under each of the dialect's :data:`READINGS`:
    ``SELECT 1; COMMIT; DELETE ...`` would otherwise run its ``DELETE`` after the
    read-only transaction ended.
    """
    if "\x00" in statement:
        raise QueryError("the SQL text holds a NUL character")
    usual, *others = READINGS[dialect]
    try:
        tokens = tokenize(statement, usual)
    except SqlLexError as e:
        raise QueryError(f"the SQL text cannot be read: {e}") from e
    _one_read_statement(tokens)
    for rules in others:
        try:
            tokens = tokenize(statement, rules)
        except SqlLexError:
            continue  # read this way, the warehouse refuses the whole text: nothing runs
        _one_read_statement(tokens)


def _one_read_statement(tokens: list[Token]) -> None:
    code = [t for t in tokens if t.kind not in _NOT_CODE]
    while code and code[-1].kind == "semicolon":
        code.pop()
    if not code:
        raise QueryError("the SQL text holds no statement")
    if any(t.kind == "semicolon" for t in code):
        raise QueryError("only one SQL statement at a time is accepted")
    first = next((t for t in code if t.text != "("), None)
    accepted = ", ".join(READ_ONLY_KEYWORDS)
    if first is None or first.kind != "word":
        raise QueryError(f"only read-only queries are accepted ({accepted})")
    keyword = first.text.upper()
    if keyword not in READ_ONLY_KEYWORDS:
        raise QueryError(
            f"only read-only queries are accepted ({accepted}), not {escape(keyword[:40])}"
        )
