"""The one settings object of the pipeline.

Read once at start-up from the environment (and an optional ``.env`` file in the working
directory), validated, then passed down to whatever needs it. Every setting has a local
default that matches the local stack, so a fresh checkout works with no configuration;
pointing at real AWS is a matter of setting a few variables (see ``.env.example``).

Secrets are ``SecretStr``: they never appear in ``repr``, logs, error messages or
``make env``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlsplit

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from lambda_common.dsn import DsnParts, check_tls, mask_dsn, parse_dsn, verified, with_password
from lambda_common.errors import ConfigError
from lambda_common.kafka.security import check_kafka_security
from lambda_common.setting_types import (
    MAX_SPAN_S,
    BrokerCount,
    Duration,
    FineDuration,
    HostPort,
    OptionalInt,
    OptionalSecret,
    OptionalStr,
    _empty_to_none,
    allowed_host,
    must_be,
    parse_hostport,
)
from lambda_common.views import View, load_views, views_fingerprint

SPEED_QUERY_LAYOUT = "2: no Spark state; the warehouse de-duplicates"
"""What the speed job's checkpoint holds, in its folder's name (``speed_query_checkpoint``)."""

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IAM_ROLE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")


_DSN_FIELDS = frozenset({"warehouse_dsn", "query_dsn"})
"""DSN settings: shown by ``make env`` with only their secrets masked."""


class Settings(BaseSettings):
    """Every setting of the pipeline; environment variable = field name in upper case."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        validate_default=True,
    )

    # Kafka
    kafka_bootstrap_servers: str = "localhost:9092"
    kafka_topic: str = Field("tweets", pattern=r"^[A-Za-z0-9._-]{1,249}$")
    kafka_topic_partitions: int = Field(3, ge=1, le=10_000)
    # How clients reach the brokers: PLAINTEXT locally; SSL or SASL_SSL on Amazon MSK (TLS
    # verified against KAFKA_SSL_CAFILE, or the system's CAs when it is unset).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_ssl_cafile: Annotated[
        Path | None,
        BeforeValidator(_empty_to_none),
        must_be(Path.is_file, "a PEM file of CA certificates"),
    ] = None
    # SASL: SCRAM (MSK's username/password auth), PLAIN, or AWS_MSK_IAM (MSK's IAM auth,
    # signed with the AWS credentials boto finds; no username or password then).
    kafka_sasl_mechanism: Annotated[
        Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "AWS_MSK_IAM"] | None,
        BeforeValidator(_empty_to_none),
    ] = None
    kafka_sasl_username: OptionalStr = None
    kafka_sasl_password: OptionalSecret = None
    # Replicas of each partition, and how many must have a write before acks=all
    # succeeds, when the pipeline creates the topic. Empty: derived from the live brokers
    # then (min(3, brokers), and one less than that but at least 1), so one broker gets
    # 1/1 and three get 3/2 (a write survives one broker lost, and one may be down).
    kafka_replication_factor: OptionalInt = Field(None, ge=1)
    kafka_min_insync_replicas: OptionalInt = Field(None, ge=1)
    # The Python Kafka client of the producers and the batch layer's reads: kafka-python
    # (pure Python, the default) or confluent (confluent-kafka, librdkafka in C: faster).
    # Admin calls (make init, make status, topic checks) use kafka-python either way.
    kafka_client: Literal["kafka-python", "confluent"] = "kafka-python"

    # S3 (the master dataset)
    s3_endpoint_url: OptionalStr = "http://localhost:9000"
    s3_bucket: str = "lambda-tweets"
    aws_region: str = Field("us-east-1", pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    aws_access_key_id: OptionalStr = "lambda-local"
    aws_secret_access_key: OptionalSecret = SecretStr("lambda-local-secret")
    aws_session_token: OptionalSecret = None

    # Warehouse (Redshift, or PostgreSQL as its local stand-in)
    warehouse_dsn: SecretStr = SecretStr("postgresql://lambda:lambda-local@localhost:5439/lambda")
    # The password of WAREHOUSE_DSN's user, when given apart (taken as it is: no URL
    # encoding, so any character works; it wins over a password inside the DSN).
    warehouse_password: OptionalSecret = None
    warehouse_dialect: Literal["postgres", "redshift"] = "postgres"
    # Everything that reads for people (make query, make status, the demo's display)
    # connects as this user: SELECT on the pipeline's tables and views only, so a text
    # that slips past the query command's statement check still cannot write, and it
    # cannot signal the pipeline's own sessions. Same rules as WAREHOUSE_DSN/_PASSWORD.
    query_dsn: SecretStr = SecretStr(
        "postgresql://lambda_reader:lambda-reader-local@localhost:5439/lambda"
    )
    query_password: OptionalSecret = None
    # What QUERY_DSN's user may hold of the warehouse: at most this many connections at
    # once (the role's CONNECTION LIMIT, which the local stack sets and an operator sets
    # on Redshift), so readers can never take the connections the pipeline needs; and the
    # statement timeout its sessions start with (a default for tools that set none: make
    # query, make status and the dashboard set their own).
    query_connection_limit: int = Field(20, ge=1, le=10_000)
    query_statement_timeout: Duration = Field(60, ge=1, le=3600)
    redshift_iam_role: OptionalStr = None
    # COPY's MAXERROR on Redshift: fewer rejected rows than this leave the load going on,
    # each recorded in load_rejects; this many fail it. 0 or 1: fail on the first. At most
    # 100000, Amazon's limit.
    redshift_copy_maxerror: int = Field(100, ge=0, le=100_000)

    # Batch layer
    batch_interval: Duration = Field(300, ge=1, le=MAX_SPAN_S)
    allowed_lateness: Duration = Field(600, le=MAX_SPAN_S)

    # Speed layer (Spark Structured Streaming)
    spark_master: str = Field("local[*]", min_length=1)
    # Below a second where the design keeps up (a micro-batch is one Spark job and one
    # transaction); 100 ms is the least, a trigger's own cost in Spark.
    speed_trigger: FineDuration = Field(1.0, ge=0.1, le=MAX_SPAN_S)
    speed_checkpoint: str = Field(".stack/checkpoints/speed", min_length=1)
    speed_retention: Duration = Field(3 * 3600, le=MAX_SPAN_S)
    spark_kafka_jars: OptionalStr = None

    # Views: a folder of view definitions (*.sql) beside the shipped ones (docs/adding-a-view.md)
    views_dir: Annotated[
        Path | None,
        BeforeValidator(_empty_to_none),
        must_be(Path.is_dir, "a folder of view definitions (*.sql)"),
    ] = None

    # Producers
    x_bearer_token: OptionalSecret = None

    # Operation
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # Dashboard (make dashboard): a web page and Prometheus /metrics, read as QUERY_DSN.
    dashboard_port: int = Field(8050, gt=0, lt=65536)
    # The address it listens on: loopback unless it runs in a container whose port is
    # published (docker-compose.yml publishes it on the host's 127.0.0.1 only).
    dashboard_host: str = Field("127.0.0.1", pattern=r"^[A-Za-z0-9_.:-]{1,253}$")
    # How often the health behind the status panel and /metrics is gathered again (one
    # gathering asks Kafka, S3 and the warehouse, however many clients poll).
    dashboard_refresh: Duration = Field(5, ge=1, le=300)
    # The host names it answers to, comma-separated (a Host header's port is not checked):
    # any other Host gets 400, so a page of another site whose name was made to resolve
    # to this machine (DNS rebinding) cannot read it. ``*.example.com`` admits subdomains.
    dashboard_allowed_hosts: str = "localhost,127.0.0.1,[::1]"

    # Monitoring (make monitoring-up): the project's Prometheus, on 127.0.0.1 only.
    prometheus_port: int = Field(9090, gt=0, lt=65536)

    # Local stack (make local-up); ports come from the endpoint settings above.
    local_stack_dir: Path = Path(".stack")
    local_kafka_brokers: BrokerCount = 1
    # The first KRaft controller port (node i listens on it + i - 1). Empty: the port after
    # the last broker's, so controllers never collide with brokers whichever the mode:
    # 9093 for one broker at 9092 (as always), 9095-9097 for three at 9092-9094; and a
    # stack moved by KAFKA_BOOTSTRAP_SERVERS alone moves its controllers along.
    kafka_controller_port: OptionalInt = Field(None, gt=0, lt=65536)

    # The local Spark standalone cluster (make spark-up): a master on 127.0.0.1 and
    # SPARK_WORKERS workers, for SPARK_MASTER=spark://127.0.0.1:SPARK_MASTER_PORT. Worker
    # n's web UI is on SPARK_WORKER_WEBUI_PORT + n - 1. Spark's own names, same meaning.
    spark_workers: int = Field(2, ge=1, le=16)
    spark_master_port: int = Field(7077, gt=0, lt=65536)
    spark_master_webui_port: int = Field(8080, gt=0, lt=65536)
    spark_worker_webui_port: int = Field(8081, gt=0, lt=65536 - 16)
    # What each worker offers executors: one core each keeps a 2-core machine usable
    # with the default two workers.
    spark_worker_cores: int = Field(1, ge=1, le=256)
    spark_worker_memory: str = Field("1g", pattern=r"^[1-9]\d*[mMgG]$")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _check_bootstrap(cls, value: str) -> str:
        servers = [s for s in value.split(",") if s.strip()]
        if not servers:
            raise ValueError("must list at least one host:port")
        for server in servers:
            parse_hostport(server)
        return ",".join(s.strip() for s in servers)

    @field_validator("dashboard_allowed_hosts")
    @classmethod
    def _check_allowed_hosts(cls, value: str) -> str:
        names: list[str] = []
        for entry in value.split(","):
            if entry.strip():
                name = allowed_host(entry)
                if name not in names:
                    names.append(name)
        if not names:
            raise ValueError("must list at least one host name, e.g. localhost,127.0.0.1")
        return ",".join(names)

    @field_validator("kafka_min_insync_replicas")
    @classmethod
    def _check_min_isr(cls, value: int | None, info: ValidationInfo) -> int | None:
        factor = info.data.get("kafka_replication_factor")
        if value is not None and factor is not None and value > factor:
            # acks=all could then never succeed: no write would ever reach enough replicas.
            raise ValueError(f"must not exceed KAFKA_REPLICATION_FACTOR ({factor})")
        return value

    @field_validator("kafka_controller_port")
    @classmethod
    def _resolve_controller_port(cls, value: int | None, info: ValidationInfo) -> int | None:
        servers = info.data.get("kafka_bootstrap_servers")
        brokers = info.data.get("local_kafka_brokers")
        if servers is None or brokers is None:
            return value  # already reported as invalid
        if value is None:
            value = parse_hostport(servers.split(",")[0]).port + brokers
        if value + brokers - 1 > 65535:
            raise ValueError(f"leaves no room for {brokers} controller port(s) below 65536")
        return value

    @field_validator("s3_endpoint_url")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "must be an http(s) URL such as http://localhost:9000, or empty for AWS"
            )
        return value.rstrip("/")

    @field_validator("s3_bucket")
    @classmethod
    def _check_bucket(cls, value: str) -> str:
        if not _BUCKET.match(value) or ".." in value:
            raise ValueError("must be a valid S3 bucket name (3-63 of a-z, 0-9, '.', '-')")
        return value

    @field_validator("warehouse_dsn", "query_dsn")
    @classmethod
    def _check_dsn(cls, value: SecretStr) -> SecretStr:
        check_tls(parse_dsn(value.get_secret_value()))
        return value

    @model_validator(mode="after")
    def _check_kafka_security(self) -> Settings:
        check_kafka_security(self)
        return self

    @field_validator("speed_retention")
    @classmethod
    def _check_retention(cls, value: int, info: ValidationInfo) -> int:
        # An event's hour stays in the speed view until the horizon passes it, which
        # can be up to ~1 h + ALLOWED_LATENESS behind the newest event time; valid events
        # may also be up to 1 h ahead. State must outlive both, or a late duplicate of a
        # tweet still in the speed view would be counted twice.
        lateness = info.data.get("allowed_lateness", 0)
        if value < 2 * 3600 + lateness:
            raise ValueError(
                "must be at least 2h + ALLOWED_LATENESS, the time a speed-view hour can "
                "still receive events"
            )
        return value

    @field_validator("redshift_iam_role")
    @classmethod
    def _check_role(cls, value: str | None) -> str | None:
        if value is not None and not _IAM_ROLE.match(value):
            raise ValueError("must be an IAM role ARN: arn:aws:iam::123456789012:role/name")
        return value

    # Derived values -----------------------------------------------------------------

    @property
    def views(self) -> tuple[View, ...]:
        """Every view definition: the shipped ones and ``VIEWS_DIR``'s (``ConfigError``
        naming the file for a bad one)."""
        return load_views(self.views_dir.resolve() if self.views_dir else None)

    @property
    def speed_query_checkpoint(self) -> str:
        """Where the streaming query's checkpoint lives: a folder of ``SPEED_CHECKPOINT``
        named after the views' definitions. A view added, changed or dropped makes a new
        folder, so the job starts a fresh checkpoint: it reads the topic from the start
        again and its first micro-batch rebuilds every speed table."""
        # With the query's layout: a checkpoint of another layout (one holding Spark's
        # de-duplication state, before the warehouse took it over) is never resumed.
        text = f"{views_fingerprint(self.views)}\n{SPEED_QUERY_LAYOUT}"
        fingerprint = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
        return f"{self.speed_checkpoint.rstrip('/')}/views-{fingerprint}"

    @property
    def dashboard_hosts(self) -> tuple[str, ...]:
        """DASHBOARD_ALLOWED_HOSTS as a tuple of lower-case names (IPv6 in brackets)."""
        return tuple(self.dashboard_allowed_hosts.split(","))

    @property
    def kafka_servers(self) -> list[HostPort]:
        """The bootstrap servers, parsed."""
        return [parse_hostport(s) for s in self.kafka_bootstrap_servers.split(",")]

    @property
    def kafka_controller_ports(self) -> list[int]:
        """The local stack's KRaft controller ports, one per node (KAFKA_CONTROLLER_PORT
        and the next ones; empty = right after the brokers' ports)."""
        first = self.kafka_controller_port
        if first is None:  # resolved by the validator; kept for the type checker
            first = self.kafka_servers[0].port + self.local_kafka_brokers
        return [first + i for i in range(self.local_kafka_brokers)]

    @property
    def warehouse(self) -> DsnParts:
        """The warehouse DSN, parsed, with WAREHOUSE_PASSWORD applied (holds the password:
        do not log)."""
        return verified(
            with_password(self.warehouse_dsn, self.warehouse_password), self.warehouse_dialect
        )

    @property
    def query(self) -> DsnParts:
        """The reader's DSN (QUERY_DSN), parsed, with QUERY_PASSWORD applied (holds the
        password: do not log)."""
        return verified(with_password(self.query_dsn, self.query_password), self.warehouse_dialect)

    @property
    def s3_endpoint(self) -> HostPort | None:
        """Host and port of a custom S3 endpoint, or None for AWS."""
        if self.s3_endpoint_url is None:
            return None
        parts = urlsplit(self.s3_endpoint_url)
        default = 443 if parts.scheme == "https" else 80
        return HostPort(parts.hostname or "", parts.port or default)

    def in_schema(self, schema: str, *, topic: str | None = None) -> Settings:
        """A copy whose warehouse sessions (the pipeline's and the reader's) use
        ``schema`` as their search path (and, if given, another topic): isolates one test
        or benchmark run inside one database."""
        option = "options=" + quote(f"-csearch_path={schema}")
        scoped = {
            name: SecretStr(dsn + ("&" if "?" in dsn else "?") + option)
            for name, dsn in (
                ("warehouse_dsn", self.warehouse_dsn.get_secret_value()),
                ("query_dsn", self.query_dsn.get_secret_value()),
            )
        }
        return self.model_copy(update={**scoped, "kafka_topic": topic or self.kafka_topic})

    def describe(self) -> Iterator[tuple[str, str]]:
        """``(ENV_NAME, display value)`` for every setting, secrets masked."""
        for name in type(self).model_fields:
            value: Any = getattr(self, name)
            if name in _DSN_FIELDS:
                shown = mask_dsn(value.get_secret_value())
            elif isinstance(value, SecretStr):
                shown = "****"
            elif value is None:
                shown = ""
            else:
                shown = str(value)
            yield name.upper(), shown


_SECRET_FIELDS = frozenset(
    {
        "aws_secret_access_key",
        "aws_session_token",
        "warehouse_dsn",
        "warehouse_password",
        "query_dsn",
        "query_password",
        "x_bearer_token",
        "kafka_sasl_password",
    }
)


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from the environment (and ``.env``), or fail naming the setting.

    Raises ``ConfigError`` with one line per bad setting, e.g.
    ``invalid setting WAREHOUSE_DIALECT: Input should be 'postgres' or 'redshift' (got 'mysql')``.
    Values of secret settings are never echoed.
    """
    try:
        return Settings(**overrides)
    except ValidationError as e:
        lines = []
        for err in e.errors(include_url=False):
            field = str(err["loc"][0]) if err["loc"] else "?"
            message = str(err["msg"]).removeprefix("Value error, ")
            if not err["loc"] and ": " in message:
                # A rule across settings names them first: "KAFKA_SASL_MECHANISM: ...".
                field, message = message.split(": ", 1)
                lines.append(f"invalid setting {field}: {message}")
                continue
            got = ""
            if (
                field not in _SECRET_FIELDS
                and "input" in err
                and not isinstance(err["input"], dict)
            ):
                got = f" (got {str(err['input'])[:80]!r})"
            lines.append(f"invalid setting {field.upper()}: {message}{got}")
        # ``from None`` on purpose: pydantic's error text carries the raw inputs, and the
        # DSN input holds the warehouse password.
        raise ConfigError("; ".join(lines)) from None
