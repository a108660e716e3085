"""Shared package of the Lambda Architecture pipeline.

Everything more than one layer needs lives here, so layers depend on this package and
never on each other: settings, the event contract, and the adapters for Kafka, S3 and
the warehouse.
"""

from lambda_common.errors import ConfigError, LambdaError, ServiceUnavailable, StackError

__all__ = ["ConfigError", "LambdaError", "ServiceUnavailable", "StackError"]
