"""DuckDB, set up to read the master dataset in S3: the httpfs extension loaded from its
Python package (never downloaded), the pipeline's S3 credentials as a DuckDB secret, and
DuckDB's errors mapped to the project's.

The extension file comes with ``duckdb-extension-httpfs``, pinned to the same version as
``duckdb``; automatic installing and loading of extensions is switched off, so a
connection never reaches the network for anything but the bucket.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import duckdb

from lambda_common.errors import ConfigError, QueryError, ServiceUnavailable
from lambda_common.objectstore import resolve_credentials
from lambda_common.render import QueryResult
from lambda_common.settings import Settings
from lambda_common.terminal import escape
from lambda_common.warehouse import one_line

logger = logging.getLogger(__name__)

HTTPFS_PACKAGE = "duckdb_extension_httpfs"
# DuckDB's own errors for a failed read of a remote file (S3 refused, unreachable, a
# missing object): the store is unavailable, not the query wrong.
_IO_ERRORS = (duckdb.IOException, duckdb.HTTPException)


@cache
def load_lake_sql(name: str) -> str:
    """The text of ``batch_layer/lake/sql/<name>.sql`` (DuckDB's dialect)."""
    path = resources.files("batch_layer.lake") / "sql" / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"no lake SQL file {name!r}")
    return path.read_text(encoding="utf-8")


def httpfs_path() -> Path:
    """The httpfs extension file for the DuckDB in use, as its package installed it."""
    version = duckdb.__version__
    hint = f"pip install duckdb-extension-httpfs=={version} (make venv installs it)"
    try:
        root = resources.files(HTTPFS_PACKAGE)
    except ModuleNotFoundError as e:
        raise ConfigError(f"DuckDB's S3 reader (httpfs) is not installed: {hint}") from e
    path = Path(str(root / "extensions" / f"v{version}" / "httpfs.duckdb_extension"))
    if not path.is_file():
        raise ConfigError(f"no httpfs extension for DuckDB {version} in {HTTPFS_PACKAGE}: {hint}")
    return path


def literal(text: str) -> str:
    """A SQL string literal, for what DuckDB takes no bound parameter for (LOAD's path,
    a table function's file list)."""
    return "'" + text.replace("'", "''") + "'"


def secret_params(settings: Settings) -> dict[str, Any]:
    """The values ``s3_secret.sql`` binds: the bucket as the scope, the keys the rest of
    the pipeline signs with, and AWS or the S3-compatible server of ``S3_ENDPOINT_URL``."""
    keys = resolve_credentials(settings)
    params: dict[str, Any] = {
        "scope": f"s3://{settings.s3_bucket}",
        "key_id": keys.access_key_id if keys else "",
        "secret": keys.secret_access_key if keys else "",
        "session_token": (keys.session_token or "") if keys else "",
        "region": settings.aws_region,
        "endpoint": f"s3.{settings.aws_region}.amazonaws.com",
        "url_style": "vhost",
        "use_ssl": True,
    }
    endpoint = settings.s3_endpoint
    if endpoint is not None and settings.s3_endpoint_url is not None:
        host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
        params.update(
            endpoint=f"{host}:{endpoint.port}",
            url_style="path",  # as the boto3 client: every S3-compatible server takes it
            use_ssl=urlsplit(settings.s3_endpoint_url).scheme == "https",
        )
    return params


def connect(settings: Settings) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that reads ``s3://<S3_BUCKET>/`` with the pipeline's keys."""
    config: dict[str, str | bool | int | float | list[str]] = {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    con = duckdb.connect(":memory:", config=config)
    try:
        con.execute(load_lake_sql("load_httpfs").format(path=literal(str(httpfs_path()))))
        con.execute(load_lake_sql("s3_secret"), secret_params(settings))
    except duckdb.Error as e:
        con.close()
        raise ConfigError(f"DuckDB could not be set up to read S3: {describe(e)}") from e
    except BaseException:
        con.close()
        raise
    return con


@contextmanager
def lake_connection(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """:func:`connect`, closed afterwards."""
    con = connect(settings)
    try:
        yield con
    finally:
        con.close()


def describe(error: BaseException) -> str:
    """A DuckDB error as one line (control characters escaped)."""
    return escape(one_line(error))


def fetch(
    con: duckdb.DuckDBPyConnection,
    statement: str,
    params: Mapping[str, Any] | None = None,
    *,
    where: str = "S3",
) -> QueryResult:
    """Run one statement and return its rows. A failed read of S3 is
    ``ServiceUnavailable``; any other DuckDB error ``QueryError``; both one line."""
    try:
        cursor = con.execute(statement, dict(params) if params else None)
        columns = tuple(str(c[0]) for c in cursor.description or ())
        rows = cursor.fetchall() if cursor.description else []
    except _IO_ERRORS as e:
        raise ServiceUnavailable(
            f"reading the master dataset at {where} failed: {describe(e)}"
        ) from e
    except duckdb.Error as e:
        raise QueryError(f"query failed: {describe(e)}") from e
    return QueryResult(columns, rows)
