"""Logging set-up shared by every command-line entry point.

Two guards keep secrets out of the logs, whatever ``LOG_LEVEL`` says: the vendor loggers
that write request details at DEBUG (tweepy and the HTTP libraries under it log request
headers, ``Authorization: Bearer …`` included) stay at WARNING or above, and every record
the handler writes has the configured secret values and any bearer token masked.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_NOISY = (
    "kafka",
    "botocore",
    "boto3",
    "urllib3",
    "s3transfer",
    "py4j",
    "tweepy",
    "requests",
    "requests_oauthlib",
    "oauthlib",
)
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/%=]+")
MASK = "***"


class RedactingFilter(logging.Filter):
    """Masks the given secret values, and any ``Bearer <token>``, in a record's text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # Longest first, so a password inside a DSN that is itself secret is masked whole.
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """``text`` with every secret masked."""
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return _BEARER.sub(rf"\g<1>{MASK}", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def secret_values(settings: BaseModel) -> list[str]:
    """Every secret of a settings object: each ``SecretStr`` value, and the password in
    any of them that is a URL (a DSN), so either is masked where it appears alone."""
    found: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name, None)
        if isinstance(value, SecretStr) and value.get_secret_value():
            text = value.get_secret_value()
            found.append(text)
            try:
                password = urlsplit(text).password
            except ValueError:
                password = None
            if password:
                found.append(password)
    return found


def configure_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    """Log to stderr with timestamps; quiet the chatty vendor loggers; mask ``secrets``."""
    logging.basicConfig(level=level, format=_FORMAT)
    redacting = RedactingFilter(secrets)
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(old)
        handler.addFilter(redacting)
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
