"""Finding: the X bearer token reached the logs at LOG_LEVEL=DEBUG (tweepy logs its
request headers). Vendor loggers stay at WARNING, and whatever is written has every
secret of the settings and any bearer token masked."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from lambda_common.logs import MASK, RedactingFilter, configure_logging, secret_values
from lambda_common.settings import load_settings

pytestmark = pytest.mark.unit

TOKEN = "AAAAfake" + "0123456789abcdef" * 4  # the shape of an X token, not one


@pytest.fixture
def root() -> Iterator[logging.Logger]:
    """The root logger, its handlers and levels restored afterwards."""
    logger = logging.getLogger()
    handlers, level = list(logger.handlers), logger.level
    noisy = {n: logging.getLogger(n).level for n in ("tweepy", "requests_oauthlib")}
    yield logger
    for h in list(logger.handlers):
        for f in [f for f in h.filters if isinstance(f, RedactingFilter)]:
            h.removeFilter(f)
        if h not in handlers:
            logger.removeHandler(h)
    logger.setLevel(level)
    for name, old in noisy.items():
        logging.getLogger(name).setLevel(old)


def test_tweepy_debug_lines_are_not_written_even_at_debug(
    root: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    configure_logging("DEBUG", [TOKEN])
    logging.getLogger("tweepy.client").debug("Making API request: GET with headers %s", TOKEN)
    logging.getLogger("lambda_common.test").debug("our own debug line")
    err = caplog.text
    assert "our own debug line" in err
    assert "Making API request" not in err
    assert TOKEN not in err


def test_every_written_line_has_the_secrets_and_bearer_tokens_masked(
    root: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    """The filter sits on every handler of the root logger (here pytest's own)."""
    caplog.set_level(logging.DEBUG)
    configure_logging("DEBUG", [TOKEN, "s3cr3t-pass"])
    log = logging.getLogger("lambda_common.test")
    log.warning("headers: {'Authorization': 'Bearer %s'}", TOKEN)
    log.warning("Authorization: bearer abc.def-ghi")
    log.error("could not connect with password s3cr3t-pass")
    try:
        raise RuntimeError(f"token {TOKEN} refused")
    except RuntimeError:
        log.exception("failed")
    err = caplog.text
    assert TOKEN not in err
    assert "abc.def-ghi" not in err
    assert "s3cr3t-pass" not in err
    assert err.count(MASK) >= 4


def test_the_settings_secrets_include_a_dsns_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_BEARER_TOKEN", TOKEN)
    monkeypatch.setenv("WAREHOUSE_DSN", "postgresql://writer:pa55-word@db.example:5439/lambda")
    found = secret_values(load_settings())
    assert TOKEN in found
    assert "pa55-word" in found


def test_short_values_are_not_masked_everywhere() -> None:
    """A one-letter 'secret' would mask every such letter: only values of four or more."""
    assert RedactingFilter(["a"]).redact("a cat") == "a cat"
