"""``make redshift-sql``: the dry run of the Redshift path, and every statement it records
parsed as Redshift SQL and checked against what Redshift does not support
(tests/unit/redshift_rules.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lambda_common.settings import Settings, load_settings
from lambda_common.sql import load_sql, statements
from lambda_common.views import load_views
from lambda_dryrun.cli import main
from lambda_dryrun.dryrun import PHASES, Phase, dry_run
from lambda_dryrun.script import bound_names, script, source_files
from tests.unit import redshift_rules as rules

SECRETS = {
    "aws_access_key_id": "AKIADRYRUNKEYID00001",
    "aws_secret_access_key": "dry/RUN+secret+never+shown+0000000000000",
    "aws_session_token": "IQoDRYRUNSESSIONTOKEN//never==",
    "warehouse_password": "warehouse-pw-never-shown",
}
ROLE = "arn:aws:iam::123456789012:role/dry-run-copy"
NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def _settings(**overrides: Any) -> Settings:
    return load_settings(**(SECRETS | overrides))


@pytest.fixture(scope="module")
def phases() -> list[Phase]:
    return dry_run(_settings(), now=NOW)


def _statements(phases: list[Phase]) -> list[tuple[str, str]]:
    return [(p.name, s.text) for p in phases for s in p.statements]


def test_the_dry_run_records_each_phase_in_order_and_commits_every_transaction(
    phases: list[Phase],
) -> None:
    assert [p.name for p in phases] == list(PHASES)
    for phase in phases:
        assert phase.statements, phase.name
        # Every transaction the code opened was committed: none rolled back, none open.
        assert phase.sent[-1].kind == "commit", phase.name
        assert not [s for s in phase.sent if s.kind == "rollback"], phase.name


def test_the_dry_run_follows_the_code_not_a_list(phases: list[Phase]) -> None:
    texts = {p.name: [s.text for s in p.statements] for p in phases}
    views = load_views()
    # make init creates every table and view; the cycle's schema check then finds them.
    for statement in statements(load_sql("schema", "redshift")):
        assert statement in texts["init"]
    assert sum("CREATE OR REPLACE VIEW" in t for t in texts["init"]) == len(views)
    assert not any("CREATE OR REPLACE VIEW" in t for t in texts["batch"])
    # The cycle loads through COPY (the configured credentials' file), rebuilds, moves
    # the horizon; the micro-batch takes the speed tables over and records itself.
    (copy,) = [t for t in texts["batch"] if rules.sql_only(t).startswith("COPY")]
    assert source_files()[copy].startswith("copy_")
    assert {"ACCESS_KEY_ID", "SESSION_TOKEN"} <= set(rules.copy_parameters(copy))
    assert statements(load_sql("horizon_set", "redshift"))[-1] == texts["batch"][-1]
    # The second micro-batch's transaction ends with the first one's status row (the
    # recorder writes execute_values' one row as its own placeholders).
    record = statements(load_sql("speed_batch_record", "redshift"))[-1]
    assert texts["speed"][-1].startswith(record.removesuffix("%s"))
    assert sum(rules.sql_only(t).startswith('DELETE FROM "speed') for t in texts["speed"]) >= len(
        views
    )


def test_the_role_chooses_the_role_copy() -> None:
    batch = dry_run(_settings(redshift_iam_role=ROLE), now=NOW)[1]
    (copy,) = [s.text for s in batch.statements if rules.sql_only(s.text).startswith("COPY")]
    assert "IAM_ROLE" in rules.copy_parameters(copy)
    assert ROLE not in script([batch])


@pytest.mark.parametrize("index", range(3))
def test_every_statement_is_redshift_sql_without_unsupported_features(
    phases: list[Phase], index: int
) -> None:
    phase = phases[index]
    found = {}
    for number, sent in enumerate(phase.statements, 1):
        broken = rules.faults(sent.text)
        if broken:
            found[f"{phase.name} {number}: {rules.sql_only(sent.text)[:70]}"] = broken
    assert not found, found


def test_every_copy_of_the_dry_run_has_amazons_parameters(phases: list[Phase]) -> None:
    copies = [t for _, t in _statements(phases) if rules.sql_only(t).startswith("COPY")]
    assert copies
    for copy in copies:
        rules.copy_parameters(copy)


def test_no_value_is_written_out_only_placeholders(phases: list[Phase]) -> None:
    text = script(phases)
    for secret in [*SECRETS.values(), "lambda-local-secret"]:
        assert secret not in text
    # execute_values' rows keep their placeholders too.
    inserts = [t for _, t in _statements(phases) if re.search(r"VALUES \(%s(,%s)+\)", t)]
    # The events and their hashtags in each of the two micro-batches (every view's rows
    # are computed by its SELECT in the warehouse), and the first one's status row.
    assert len(inserts) == 2 * 2 + 1
    assert bound_names({"a": 1, "b": "x", "c": 2}, "a = %(a)s AND b = %(b)s") == "%(a)s, %(b)s"
    assert bound_names({"horizon": 1}, "DROP TABLE t") == ""
    assert bound_names((1, 2), "%s, %s") == "%s, %s" and bound_names(None, "x") == ""


def test_the_script_ends_every_statement_and_shows_the_transactions(
    phases: list[Phase],
) -> None:
    text = script(phases)
    count = sum(len(p.statements) for p in phases)
    assert text.count("\n-- [") == count
    assert (
        text.count("\nBEGIN;")
        == text.count("\nCOMMIT;")
        == sum(1 for p in phases for s in p.sent if s.kind == "commit")
    )
    for phase in phases:
        assert f"-- ===== phase {phase.name}: " in text
    assert re.search(r"; file copy_manifest\.sql \(\w+\); bound: %\(manifest\)s", text)
    named = script(phases, load_views())
    assert "; file view_serving.sql (hashtags)]" in named
    assert "; file view_batch_rebuild.sql (locations); bound: %(since)s, %(until)s]" in named


def test_the_command_writes_the_file_and_counts_each_phase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no developer .env
    for key, value in SECRETS.items():
        monkeypatch.setenv(key.upper(), value)
    out = tmp_path / "redshift.sql"
    assert main(["--out", str(out)]) == 0
    written = out.read_text(encoding="utf-8")
    assert written.startswith("-- make redshift-sql")
    counts = capsys.readouterr().err
    assert re.search(r"statements per phase: init \d+, batch \d+, speed \d+", counts)
    assert main(["--phase", "speed"]) == 0
    shown = capsys.readouterr().out
    assert "phase speed" in shown and "phase init" not in shown


# The rules themselves: each finds what it is for, and a statement sqlglot cannot read
# fails unless it is an allowed command that passes Amazon's syntax.

CAUGHT = {
    "INSERT ... ON CONFLICT": "INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO NOTHING",
    "RETURNING": "DELETE FROM t WHERE a = 1 RETURNING a",
    "TRUNCATE (commits its transaction)": "TRUNCATE speed_view",
    "indexes (CREATE INDEX, partial indexes)": "CREATE INDEX i ON t (a) WHERE a > 1",
    "sequences, triggers": "CREATE SEQUENCE s",
    "sequence functions (nextval, ...)": "SELECT nextval('s')",
    "SERIAL, BIGSERIAL, SMALLSERIAL": "CREATE TABLE t (a BIGSERIAL)",
    "JSON and JSONB types (SUPER holds JSON)": "CREATE TABLE t (a JSONB)",
    "UUID, MONEY, XML, INET, HSTORE, BIT, range, enum types": "SELECT CAST(a AS UUID) FROM t",
    "arrays (types, constructors, subscripts, ARRAY_AGG)": "CREATE TABLE t (a INTEGER[])",
    "row constructors": "SELECT ROW(1, 2)",
    "VALUES list used as a constant table": "SELECT * FROM (VALUES (1), (2)) AS v (a)",
    "generate_series": "SELECT * FROM generate_series(1, 10)",
    "IS [NOT] DISTINCT FROM": "SELECT 1 FROM t WHERE a IS DISTINCT FROM b",
    "STRING_AGG (LISTAGG is Redshift's)": "SELECT STRING_AGG(a, ',') FROM t",
    "advisory lock functions": "SELECT pg_advisory_xact_lock(1)",
    "SELECT ... FOR UPDATE / FOR SHARE": "SELECT a FROM t FOR UPDATE",
    "DEFERRABLE constraints": "CREATE TABLE t (a INT, UNIQUE (a) DEFERRABLE)",
    "CHECK constraints": "CREATE TABLE t (a INT CHECK (a > 0))",
    "table partitioning, inheritance, UNLOGGED tables": "CREATE UNLOGGED TABLE t (a INT)",
}


def test_every_rule_has_a_statement_it_catches() -> None:
    assert set(CAUGHT) == {rule.name for rule in rules.UNSUPPORTED}
    for name, statement in CAUGHT.items():
        found = rules.faults(statement)
        assert any(f.startswith(name) for f in found), (name, found)
        assert all(r.page.startswith(rules.DOCS) for r in rules.UNSUPPORTED)


@pytest.mark.parametrize(
    ("statement", "fault"),
    [
        ("LOCK TABLE batch_lock IN ACCESS EXCLUSIVE MODE", "LOCK not in Amazon's syntax"),
        ("LOCK batch_lock NOWAIT", "LOCK not in Amazon's syntax"),
        ("SAVEPOINT a", "not understood"),
        ("CREATE TEMP TABLE t (a INT) ON COMMIT DROP", "not understood"),
        ("SELECT 1; SELECT 2", "not one statement"),
    ],
)
def test_what_sqlglot_cannot_read_fails_unless_allowed(statement: str, fault: str) -> None:
    (found,) = rules.faults(statement)
    assert fault in found


def test_an_allowed_command_passes_its_own_check() -> None:
    assert rules.faults("-- a comment\nLOCK batch_lock") == []
    assert rules.faults('LOCK TABLE "speed_view", batch_lock') == []
    assert rules.parse("LOCK batch_lock") is None


def test_without_copy_credentials_the_dry_run_says_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "")
    monkeypatch.delenv("REDSHIFT_IAM_ROLE", raising=False)
    assert main(["--phase", "init"]) == 0  # make init needs no COPY
    assert "phase init" in capsys.readouterr().out
    assert main([]) == 1  # the cycle's COPY is where a cycle would stop
    assert "REDSHIFT_IAM_ROLE, or AWS_ACCESS_KEY_ID" in capsys.readouterr().err
    assert [p.name for p in dry_run(load_settings(), until="init")] == ["init"]
