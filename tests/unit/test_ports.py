"""The ports ``free_ports`` chooses for a service not started yet: outside the kernel's
ephemeral range (else an outgoing connection may take one as its source port first, and
a Kafka node dialling a peer's port before the peer listens connects to itself), each
run of consecutive ports whole on one side of that range, never handed out twice."""

from __future__ import annotations

import socket
from collections import deque
from itertools import chain
from pathlib import Path

import pytest

from lambda_common.errors import StackError
from local_stack import process
from local_stack.process import (
    DEFAULT_EPHEMERAL_RANGE,
    ephemeral_range,
    first_port_choices,
    free_ports,
    parse_port_range,
)

LIVE_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _live_ephemeral_range() -> tuple[int, int]:
    """The running kernel's range, read here rather than through the code under test."""
    try:
        low, high = LIVE_RANGE_FILE.read_text().split()
    except OSError:
        pytest.skip(f"no {LIVE_RANGE_FILE} (not Linux)")
    return int(low), int(high)


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        # As a server binds: a port in TIME_WAIT from an earlier test's server is free.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_free_ports_stay_out_of_the_live_ephemeral_range_and_are_bindable() -> None:
    low, high = _live_ephemeral_range()
    for _ in range(200):
        first = free_ports(3)
        run = range(first, first + 3)
        assert run[-1] < low or run[0] > high, (run, (low, high))
        assert run[-1] <= 65535
        assert all(_bindable(p) for p in run), run


def test_successive_free_ports_never_overlap() -> None:
    # The caller binds a port later (a node not started yet): a second call in between
    # must not hand out the same port.
    ports: list[int] = []
    for _ in range(200):
        first = free_ports(3)
        ports.extend(range(first, first + 3))
    assert len(ports) == len(set(ports))


def test_parse_port_range_reads_the_kernel_file_format() -> None:
    assert parse_port_range("32768\t60999\n") == (32768, 60999)
    assert parse_port_range("1024 1024") == (1024, 1024)


@pytest.mark.parametrize("text", ["", "32768", "1 2 3", "a b", "60999 32768", "0 100", "1 65536"])
def test_parse_port_range_refuses_what_is_not_a_range(text: str) -> None:
    with pytest.raises(ValueError):
        parse_port_range(text)


def test_ephemeral_range_reads_its_file_and_falls_back_to_linux_default(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ip_local_port_range"
    path.write_text("40000\t50000\n")
    assert ephemeral_range(path) == (40000, 50000)
    path.write_text("garbage\n")
    assert ephemeral_range(path) == DEFAULT_EPHEMERAL_RANGE == (32768, 60999)
    assert ephemeral_range(tmp_path / "missing") == DEFAULT_EPHEMERAL_RANGE


def test_first_port_choices_keep_every_run_whole_outside_the_range() -> None:
    choices = first_port_choices(5, (30000, 40000))
    assert choices == [range(20000, 29996), range(40001, 65532)]
    for first in chain(*choices):
        assert first + 4 < 30000 or first > 40000
        assert first + 4 <= 65535


def test_first_port_choices_when_the_range_leaves_little_room() -> None:
    # Starting below the floor: the ports from 1024 up to it.
    assert first_port_choices(2, (10000, 60999)) == [range(1024, 9999), range(61000, 65535)]
    assert first_port_choices(2, (1024, 60999)) == [range(61000, 65535)]
    assert first_port_choices(3, (20100, 65535)) == [range(20000, 20098)]
    assert first_port_choices(1, (1024, 65535)) == []


def test_a_run_crossing_the_ephemeral_range_is_never_returned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A narrow room on each side, so that runs next to the range's ends are drawn often.
    monkeypatch.setattr(process, "ephemeral_range", lambda: (20100, 65500))
    handed_out: deque[int] = deque(maxlen=4096)
    monkeypatch.setattr(process, "_HANDED_OUT", handed_out)
    firsts = set()
    for _ in range(300):
        handed_out.clear()  # else the few runs there are would soon all be handed out
        first = free_ports(3)
        assert 20000 <= first <= 20097 or 65501 <= first <= 65533, first
        firsts.add(first)
    assert any(first > 65500 for first in firsts)  # both sides are drawn from


def test_no_room_outside_the_ephemeral_range_is_a_stack_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(process, "ephemeral_range", lambda: (1024, 65535))
    with pytest.raises(StackError, match="outside the kernel's ephemeral range 1024-65535"):
        free_ports(1)
