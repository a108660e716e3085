"""Settings: defaults, parsing, validation that names the setting, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambda_common import views as views_module
from lambda_common.cli import main as env_main
from lambda_common.dsn import mask_dsn, parse_dsn
from lambda_common.errors import ConfigError
from lambda_common.setting_types import (
    HostPort,
    parse_duration,
    parse_fine_duration,
    parse_hostport,
)
from lambda_common.settings import Settings, load_settings

# No developer .env or exported variable leaks into these tests.
pytestmark = pytest.mark.usefixtures("clean_env")

SECRET_DSN = "postgresql://etl:s3cr3t-pw@warehouse.example.com:5439/analytics"


def test_defaults_match_the_local_stack() -> None:
    s = load_settings()
    assert s.kafka_bootstrap_servers == "localhost:9092"
    assert s.kafka_topic == "tweets"
    assert s.kafka_topic_partitions == 3
    assert s.s3_endpoint_url == "http://localhost:9000"
    assert s.s3_endpoint == HostPort("localhost", 9000)
    assert s.warehouse_dialect == "postgres"
    assert s.warehouse.port == 5439
    assert s.batch_interval == 300
    assert s.allowed_lateness == 600
    assert s.redshift_iam_role is None
    assert s.x_bearer_token is None


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "b1:9092, b2:9093")
    monkeypatch.setenv("WAREHOUSE_DIALECT", "redshift")
    monkeypatch.setenv("WAREHOUSE_DSN", SECRET_DSN)
    monkeypatch.setenv("BATCH_INTERVAL", "1h")
    monkeypatch.setenv("REDSHIFT_IAM_ROLE", "arn:aws:iam::123456789012:role/redshift-copy")
    s = load_settings()
    assert s.kafka_servers == [HostPort("b1", 9092), HostPort("b2", 9093)]
    assert s.warehouse_dialect == "redshift"
    assert s.warehouse.host == "warehouse.example.com"
    assert s.warehouse.dbname == "analytics"
    assert s.batch_interval == 3600


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("KAFKA_TOPIC=from_dotenv\nS3_BUCKET=my-lake\n")
    s = load_settings()
    assert (s.kafka_topic, s.s3_bucket) == ("from_dotenv", "my-lake")


def test_empty_endpoint_means_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3_ENDPOINT_URL", "")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "")
    s = load_settings()
    assert s.s3_endpoint_url is None and s.s3_endpoint is None
    assert s.aws_access_key_id is None and s.aws_secret_access_key is None


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("WAREHOUSE_DIALECT", "mysql", "invalid setting WAREHOUSE_DIALECT"),
        ("KAFKA_BOOTSTRAP_SERVERS", "no-port-here", "invalid setting KAFKA_BOOTSTRAP_SERVERS"),
        ("KAFKA_TOPIC_PARTITIONS", "0", "invalid setting KAFKA_TOPIC_PARTITIONS"),
        ("S3_ENDPOINT_URL", "ftp://x", "invalid setting S3_ENDPOINT_URL"),
        ("S3_BUCKET", "Bad_Bucket", "invalid setting S3_BUCKET"),
        ("BATCH_INTERVAL", "soon", "invalid setting BATCH_INTERVAL"),
        ("REDSHIFT_IAM_ROLE", "admin", "invalid setting REDSHIFT_IAM_ROLE"),
        ("AWS_REGION", "mars", "invalid setting AWS_REGION"),
        ("KAFKA_TOPIC", "bad topic", "invalid setting KAFKA_TOPIC"),
        ("BATCH_INTERVAL", "0", "invalid setting BATCH_INTERVAL"),
        ("BATCH_INTERVAL", "200h", "invalid setting BATCH_INTERVAL"),
        ("ALLOWED_LATENESS", "99999999999999999999", "invalid setting ALLOWED_LATENESS"),
        ("SPEED_RETENTION", "169h", "invalid setting SPEED_RETENTION"),
        ("SPEED_TRIGGER", "0", "invalid setting SPEED_TRIGGER"),
        ("SPEED_TRIGGER", "50ms", "invalid setting SPEED_TRIGGER"),
        ("SPEED_TRIGGER", "0.5 s", "invalid setting SPEED_TRIGGER"),
        ("SPEED_TRIGGER", "1.5m", "invalid setting SPEED_TRIGGER"),
        ("WAREHOUSE_DSN", "redshift://u:p@cluster:5439/db", "invalid setting WAREHOUSE_DSN"),
        ("WAREHOUSE_DSN", "postgresql://u:p@h:99999/db", "invalid setting WAREHOUSE_DSN"),
        ("WAREHOUSE_DSN", "postgresql://u@h/db?port=5432", "invalid setting WAREHOUSE_DSN"),
        ("LOCAL_KAFKA_BROKERS", "2", "invalid setting LOCAL_KAFKA_BROKERS: Input should be 1 or 3"),
        ("KAFKA_CONTROLLER_PORT", "70000", "invalid setting KAFKA_CONTROLLER_PORT"),
        ("KAFKA_REPLICATION_FACTOR", "0", "invalid setting KAFKA_REPLICATION_FACTOR"),
        ("KAFKA_MIN_INSYNC_REPLICAS", "none", "invalid setting KAFKA_MIN_INSYNC_REPLICAS"),
    ],
)
def test_bad_setting_fails_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=expected) as info:
        load_settings()
    assert "\n" not in str(info.value)


def test_bad_dsn_error_never_shows_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAREHOUSE_DSN", "mysql://etl:s3cr3t-pw@host/db")
    with pytest.raises(ConfigError, match="invalid setting WAREHOUSE_DSN") as info:
        load_settings()
    assert "s3cr3t" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://etl@h:5439/db?password=s3cr3t-pw",
        "postgresql://etl@h:5439/db?sslmode=require&sslpassword=s3cr3t-pw",
        "postgresql://etl:s3cr3t-pw@h:5439/db?application_name=x",
        "postgresql://etl:s3cr3t%25pw@h:5439/db",
        "redshift://etl:s3cr3t-pw@h:5439/db",
        "postgresql://etl:s3cr3t-pw@h:port/db",
        "not a url s3cr3t-pw",
    ],
)
def test_no_form_of_dsn_password_is_ever_shown(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], dsn: str
) -> None:
    assert "s3cr3t" not in mask_dsn(dsn)
    monkeypatch.setenv("WAREHOUSE_DSN", dsn)
    try:
        shown = dict(load_settings().describe())["WAREHOUSE_DSN"]
    except ConfigError as e:
        shown = str(e)
    assert "s3cr3t" not in shown
    env_main([])  # make env: a bad setting is one error line, a good one masked
    out = capsys.readouterr()
    assert "s3cr3t" not in out.out + out.err


def test_the_dsn_reaches_libpq_as_keywords_with_the_projects_port() -> None:
    parts = parse_dsn("postgresql://etl:p%40ss@db/lake?sslmode=verify-full&options=-cx%3D1")
    assert parts.connect_kwargs() == {
        "host": "db",
        "port": 5439,  # the project's default is libpq's too: it gets the port explicitly
        "user": "etl",
        "password": "p@ss",
        "dbname": "lake",
        "sslmode": "verify-full",
        "options": "-cx=1",
    }


def test_describe_masks_every_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAREHOUSE_DSN", SECRET_DSN)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-value")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-value")
    monkeypatch.setenv("X_BEARER_TOKEN", "bearer-token-value")
    s = load_settings()
    shown = dict(s.describe())
    text = "\n".join(f"{k}={v}" for k, v in shown.items()) + repr(s) + str(s)
    for secret in ("s3cr3t-pw", "aws-secret-value", "session-token-value", "bearer-token-value"):
        assert secret not in text
    assert shown["WAREHOUSE_DSN"] == "postgresql://etl:***@warehouse.example.com:5439/analytics"
    assert shown["AWS_SECRET_ACCESS_KEY"] == "****"
    assert shown["X_BEARER_TOKEN"] == "****"
    assert shown["KAFKA_TOPIC"] == "tweets"


def test_make_env_prints_key_value_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-value")
    assert env_main([]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert all("=" in line for line in lines)
    assert {line.split("=", 1)[0] for line in lines} >= {
        "KAFKA_BOOTSTRAP_SERVERS",
        "KAFKA_TOPIC",
        "S3_ENDPOINT_URL",
        "S3_BUCKET",
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "WAREHOUSE_DSN",
        "WAREHOUSE_DIALECT",
        "REDSHIFT_IAM_ROLE",
        "BATCH_INTERVAL",
    }
    assert "aws-secret-value" not in out


def test_make_env_with_a_bad_setting_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WAREHOUSE_DIALECT", "oracle")
    assert env_main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: invalid setting WAREHOUSE_DIALECT")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(300, 300), ("300", 300), ("45s", 45), ("5m", 300), ("1h", 3600), ("1h30m", 5400), ("0", 0)],
)
def test_parse_duration(text: object, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5 minutes", "-5", "1.5h", True])
def test_parse_duration_rejects(text: object) -> None:
    with pytest.raises(ValueError, match=r"duration|negative"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (1, 1.0),
        ("1", 1.0),
        ("1s", 1.0),
        ("0.5s", 0.5),
        ("0.25", 0.25),
        ("500ms", 0.5),
        ("5m", 300.0),
    ],
)
def test_parse_fine_duration(text: object, seconds: float) -> None:
    assert parse_fine_duration(text) == seconds


def test_speed_trigger_may_be_below_a_second_and_defaults_to_one() -> None:
    assert load_settings().speed_trigger == 1.0
    assert load_settings(speed_trigger="500ms").speed_trigger == 0.5


def test_parse_hostport() -> None:
    assert parse_hostport("localhost:9092") == HostPort("localhost", 9092)
    assert parse_hostport("[::1]:9092") == HostPort("::1", 9092)
    for bad in ("localhost", "host:0", "host:70000", ":9092"):
        with pytest.raises(ValueError, match="host:port"):
            parse_hostport(bad)


def test_parse_and_mask_dsn() -> None:
    parts = parse_dsn("postgresql://us%40er:p%3Aw@db:5440/lake")
    assert (parts.user, parts.password, parts.host, parts.port, parts.dbname) == (
        "us@er",
        "p:w",
        "db",
        5440,
        "lake",
    )
    assert parse_dsn("postgresql://u:p@db/lake").port == 5439  # Redshift's port by default
    assert mask_dsn(SECRET_DSN) == "postgresql://etl:***@warehouse.example.com:5439/analytics"
    assert mask_dsn("postgresql://u@db/lake") == "postgresql://u@db/lake"
    with pytest.raises(ValueError, match="user, a host and a database"):
        parse_dsn("postgresql://db:5439/")


def _env_example() -> dict[str, str]:
    text = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    pairs = [line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#")]
    return {key: value for key, value in pairs}


def test_env_example_documents_every_setting_with_its_default() -> None:
    documented = _env_example()
    assert set(documented) == {name.upper() for name in Settings.model_fields}
    from_example = dict(Settings(**{k.lower(): v for k, v in documented.items()}).describe())  # type: ignore[arg-type]
    assert from_example == dict(load_settings().describe())


def test_in_schema_scopes_the_dsn_and_topic_only() -> None:
    base = load_settings(warehouse_dsn="postgresql://u:p@h:5439/db?sslmode=require")
    scoped = base.in_schema("lane_1", topic="t1")
    assert scoped.warehouse_dsn.get_secret_value() == (
        "postgresql://u:p@h:5439/db?sslmode=require&options=-csearch_path%3Dlane_1"
    )
    assert (scoped.kafka_topic, base.kafka_topic) == ("t1", "tweets")
    assert base.in_schema("s").kafka_topic == "tweets"


def test_psql_gets_the_connection_through_its_environment() -> None:
    parts = parse_dsn("postgresql://etl:p%40ss@db/lake?sslmode=require&options=-cx%3D1")
    assert parts.libpq_environment() == {
        "PGHOST": "db",
        "PGPORT": "5439",
        "PGUSER": "etl",
        "PGPASSWORD": "p@ss",
        "PGDATABASE": "lake",
        "PGSSLMODE": "require",
        "PGOPTIONS": "-cx=1",
    }


def test_a_password_given_apart_needs_no_encoding_and_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WAREHOUSE_DSN", "postgresql://etl:old@db:5439/lake")
    monkeypatch.setenv("WAREHOUSE_PASSWORD", "p@ss:w/rd?#%&=s3cr3t")
    s = load_settings()
    assert s.warehouse.password == "p@ss:w/rd?#%&=s3cr3t"
    assert s.warehouse.connect_kwargs()["password"] == "p@ss:w/rd?#%&=s3cr3t"
    shown = "\n".join(f"{k}={v}" for k, v in s.describe())
    assert "s3cr3t" not in shown and "WAREHOUSE_PASSWORD=****" in shown


def test_the_query_checkpoint_is_named_after_the_views(tmp_path: Path) -> None:
    """A view added makes a new checkpoint folder (the job rebuilds its speed tables)."""
    shipped = load_settings(speed_checkpoint="s3a://bucket/speed/")
    assert shipped.speed_query_checkpoint.startswith("s3a://bucket/speed/views-")
    folder = tmp_path / "views"
    folder.mkdir()
    text = (Path(views_module.__file__).parent / "languages.sql").read_text("utf-8")
    (folder / "langs.sql").write_text(text.replace("-- view: languages", "-- view: langs"))
    more = load_settings(speed_checkpoint="s3a://bucket/speed/", views_dir=folder)
    assert more.speed_query_checkpoint != shipped.speed_query_checkpoint
    assert load_settings(speed_checkpoint="s3a://bucket/speed").speed_query_checkpoint == (
        shipped.speed_query_checkpoint
    )
