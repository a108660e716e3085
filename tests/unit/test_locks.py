"""The one-process-at-a-time lock shared by the batch scheduler and the speed job."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambda_common.errors import StackError
from lambda_common.locks import exclusive_lock
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
