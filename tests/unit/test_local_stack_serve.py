"""``python -m local_stack serve``: the local stack's services as a container's main program.

The supervisor is tested with an in-memory service whose program is a real, tiny child
process (``sleep``, a shell that exits with a status) and whose probe answers as scripted;
the configuration the real services write in a container is checked as data.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from lambda_common.errors import ServiceUnavailable, StackError
from lambda_common.setting_types import HostPort
from lambda_common.settings import Settings, load_settings
from local_stack import serve as serve_module
from local_stack import service as service_module
from local_stack.cli import _listener, main
from local_stack.kafka_node import KafkaService
from local_stack.postgres import PostgresService
from local_stack.s3proxy import S3Service
from local_stack.service import Port, Service


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    monkeypatch.chdir(tmp_path)  # no developer .env
    return load_settings(
        kafka_bootstrap_servers="kafka:29092",
        kafka_controller_port=9093,  # as docker-compose.yml gives it
        s3_endpoint_url="http://s3:9000",
        warehouse_dsn="postgresql://lambda:pw@postgres:5432/lambda",
        local_stack_dir=tmp_path,
    )


class ScriptedService(Service):
    """A service whose program is ``argv`` and whose probe answers as told."""

    name = "scripted"

    def __init__(self, settings: Settings, stack_dir: Path, argv: list[str]) -> None:
        super().__init__(settings, stack_dir, bind_all=True)
        self.argv = argv
        self.answers: list[bool] = []  # consumed one per probe; then the last one repeats
        self.probes = 0
        self.set_up = 0

    def ports(self) -> list[Port]:
        return []

    def pid(self) -> int | None:
        return None

    def start(self) -> None:
        raise AssertionError("serve never starts detached")

    def foreground_command(self) -> list[str]:
        return self.argv

    def probe(self) -> str:
        self.probes += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if not answer:
            raise ServiceUnavailable("not yet")
        return "answers"

    def stop(self) -> None:
        raise AssertionError("serve stops by signal")

    def after_healthy(self) -> None:
        self.set_up += 1


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Quick probe intervals, and the health file in the test's own folder."""
    monkeypatch.setattr(serve_module, "PROBE_INTERVAL_S", 0.05)
    monkeypatch.setattr(serve_module, "START_PROBE_INTERVAL_S", 0.02)
    marker = tmp_path / "health"
    monkeypatch.setattr(serve_module, "health_file", lambda name: marker)
    return marker


def test_set_up_runs_once_after_the_first_answer_and_health_follows_the_probe(
    settings: Settings, tmp_path: Path, fast: Path
) -> None:
    service = ScriptedService(settings, tmp_path, ["sleep", "30"])
    service.answers = [False, False, True, True, True, False]
    # serve() runs on the main thread (it installs signal handlers); a watcher records the
    # health file and, once the probe has failed again, stops serve as Docker would.
    seen: list[bool] = []

    def watch() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and service.probes < 8:
            seen.append(fast.exists())
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)

    watcher = threading.Thread(target=watch)
    watcher.start()
    code = serve_module.serve(service)
    watcher.join()
    assert service.set_up == 1
    assert True in seen, "the health file never appeared while the service answered"
    assert not fast.exists(), "the health file outlived the program"
    assert code == 128 + signal.SIGTERM


def test_a_stop_signal_is_forwarded_as_the_services_own(
    settings: Settings, tmp_path: Path, fast: Path
) -> None:
    # The child reports which signal reached it through its exit status.
    script = "trap 'exit 42' INT; trap 'exit 43' TERM; while :; do sleep 0.05; done"
    service = ScriptedService(settings, tmp_path, ["sh", "-c", script])
    service.stop_signal = signal.SIGINT
    service.answers = [True]
    before = signal.getsignal(signal.SIGINT)
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGTERM))
    timer.start()
    code = serve_module.serve(service)
    timer.join()
    assert signal.getsignal(signal.SIGINT) is before, "handlers restored"
    assert code == 42, "SIGTERM to serve must reach the program as its stop signal (SIGINT)"
    assert service.set_up == 1


def test_the_stop_signal_reaches_a_program_started_while_it_was_ignored(
    settings: Settings, tmp_path: Path, fast: Path
) -> None:
    # A serve started in the background inherits SIGINT ignored; the program it starts
    # must still get SIGINT at its default, or its trap (and the stop) would be lost.
    script = "trap 'exit 42' INT; while :; do sleep 0.05; done"
    service = ScriptedService(settings, tmp_path, ["sh", "-c", script])
    service.stop_signal = signal.SIGINT
    service.answers = [True]
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGTERM))
    try:
        timer.start()
        code = serve_module.serve(service)
        timer.join()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN, "handlers restored"
    finally:
        signal.signal(signal.SIGINT, before)
    assert code == 42


def test_the_programs_exit_status_is_serves(settings: Settings, tmp_path: Path, fast: Path) -> None:
    service = ScriptedService(settings, tmp_path, ["sh", "-c", "sleep 0.2; exit 7"])
    service.answers = [False]
    assert serve_module.serve(service) == 7
    assert service.set_up == 0, "set-up ran for a program that never answered"


def test_a_failed_set_up_stops_the_program(settings: Settings, tmp_path: Path, fast: Path) -> None:
    service = ScriptedService(settings, tmp_path, ["sleep", "29.75"])
    service.answers = [True]

    def refuse() -> None:
        raise ServiceUnavailable("cannot create the role")

    service.after_healthy = refuse  # type: ignore[method-assign]
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        serve_module.serve(service)
    assert time.monotonic() - started < 10, "serve waited for the orphaned program"
    assert subprocess.run(["pgrep", "-f", "^sleep 29.75$"], check=False).returncode == 1


# --- What the real services write when they run in a container -------------------------


def test_kafka_listeners_for_the_containers_and_the_host(
    settings: Settings, tmp_path: Path
) -> None:
    kafka = KafkaService(settings, tmp_path, bind_all=True)
    kafka.listeners = {
        "INTERNAL": HostPort("kafka", 29092),
        "EXTERNAL": HostPort("localhost", 19092),
    }
    props = kafka.listener_properties()
    assert props["listeners"] == (
        "INTERNAL://0.0.0.0:29092,EXTERNAL://0.0.0.0:19092,CONTROLLER://127.0.0.1:9093"
    )
    assert props["advertised.listeners"] == "INTERNAL://kafka:29092,EXTERNAL://localhost:19092"
    assert props["inter.broker.listener.name"] == "INTERNAL"
    assert props["listener.security.protocol.map"] == (
        "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT"
    )
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9093"


def test_kafka_listener_ports_must_differ(settings: Settings, tmp_path: Path) -> None:
    kafka = KafkaService(settings, tmp_path, bind_all=True)
    kafka.listeners = {"INTERNAL": HostPort("kafka", 29092), "EXTERNAL": HostPort("h", 9093)}
    with pytest.raises(StackError, match="collide: 29092, 9093, 9093"):
        kafka.listener_properties()


def test_kafka_on_a_machine_keeps_its_one_listener(settings: Settings, tmp_path: Path) -> None:
    props = KafkaService(settings, tmp_path).listener_properties()
    assert props["listeners"] == "PLAINTEXT://kafka:29092,CONTROLLER://kafka:9093"
    assert props["advertised.listeners"] == "PLAINTEXT://kafka:29092"


def test_s3_binds_every_interface_only_in_a_container(settings: Settings, tmp_path: Path) -> None:
    for bind_all, expected in ((True, "http://0.0.0.0:9000"), (False, "http://s3:9000")):
        s3 = S3Service(settings, tmp_path, bind_all=bind_all)
        s3.prepare()
        text = s3.config_path.read_text()
        assert f"s3proxy.endpoint={expected}\n" in text
        assert oct(s3.config_path.stat().st_mode & 0o777) == "0o600"


def test_postgres_lets_the_network_in_for_the_pipeline_only(
    settings: Settings, tmp_path: Path
) -> None:
    pg = PostgresService(settings, tmp_path, bind_all=True)
    pg.data.mkdir(parents=True)
    hba = pg.data / "pg_hba.conf"
    hba.write_text("host all all 127.0.0.1/32 scram-sha-256\n")
    pg._allow_network()
    pg._allow_network()  # every start: added once
    lines = [ln for ln in hba.read_text().splitlines() if ln and not ln.startswith("#")]
    assert lines == [
        "host all all 127.0.0.1/32 scram-sha-256",
        "host all postgres samenet reject",  # first match wins: the superuser stays inside
        "host all all samenet scram-sha-256",
    ]


# --- The command line --------------------------------------------------------------------


def test_listener_option_parses_name_and_address() -> None:
    assert _listener("EXTERNAL=localhost:9092") == ("EXTERNAL", HostPort("localhost", 9092))
    for bad in ("external=localhost:9092", "CONTROLLER=localhost:9093", "EXTERNAL=localhost"):
        with pytest.raises(argparse.ArgumentTypeError, match="expected"):
            _listener(bad)


@pytest.mark.parametrize(
    "argv",
    [
        ["serve"],
        ["serve", "kafka", "s3"],
        ["up", "--listener", "EXTERNAL=localhost:9092"],
        ["serve", "s3", "--listener", "EXTERNAL=localhost:9092"],
    ],
)
def test_serve_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2


def test_serve_names_an_unknown_service(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "redis"]) == 1
    assert "unknown service 'redis'" in capsys.readouterr().err


def test_a_java_services_data_is_private(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service_module, "ensure_jars", lambda stack_dir, program: tmp_path)
    monkeypatch.setattr(service_module, "java_command", lambda: "/usr/bin/java")
    s3 = S3Service(settings, tmp_path, bind_all=True)
    s3.home.mkdir(mode=0o755)
    s3.home.chmod(0o755)
    argv = s3.foreground_command()
    assert argv[0] == "/usr/bin/java" and argv[-2:] == ["--properties", str(s3.config_path)]
    assert s3.home.stat().st_mode & 0o777 == 0o700
