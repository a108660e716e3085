"""Careless settings and hostile local files (issue 14), through the real commands.

- Settings that used to pass and then crash or mislead now stop the command at start-up
  with one line naming the setting: a huge ``ALLOWED_LATENESS`` (was an OverflowError
  traceback), ``BATCH_INTERVAL=0`` (was accepted), a ``redshift://`` DSN (was accepted,
  then failed quoting the DSN).
- A DSN without a port reaches the project's default port (5439) for libpq too (libpq's
  own default would have been 5432).
- The batch lock lives in a private folder of the user's: a link planted where the lock
  goes is neither followed nor emptied, and the batch refuses with one line.
- The local stack's data folders are closed to other users.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from pydantic import SecretStr

from batch_layer.schedule import lock_path
from lambda_common.warehouse import Warehouse
from tests.integration.helpers import Lane, run_module
from tests.stack import StackHandle


def _batch_once(lane: Lane, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {**lane.env(), **variables}
    return run_module("batch_layer", "once", env=env, timeout=120)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ALLOWED_LATENESS", "99999999999999999999"),
        ("ALLOWED_LATENESS", "200h"),
        ("BATCH_INTERVAL", "0"),
        ("SPEED_RETENTION", "1000h"),
        ("WAREHOUSE_DSN", "redshift://etl:pw@cluster.example.com:5439/dev"),
        ("WAREHOUSE_DSN", "postgresql://etl:pw@host:70000/dev"),
    ],
)
def test_a_bad_setting_stops_the_command_in_one_line(lane: Lane, name: str, value: str) -> None:
    done = _batch_once(lane, **{name: value})
    assert done.returncode == 2, done.stderr[-800:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: invalid setting {name}"), lines
    assert "Traceback" not in done.stderr and "pw@" not in done.stderr


def test_a_dsn_without_a_port_means_5439_for_libpq_too(lane: Lane) -> None:
    w = lane.settings.warehouse
    if w.port != 5439:
        pytest.skip(f"the stack's warehouse listens on {w.port}, not the default 5439")
    dsn = f"postgresql://{w.user}:{w.password}@{w.host}/{w.dbname}"
    with Warehouse(lane.settings.model_copy(update={"warehouse_dsn": SecretStr(dsn)})) as wh:
        assert wh.query("SELECT inet_server_port()") == [(5439,)]


def test_a_link_planted_at_the_batch_lock_is_not_followed(
    lane: Lane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    lock = lock_path(lane.settings)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    lock.symlink_to(victim)
    done = _batch_once(lane, XDG_RUNTIME_DIR=str(runtime))
    assert done.returncode == 1, done.stderr[-800:]
    assert done.stderr.strip().splitlines() == [
        f"error: cannot open the lock {lock}: Too many levels of symbolic links"
    ]
    assert victim.read_text() == "precious"


def test_a_lock_folder_of_someone_else_is_refused(lane: Lane, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give the folder to another user")
    runtime = tmp_path / "runtime"
    (runtime / "lambda-tweets").mkdir(parents=True)
    os.chown(runtime / "lambda-tweets", 65534, 65534)  # nobody
    done = _batch_once(lane, XDG_RUNTIME_DIR=str(runtime))
    assert done.returncode == 1
    assert "belongs to another user (uid 65534)" in done.stderr


def test_the_local_stacks_data_is_closed_to_other_users(stack: StackHandle) -> None:
    if stack.local is None:
        pytest.skip(f"the services are not the local stack here ({stack.kind})")
    for name in ("kafka", "s3", "postgres"):
        home = stack.local.services[name].home.resolve()
        mode = home.stat().st_mode & 0o777
        assert mode & 0o077 == 0, f"{home}: mode {oct(mode)}"
