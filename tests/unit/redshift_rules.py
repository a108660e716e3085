"""Every check of Redshift SQL the tests make, in one place (there is no Redshift here).

A statement is parsed with sqlglot's Redshift dialect, its placeholders bound as the driver
binds them (:func:`parse`). What sqlglot keeps as text it did not read (``exp.Command``)
is no parse: it fails, unless it is one of :data:`COMMANDS`, each checked against
Amazon's own syntax instead. A parsed statement is checked against :data:`UNSUPPORTED`,
the PostgreSQL features Amazon documents Redshift does not have (each rule names its
page). COPY, which sqlglot reads with any word as a parameter, is checked word by word
(:func:`copy_parameters`), and the serving SQL's DECIMAL sums against Redshift's
precision rules (:func:`decimal_faults`).

Used by the SQL files' tests (test_batch_sql.py), the named queries' (test_serving_query.py)
and the dry run's (test_redshift_sql.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

DOCS = "https://docs.aws.amazon.com/redshift/latest/dg/"
FEATURES = DOCS + "c_unsupported-postgresql-features.html"
TYPES = DOCS + "c_unsupported-postgresql-datatypes.html"
FUNCTIONS = DOCS + "c_unsupported-postgresql-functions.html"


def bind(statement: str) -> str:
    """Placeholders replaced by literals, as the driver does when it sends them: a tuple
    after IN, one value elsewhere (``%s`` too: execute_values' rows)."""
    statement = re.sub(r"\bIN\s+%\(\w+\)s", "IN ('a', 'b')", statement)
    return re.sub(r"%\(\w+\)s|%s", "'value'", statement)


def sql_only(statement: str) -> str:
    """The statement without its comment lines."""
    return "\n".join(
        line for line in statement.splitlines() if not line.strip().startswith("--")
    ).strip()


# LOCK: "LOCK [ TABLE ] table_name [, ...]", no lock mode (Redshift's LOCK is always
# ACCESS EXCLUSIVE): https://docs.aws.amazon.com/redshift/latest/dg/r_LOCK.html
_LOCK = re.compile(r'LOCK(?: TABLE)? ("?)[a-z_][a-z0-9_]*\1(?:, ("?)[a-z_][a-z0-9_]*\2)*\Z')

COMMANDS: dict[str, Callable[[str], bool]] = {
    # sqlglot 30 keeps Redshift's LOCK as exp.Command: checked against Amazon's syntax.
    "LOCK": lambda text: bool(_LOCK.match(" ".join(text.split()))),
}
"""Statements sqlglot does not read, by first word, and the check each gets instead."""


class NotParsed(AssertionError):
    """sqlglot could not read the statement as Redshift SQL (nor is it in COMMANDS)."""


def parse(statement: str) -> exp.Expression | None:
    """The statement's tree (Redshift dialect); None for one of :data:`COMMANDS` that
    passes its check. Raises ``NotParsed`` otherwise."""
    text = sql_only(statement)
    first = text.split(None, 1)[0].upper() if text else ""
    if first in COMMANDS:
        if not COMMANDS[first](text):
            raise NotParsed(f"{first} not in Amazon's syntax: {text[:120]}")
        return None
    try:
        parsed = sqlglot.parse(bind(statement), read="redshift")
    except sqlglot.errors.ParseError as e:
        raise NotParsed(f"not Redshift SQL ({e}): {text[:120]}") from e
    if len(parsed) != 1 or parsed[0] is None:
        raise NotParsed(f"not one statement: {text[:120]}")
    if isinstance(parsed[0], exp.Command):
        raise NotParsed(f"not understood (kept as text): {text[:120]}")
    return parsed[0]


@dataclass(frozen=True)
class Rule:
    """A PostgreSQL feature Redshift does not have: where Amazon says so, and a test of a
    parsed statement (its tree and its text without comments) for it."""

    name: str
    page: str
    found: Callable[[exp.Expression, str], bool]


def _types(*names: str) -> Callable[[exp.Expression, str], bool]:
    kinds = {getattr(exp.DataType.Type, n) for n in names}
    return lambda tree, _: any(t.this in kinds for t in tree.find_all(exp.DataType))


def _nodes(*kinds: type[exp.Expression]) -> Callable[[exp.Expression, str], bool]:
    return lambda tree, _: any(True for _ in tree.find_all(*kinds))


def _functions(*names: str) -> Callable[[exp.Expression, str], bool]:
    wanted = {n.upper() for n in names}
    return lambda tree, _: any(f.name.upper() in wanted for f in tree.find_all(exp.Anonymous))


def _words(pattern: str) -> Callable[[exp.Expression, str], bool]:
    found = re.compile(pattern, re.IGNORECASE)
    return lambda _, text: bool(found.search(text))


def _created(*kinds: str) -> Callable[[exp.Expression, str], bool]:
    return lambda tree, _: isinstance(tree, exp.Create) and str(tree.args.get("kind")) in kinds


def _deferrable(tree: exp.Expression, _: str) -> bool:
    return any(
        "DEFERRABLE" in str(o).upper()
        for node in tree.walk()
        for o in (node.args.get("options") or [])
    )


def _values_as_table(tree: exp.Expression, _: str) -> bool:
    return any(not isinstance(v.parent, exp.Insert) for v in tree.find_all(exp.Values))


UNSUPPORTED: tuple[Rule, ...] = (
    # INSERT's syntax has no ON CONFLICT clause, and neither INSERT, UPDATE nor DELETE has
    # RETURNING.
    Rule("INSERT ... ON CONFLICT", DOCS + "r_INSERT_30.html", _nodes(exp.OnConflict)),
    Rule("RETURNING", DOCS + "r_INSERT_30.html, r_DELETE.html", _nodes(exp.Returning)),
    # "TRUNCATE commits the transaction in which it is run": every statement here runs in
    # a transaction that must stay all or nothing.
    Rule("TRUNCATE (commits its transaction)", DOCS + "r_TRUNCATE.html", _nodes(exp.TruncateTable)),
    Rule("indexes (CREATE INDEX, partial indexes)", FEATURES, _created("INDEX")),
    Rule("sequences, triggers", FEATURES, _created("SEQUENCE", "TRIGGER")),
    Rule("sequence functions (nextval, ...)", FUNCTIONS,
         _functions("nextval", "setval", "currval")),
    Rule("SERIAL, BIGSERIAL, SMALLSERIAL", TYPES, _types("SERIAL", "BIGSERIAL", "SMALLSERIAL")),
    Rule("JSON and JSONB types (SUPER holds JSON)", TYPES, _types("JSON", "JSONB")),
    Rule("UUID, MONEY, XML, INET, HSTORE, BIT, range, enum types", TYPES,
         _types("UUID", "MONEY", "XML", "INET", "HSTORE", "BIT", "INT4RANGE", "TSRANGE", "ENUM")),
    Rule("arrays (types, constructors, subscripts, ARRAY_AGG)", TYPES + ", " + FEATURES,
         lambda tree, text: _types("ARRAY")(tree, text)
         or _nodes(exp.Array, exp.Bracket, exp.ArrayAgg)(tree, text)),
    Rule("row constructors", FEATURES, _functions("row")),
    Rule("VALUES list used as a constant table", FEATURES, _values_as_table),
    Rule("generate_series", FUNCTIONS, lambda tree, text: _nodes(
        exp.GenerateSeries, exp.ExplodingGenerateSeries)(tree, text)
        or _functions("generate_series")(tree, text)),
    Rule("IS [NOT] DISTINCT FROM", FUNCTIONS, _nodes(exp.NullSafeEQ, exp.NullSafeNEQ)),
    Rule("STRING_AGG (LISTAGG is Redshift's)", FUNCTIONS, _words(r"\bSTRING_AGG\s*\(")),
    Rule("advisory lock functions", FUNCTIONS, _words(r"\bpg_(try_)?advisory_\w*lock")),
    # SELECT's syntax has no locking clause.
    Rule("SELECT ... FOR UPDATE / FOR SHARE", DOCS + "r_SELECT_synopsis.html", _nodes(exp.Lock)),
    # CREATE TABLE's constraints are NOT NULL, UNIQUE, PRIMARY KEY and REFERENCES only
    # (informational); no CHECK, no DEFERRABLE.
    Rule("DEFERRABLE constraints", DOCS + "r_CREATE_TABLE_NEW.html", _deferrable),
    Rule("CHECK constraints", FEATURES, _nodes(exp.CheckColumnConstraint)),
    Rule("table partitioning, inheritance, UNLOGGED tables", FEATURES + ", r_CREATE_TABLE_NEW.html",
         _nodes(exp.PartitionedByProperty, exp.InheritsProperty, exp.UnloggedProperty)),
)  # fmt: skip
"""The PostgreSQL features Amazon documents Redshift does not support, that SQL written
for PostgreSQL first could slip in."""


def faults(statement: str) -> list[str]:
    """Every rule the statement breaks ([] for none), or why it did not parse."""
    try:
        tree = parse(statement)
    except NotParsed as e:
        return [str(e)]
    if tree is None:
        return []
    text = sql_only(statement)
    return [f"{rule.name} ({rule.page})" for rule in UNSUPPORTED if rule.found(tree, text)]


# COPY ------------------------------------------------------------------------------------
# sqlglot 30 reads Redshift's COPY as exp.Copy but takes any word as a parameter (it reads
# "SECRET_ACESS_KEY 'x'" or "COMPUPDTE OFF" just as well), so parsing cannot catch a typo
# in a COPY. This checks a COPY against the parameters it uses, as Amazon documents them
# (COPY: "Authorization parameters", "Data load operations", "Data format parameters"):
# an unknown word, a missing or extra argument, a repeated parameter or a mixed
# authorization fails.
_VALUE = re.compile(r"'[^']*'|%\(\w+\)s\Z")
AUTHORIZATIONS = (
    ("IAM_ROLE",),
    ("ACCESS_KEY_ID", "SECRET_ACCESS_KEY"),
    ("ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "SESSION_TOKEN"),
)
# Parameter -> its argument: "value" (a literal or a bound parameter), a set of keywords
# (one of them, optional), or a tuple of keywords then a value (FORMAT [AS] JSON 'auto').
COPY_OPTIONS: dict[str, object] = {
    "MANIFEST": None,
    "GZIP": None,
    "FORMAT": ("AS", "JSON", "value"),
    "TIMEFORMAT": "value",
    "MAXERROR": "value",
    "REGION": "value",
    "COMPUPDATE": {"PRESET", "ON", "TRUE", "OFF", "FALSE"},
    "STATUPDATE": {"ON", "TRUE", "OFF", "FALSE"},
}


def copy_parameters(statement: str) -> dict[str, str | None]:
    """The COPY's parameters and their arguments; AssertionError on anything unknown."""
    words = re.findall(r"'[^']*'|%\(\w+\)s|[^\s;]+", " ".join(sql_only(statement).splitlines()))
    assert words[:2] == ["COPY", "staging_tweets"] and words[2] == "FROM", words[:3]
    assert _VALUE.match(words[3]), words[3]
    found: dict[str, str | None] = {}
    i = 4
    while i < len(words):
        word = words[i].upper()
        assert word not in found, f"{word} given twice"
        spec = COPY_OPTIONS.get(word)
        if word in {"IAM_ROLE", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "SESSION_TOKEN"}:
            spec = "value"
        assert word in COPY_OPTIONS or spec == "value", f"unknown COPY parameter {word}"
        i += 1
        if spec is None:
            found[word] = None
        elif spec == "value":
            assert i < len(words) and _VALUE.match(words[i]), f"{word} needs a value"
            found[word] = words[i]
            i += 1
        elif isinstance(spec, set):
            if i < len(words) and words[i].upper() in spec:
                found[word] = words[i].upper()
                i += 1
            else:
                found[word] = None
        else:
            assert isinstance(spec, tuple)
            if i < len(words) and words[i].upper() == "AS":
                i += 1
            assert words[i].upper() == "JSON", f"FORMAT AS {words[i]}: expected JSON"
            assert _VALUE.match(words[i + 1]), "FORMAT AS JSON needs 'auto' or a JSONPaths file"
            found[word] = "JSON " + words[i + 1]
            i += 2
    used = tuple(w for w in found if w in {"IAM_ROLE", *AUTHORIZATIONS[2]})
    assert used in AUTHORIZATIONS, f"authorization {used}: one of {AUTHORIZATIONS}"
    return found


# DECIMAL precision of the serving SQL ---------------------------------------------------
# Amazon's rules for DECIMAL results (r_numeric_computations201.html): a column of UNION,
# INTERSECT or EXCEPT, and COALESCE and DECODE, get precision min(max(p1-s1, p2-s2) +
# scale, 19), so two DECIMAL(38,0) sums would cross a set operation as DECIMAL(19,0) and
# overflow past 10^19 - 1; CASE is taken alike (DECODE is its shorthand). SUM of a
# DECIMAL(p,s) is DECIMAL(38,s) (r_SUM.html); CAST gives the type it names
# (r_CAST_function.html); a number cast to a string and back is exact
# (r_Type_conversion.html). So in the serving SQL a sum crosses a set operation as text,
# is cast back to DECIMAL(38,0) right after it, every SUM of a sum is cast to
# DECIMAL(38,0), and no conditional expression takes a sum.
SUMS = ("followers_sum", "favorite_sum", "retweet_sum")
"""The DECIMAL(38,0) measures of every view."""

PRECISION = DOCS + "r_numeric_computations201.html"


def _cast_to(node: exp.Expression | None, kind: str) -> bool:
    return isinstance(node, exp.Cast) and node.to.sql("redshift") == kind


def _unaliased(node: exp.Expression) -> exp.Expression:
    return node.this if isinstance(node, exp.Alias) else node


def _names_a_sum(node: exp.Expression) -> bool:
    return any(c.name in SUMS for c in node.find_all(exp.Column))


def _branch_faults(branch: exp.Expression) -> list[str]:
    if not isinstance(branch, exp.Select):
        return []  # a nested set operation: checked as its own
    out = []
    for projection in branch.expressions:
        name, value = projection.alias_or_name, _unaliased(projection)
        if isinstance(value, exp.Star):
            out.append(f"SELECT * in a set operation's branch hides its sums ({PRECISION})")
        elif name in SUMS and not _cast_to(value, "VARCHAR(40)"):
            out.append(
                f"{name} crosses a set operation as {value.sql('redshift')}, not as "
                f"CAST(... AS VARCHAR(40)): at most 19 digits there ({PRECISION})"
            )
        elif name not in SUMS and (isinstance(value, exp.Sum) or _cast_to(value, "DECIMAL(38, 0)")):
            out.append(f"{name}: a DECIMAL crosses a set operation ({PRECISION})")
    return out


def _consumer_faults(operation: exp.SetOperation) -> list[str]:
    holder = operation.parent
    outer = holder.parent.parent if isinstance(holder, exp.Subquery) and holder.parent else None
    if not isinstance(outer, exp.Select) or not isinstance(holder.parent, exp.From):
        return [f"a set operation's sums leave it as text, not cast back ({PRECISION})"]
    out = []
    for projection in outer.expressions:
        value = _unaliased(projection)
        if projection.alias_or_name in SUMS and not _cast_to(value, "DECIMAL(38, 0)"):
            out.append(
                f"{projection.alias_or_name} is not cast back to DECIMAL(38,0) after "
                f"the set operation ({PRECISION})"
            )
    return out


def decimal_faults(tree: exp.Expression) -> list[str]:
    """Where a serving statement could lose a DECIMAL(38,0) sum's digits on Redshift."""
    out = []
    for operation in tree.find_all(exp.SetOperation):
        out += _branch_faults(operation.this) + _branch_faults(operation.expression)
        if not isinstance(operation.parent, exp.SetOperation):
            out += _consumer_faults(operation)
    for total in tree.find_all(exp.Sum):
        holder = total.parent
        if _names_a_sum(total.this) and not _cast_to(holder, "DECIMAL(38, 0)"):
            out.append(f"{total.sql('redshift')} is not cast to DECIMAL(38,0) (r_SUM.html)")
    for branching in tree.find_all(exp.Coalesce, exp.Case, exp.If, exp.Greatest, exp.Least):
        if _names_a_sum(branching):
            out.append(
                f"{branching.sql('redshift')[:60]} takes a sum: at most 19 digits ({PRECISION})"
            )
    return out
