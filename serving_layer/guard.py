"""The statement check of ``make query --sql``: one statement that starts like a query.

A friendly first refusal, not the protection: the query runs as QUERY_DSN's user, which
can only read (see :mod:`serving_layer.execute`), so a text that slips past this check
still cannot write or disturb the pipeline's sessions.
"""

from __future__ import annotations

import re
from itertools import product

from lambda_common.errors import QueryError

READ_ONLY_KEYWORDS = ("SELECT", "WITH", "VALUES", "TABLE", "SHOW", "EXPLAIN")
"""How a statement ``--sql`` accepts may begin (the transaction is read-only as well)."""

# PostgreSQL's dollar-quote delimiter: a tag starts with a letter, ``_`` or any non-ASCII
# character and goes on with those or digits (its lexer's ``dolq_start``/``dolq_cont``).
# An ASCII-only reading once let ``$é$'$é$; COMMIT; DROP ...`` hide its second half.
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_\u0080-\U0010ffff]*)?\$")


def _code_only(text: str, *, backslash: bool, nested: bool, dollar: bool) -> str:
    """``text`` with string literals, quoted identifiers and comments blanked out.

    The flags pick one reading of the lexical rules where PostgreSQL settings and
    Redshift differ (backslash escapes in strings, nested block comments, dollar
    quoting); :func:`check_statement` tries every reading.
    """
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        start = i
        if c in "'\"":
            i += 1
            while i < n:
                if backslash and c == "'" and text[i] == "\\":
                    i += 2
                elif text[i] == c:
                    if text.startswith(c * 2, i):
                        i += 2
                    else:
                        i += 1
                        break
                else:
                    i += 1
        elif text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if nested and text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif dollar and c == "$" and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] in "_$")):
            match = _DOLLAR_TAG.match(text, i)
            if match is None:
                i += 1
                out.append(c)
                continue
            end = text.find(match.group(), match.end())
            i = n if end < 0 else end + len(match.group())
        else:
            i += 1
            out.append(c)
            continue
        out.append(" " * (min(i, n) - start))
    return "".join(out)


def check_statement(statement: str) -> None:
    """Refuse (``QueryError``) anything but one statement that reads.

    The text must be a single statement (a trailing ``;`` is fine) beginning with one of
    :data:`READ_ONLY_KEYWORDS`, under every reading of the lexical rules the two
    warehouses could apply: ``SELECT 1; COMMIT; DELETE ...`` would otherwise run its
    ``DELETE`` after the read-only transaction ended.
    """
    for backslash, nested, dollar in product((False, True), repeat=3):
        code = _code_only(statement, backslash=backslash, nested=nested, dollar=dollar)
        body = code.rstrip(" \t\r\n\f\v;")
        if ";" in body:
            raise QueryError("only one SQL statement at a time is accepted")
        match = re.match(r"[\s(]*([A-Za-z_]+)", body)
        if match is None:
            raise QueryError("the SQL text holds no statement")
        keyword = match.group(1).upper()
        if keyword not in READ_ONLY_KEYWORDS:
            raise QueryError(
                f"only read-only queries are accepted ({', '.join(READ_ONLY_KEYWORDS)}), "
                f"not {keyword}"
            )
