"""aws/redshift/setup.sql, the one-time Redshift set-up docs/aws.md shows, without Redshift.

The psql script is read as psql would run it (its variables substituted, its
meta-commands apart) and each statement parsed with sqlglot's Redshift dialect. What it
takes from PUBLIC and gives back is checked against what the pipeline's own Redshift SQL
does: the pipeline's user gets back exactly the privileges its statements need (CREATE on
the schema for its tables, TEMP on the database for its staging tables; Amazon Redshift,
GRANT: https://docs.aws.amazon.com/redshift/latest/dg/r_GRANT.html), and the reader gets
nothing here (make init grants it its reads). The reader's limits default to the settings'.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from lambda_common.settings import Settings
from tests.unit.code_scan import ROOT

SETUP = ROOT / "aws" / "redshift" / "setup.sql"
PIPELINE_SQL = (
    ROOT / "lambda_common" / "sql" / "common",
    ROOT / "lambda_common" / "sql" / "redshift",
)
READER_GRANTS = ROOT / "lambda_common" / "sql" / "common" / "reader_grants.sql"
# What a user passes with -v, and what psql's \prompt reads.
GIVEN = {"database": "analytics", "pipeline_user": "etl_user", "reader": "lambda_reader"}
PROMPTED = {"reader_password": "Choose-a-Passw0rd"}


# psql's :name, :'name' (a literal) and :"name" (an identifier).
_VARIABLE_USE = re.compile(r":(?P<quote>['\"]?)(?P<name>\w+)(?P=quote)")
_VARIABLE = re.compile(r":['\"]?(\w+)")


def _sql_lines(text: str) -> list[str]:
    """The lines psql sends to the server: not its meta-commands, not comments."""
    return [line for line in text.splitlines() if not line.lstrip().startswith(("\\", "--"))]


@dataclass
class Script:
    """The script as psql runs it: its statements with the variables substituted."""

    required: set[str]
    defaults: dict[str, str]
    prompted: set[str]
    statements: list[str]


def _read(path: Path, given: dict[str, str]) -> Script:
    text = path.read_text()
    required = set(
        re.findall(r"^\\if :\{\?(\w+)\}\n\\else\n\s*\\echo [^\n]*\n\s*\\quit", text, re.M)
    )
    defaults: dict[str, str] = dict(
        re.findall(r"^\\if :\{\?(\w+)\}\n\\else\n\s*\\set \1 (\S+)\n\\endif", text, re.M)
    )
    prompted = set(re.findall(r"^\\prompt '[^']*' (\w+)$", text, re.M))
    values = {**defaults, **given, **{k: v for k, v in PROMPTED.items() if k in prompted}}

    def substitute(match: re.Match[str]) -> str:
        quote, name = match["quote"], match["name"]
        value = str(values[name])
        if quote == "'":
            return "'" + value.replace("'", "''") + "'"
        if quote == '"':
            return '"' + value.replace('"', '""') + '"'
        return value

    sql = _VARIABLE_USE.sub(substitute, "\n".join(_sql_lines(text)))
    statements = [s.strip() for s in sql.split(";") if s.strip()]
    return Script(required, defaults, prompted, statements)


@pytest.fixture(scope="module")
def script() -> Script:
    return _read(SETUP, GIVEN)


def _privileges(script: Script) -> list[tuple[str, str, str, str, str]]:
    """(GRANT|REVOKE, privilege, kind, object, principal) of each grant and revoke."""
    out = []
    for statement in script.statements:
        parsed = sqlglot.parse_one(statement, read="redshift")
        if isinstance(parsed, exp.Grant | exp.Revoke):
            verb = "GRANT" if isinstance(parsed, exp.Grant) else "REVOKE"
            kind = str(parsed.args["kind"]).upper()
            target = parsed.args["securable"].name
            for privilege in parsed.args["privileges"]:
                for principal in parsed.args["principals"]:
                    name = privilege.this.name.upper()
                    out.append(
                        (
                            verb,
                            "TEMP" if name == "TEMPORARY" else name,
                            kind,
                            target,
                            principal.this.name,
                        )
                    )
    return out


def test_every_variable_is_given_defaulted_or_asked(script: Script) -> None:
    """A variable without -v stops the script with a line naming it (psql would otherwise
    send ``:"reader"`` as it is); the optional ones have defaults, the password is asked."""
    used = {name for line in _sql_lines(SETUP.read_text()) for name in _VARIABLE.findall(line)}
    assert script.required == set(GIVEN)
    assert script.prompted == set(PROMPTED)
    assert used <= script.required | set(script.defaults) | script.prompted
    assert not (script.required & set(script.defaults))


def test_the_readers_limits_default_to_the_settings() -> None:
    """QUERY_CONNECTION_LIMIT and QUERY_STATEMENT_TIMEOUT's defaults, as the local stack
    sets them on PostgreSQL."""
    defaults = _read(SETUP, GIVEN).defaults
    fields = Settings.model_fields
    assert int(defaults["connection_limit"]) == fields["query_connection_limit"].default
    assert int(defaults["statement_timeout_ms"]) == fields["query_statement_timeout"].default * 1000
    assert defaults["schema"] == "public"


def test_every_statement_parses_as_redshift(script: Script) -> None:
    """GRANT and REVOKE parse to sqlglot's own expressions; CREATE USER and ALTER USER,
    which sqlglot keeps as text, are checked against Amazon's syntax
    (https://docs.aws.amazon.com/redshift/latest/dg/r_CREATE_USER.html, r_ALTER_USER.html)."""
    for statement in script.statements:
        parsed = sqlglot.parse_one(statement, read="redshift")
        if isinstance(parsed, exp.Command):
            assert re.fullmatch(
                r'CREATE USER "\w+" PASSWORD \'[^\']+\' NOCREATEDB NOCREATEUSER '
                r"CONNECTION LIMIT \d+"
                r'|ALTER USER "\w+" SET statement_timeout TO \d+',
                statement,
            ), statement
        else:
            assert isinstance(parsed, exp.Grant | exp.Revoke), statement
    users = [s for s in script.statements if s.startswith(("CREATE USER", "ALTER USER"))]
    assert [u.split('"')[1] for u in users] == [GIVEN["reader"]] * 2


def _pipeline_needs() -> set[tuple[str, str]]:
    """(privilege, kind) the pipeline's Redshift statements need beyond owning what they
    create: CREATE on the schema for a table or view, TEMP on the database for a
    temporary table."""
    needs: set[tuple[str, str]] = set()
    for folder in PIPELINE_SQL:
        for path in folder.glob("*.sql"):
            text = re.sub(r"--[^\n]*", "", path.read_text())
            for statement in (s.strip() for s in text.split(";")):
                if re.match(r"(?i)CREATE\s+(TEMP|TEMPORARY)\s+TABLE\b", statement):
                    needs.add(("TEMP", "DATABASE"))
                elif re.match(r"(?i)CREATE\s+(OR\s+REPLACE\s+)?(TABLE|VIEW)\b", statement):
                    needs.add(("CREATE", "SCHEMA"))
    return needs


def test_the_pipelines_user_gets_back_exactly_what_its_sql_needs(script: Script) -> None:
    """What is taken from PUBLIC and the pipeline needs is given back to its user (and
    nothing it does not need); the reader gets nothing here."""
    privileges = _privileges(script)
    revoked = {(p, k) for verb, p, k, _, who in privileges if verb == "REVOKE" and who == "PUBLIC"}
    granted = {
        (p, k)
        for verb, p, k, _, who in privileges
        if verb == "GRANT" and who == GIVEN["pipeline_user"]
    }
    needs = _pipeline_needs()
    assert needs == {("CREATE", "SCHEMA"), ("TEMP", "DATABASE")}, "the scan read the SQL"
    assert revoked == needs, "PUBLIC keeps no CREATE on the schema nor TEMP"
    assert granted == needs & revoked
    assert not [p for p in privileges if p[4] == GIVEN["reader"]]
    for verb, _, kind, target, _ in privileges:
        expected = GIVEN["database"] if kind == "DATABASE" else script.defaults["schema"]
        assert target == expected, (verb, kind, target)


def test_the_reader_is_granted_reads_only_by_make_init() -> None:
    """reader_grants.sql: USAGE on the schema and SELECT, so CREATE and TEMP, once taken
    from PUBLIC, stay out of the reader's reach."""
    text = re.sub(r"--[^\n]*", "", READER_GRANTS.read_text())
    statements = [s.strip() for s in text.split(";") if s.strip()]
    kinds = {re.match(r"GRANT (\w+) ON (\w+)", s).groups() for s in statements}  # type: ignore[union-attr]
    assert kinds == {("USAGE", "SCHEMA"), ("SELECT", "TABLE")}
