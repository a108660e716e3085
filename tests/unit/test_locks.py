"""The one-process-at-a-time lock shared by the batch scheduler and the speed job."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch_layer.schedule import lock_path
from lambda_common.errors import StackError
from lambda_common.locks import ensure_private_dir, exclusive_lock, private_lock_dir
from lambda_common.settings import load_settings
from speed_layer.job import checkpoint_lock


def test_a_second_holder_fails_at_once_naming_the_first(tmp_path: Path) -> None:
    lock = tmp_path / "sub" / "job.lock"
    refused = pytest.raises(StackError, match=r"another test job is running \(lock .*job.lock\)")
    with exclusive_lock(lock, "test job"), refused, exclusive_lock(lock, "test job"):
        pass
    with exclusive_lock(lock, "test job"):  # released on exit
        pass


def test_speed_jobs_on_one_local_checkpoint_exclude_each_other(tmp_path: Path) -> None:
    settings = load_settings(speed_checkpoint=str(tmp_path / "checkpoint"))
    refused = pytest.raises(StackError, match=r"another speed job on .*checkpoint is running")
    with checkpoint_lock(settings):
        with refused, checkpoint_lock(settings):
            pass
        other = load_settings(speed_checkpoint=str(tmp_path / "other"))
        with checkpoint_lock(other):  # another checkpoint: another job may run
            pass
    remote = load_settings(speed_checkpoint="s3a://bucket/checkpoints/speed")
    with checkpoint_lock(remote), checkpoint_lock(remote):  # the cluster's to guard
        pass


def test_a_planted_link_is_neither_followed_nor_emptied(tmp_path: Path) -> None:
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    lock = tmp_path / "job.lock"
    lock.symlink_to(victim)
    with pytest.raises(StackError, match="cannot open the lock"), exclusive_lock(lock, "job"):
        pass
    assert victim.read_text() == "keep me"


def test_an_existing_lock_file_is_not_truncated(tmp_path: Path) -> None:
    lock = tmp_path / "job.lock"
    lock.write_text("left by an earlier holder")
    with exclusive_lock(lock, "job"):
        pass
    assert lock.read_text() == "left by an earlier holder"


def test_the_lock_folder_is_private(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    folder = private_lock_dir()
    assert folder == tmp_path / "lambda-tweets"
    assert folder.stat().st_mode & 0o777 == 0o700
    folder.chmod(0o777)  # loosened by hand: tightened again
    assert private_lock_dir().stat().st_mode & 0o777 == 0o700


def test_a_lock_folder_that_is_a_link_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "lambda-tweets").symlink_to(elsewhere)
    with pytest.raises(StackError, match="must be a folder, not a link"):
        private_lock_dir()
    with pytest.raises(StackError, match="must be a folder"):
        ensure_private_dir(tmp_path / "lambda-tweets")


def test_the_batch_lock_lives_in_the_private_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    path = lock_path(load_settings())
    assert path.parent == tmp_path / "lambda-tweets"
    assert path.name.startswith("batch-") and path.suffix == ".lock"


def test_cycles_share_the_gate_and_a_maintenance_command_waits_for_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Finding 11: maintenance commands were not excluded by the i/n processes' cycles.
    Every cycle of this machine shares the gate; a maintenance command holds it alone."""
    import threading
    import time

    from batch_layer.schedule import cycle_gate, maintenance_gate

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    settings = load_settings()
    events: list[str] = []
    entered = threading.Event()

    def maintenance() -> None:
        with maintenance_gate(settings):
            events.append("maintenance")
            entered.set()

    with cycle_gate(settings), cycle_gate(settings):  # two partition sets' cycles at once
        waiting = threading.Thread(target=maintenance)
        waiting.start()
        time.sleep(0.3)
        assert not entered.is_set()  # it waits for the cycles in progress
        events.append("cycles done")
    waiting.join(5)
    assert events == ["cycles done", "maintenance"]


def test_a_maintenance_command_takes_no_batch_process_lock(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Finding 11: `docker compose exec batch python -m batch_layer recompute` was refused
    while the batch service ran, because both took the same process lock."""
    from batch_layer import cli

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    ran: list[str] = []
    monkeypatch.setattr(cli, "rebuild_views", lambda settings: ran.append("rebuild"))
    with cycle_lock_all():
        assert cli.main(["rebuild-views"]) == 0
    assert ran == ["rebuild"]


def cycle_lock_all():  # type: ignore[no-untyped-def]
    """The lock a running `make batch` (every partition) holds for its lifetime."""
    from batch_layer.schedule import cycle_lock

    return cycle_lock(load_settings())
