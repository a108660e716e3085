"""The few exceptions the project raises.

Vendor errors (kafka-python, botocore, psycopg2, pydantic) are mapped to these with
``raise ... from e`` at the adapter boundary, so callers handle three cases, not thirty,
and CLIs can print one clear line without a traceback.
"""

from __future__ import annotations


class LambdaError(Exception):
    """Base class of every error this project raises on purpose."""


class ConfigError(LambdaError):
    """A setting is missing or invalid. The message names the setting (never its secret value)."""


class ServiceUnavailable(LambdaError):
    """An external system (Kafka, S3, the warehouse) could not be reached or refused us."""


class TransientError(ServiceUnavailable):
    """The warehouse aborted a transaction that will likely succeed if run again whole: a
    serialization failure or deadlock (PostgreSQL 40001, 40P01) or Redshift's serializable
    isolation violation (error 1023). Nothing of the transaction was kept, and the
    connection is still usable: retry the whole transaction (``lambda_common.retry``)."""


class StackError(LambdaError):
    """The local stack could not be started, stopped or inspected."""


class SchemaError(LambdaError):
    """The warehouse's tables are not what this version needs and cannot be brought there
    automatically. The message says what the operator has to do."""


class QueryError(LambdaError):
    """A query against the warehouse was refused or failed (a write in a read-only query,
    a SQL error, a timeout, a bad parameter). The message is one line, never the DSN."""


class QueryUsageError(QueryError):
    """The command line asked for something that cannot run: an unknown query name, an
    unknown, missing or invalid parameter. The CLI exits with 2 for these."""


class BenchmarkError(LambdaError):
    """A benchmark (``make bench``) could not measure: a process it started failed, a
    tool it compares with is missing, or the job did not come up in time."""
