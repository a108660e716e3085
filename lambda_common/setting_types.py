"""The kinds of value a setting takes, each parsed and checked once: durations (``300``,
``45s``, ``5m``), ``host:port``, host-name allow-lists, optional values an empty
variable leaves unset, paths that must be there, and the local Kafka's node count."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, SecretStr

_DURATION = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s?)?$")


def parse_duration(value: object) -> int:
    """Parse ``300``, ``"300"``, ``"45s"``, ``"5m"``, ``"1h"`` or ``"1h30m"`` into seconds."""
    if isinstance(value, bool):
        raise ValueError("must be a duration such as 300, 45s, 5m or 1h")
    if isinstance(value, int):
        seconds = value
    else:
        text = str(value).strip().lower()
        match = _DURATION.match(text)
        if not text or match is None:
            raise ValueError("must be a duration such as 300, 45s, 5m or 1h")
        seconds = int(match["h"] or 0) * 3600 + int(match["m"] or 0) * 60 + int(match["s"] or 0)
    if seconds < 0:
        raise ValueError("must not be negative")
    return seconds


_FINE_DURATION = re.compile(r"^(?:(?P<ms>\d+)ms|(?P<s>\d+(?:\.\d{1,3})?)s?)$")


def parse_fine_duration(value: object) -> float:
    """Parse a duration that may be shorter than a second into seconds: ``1``, ``"1s"``,
    ``"0.5s"``, ``"500ms"`` (milliseconds at most three decimals), or any form of
    :func:`parse_duration` (``"5m"``)."""
    if isinstance(value, bool):
        raise ValueError("must be a duration such as 1s, 0.5s, 500ms or 5m")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        match = _FINE_DURATION.match(text)
        if match is None:
            return float(parse_duration(value))
        seconds = int(match["ms"]) / 1000 if match["ms"] else float(match["s"])
    if seconds < 0:
        raise ValueError("must not be negative")
    return seconds


def _empty_to_none(value: object) -> object:
    # An empty variable (``S3_ENDPOINT_URL=``) means "unset", e.g. "use real AWS".
    if isinstance(value, str) and not value.strip():
        return None
    return value


Duration = Annotated[int, BeforeValidator(parse_duration)]
FineDuration = Annotated[float, BeforeValidator(parse_fine_duration)]
MAX_SPAN_S = 7 * 24 * 3600
"""The longest interval, lateness or retention a setting may have (7 days): longer values
are typos, and would overflow date arithmetic."""
OptionalStr = Annotated[str | None, BeforeValidator(_empty_to_none)]
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(_empty_to_none)]
OptionalInt = Annotated[int | None, BeforeValidator(_empty_to_none)]


def must_be(test: Callable[[Path], bool], what: str) -> AfterValidator:
    """The check of an optional path setting: when set, ``test`` holds for it (e.g.
    ``Path.is_file``), else ``ValueError("must be <what>")``."""

    def check(value: Path | None) -> Path | None:
        if value is not None and not test(value):
            raise ValueError(f"must be {what}")
        return value

    return AfterValidator(check)


def _int_text(value: object) -> object:
    # pydantic matches a Literal of ints strictly: "3" from the environment is not 3.
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value


BrokerCount = Annotated[Literal[1, 3], BeforeValidator(_int_text)]

_HOSTPORT = re.compile(r"^(?P<host>\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]+):(?P<port>\d{1,5})$")


@dataclass(frozen=True)
class HostPort:
    """A host and TCP port parsed out of a setting."""

    host: str
    port: int


def parse_hostport(text: str) -> HostPort:
    """Parse ``host:port`` (IPv6 hosts in brackets); raise ``ValueError`` otherwise."""
    match = _HOSTPORT.match(text.strip())
    if match is None or not 0 < int(match["port"]) < 65536:
        raise ValueError(f"expected host:port, got {text.strip()[:80]!r}")
    return HostPort(match["host"].strip("[]"), int(match["port"]))


_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$"
)

_WITH_PORT = re.compile(r"^(?:\[[^\]]*\]|[^:\[\]]*):\d+$")


def allowed_host(entry: str) -> str:
    """One entry of an allow-list of Host names, normalised: lower case, an IPv6 address
    in brackets (as it appears in a Host header), ``*.example.com`` for every subdomain.
    ``ValueError`` for a port, a URL, a bare ``*`` or anything that is no host name."""
    text = entry.strip().lower()
    shown = repr(entry.strip()[:80])
    if text == "*":
        # The check exists to refuse names it does not know; admitting any would undo it.
        raise ValueError("must list host names: * would admit a page of any site")
    if "/" in text:
        raise ValueError(f"{shown}: give host names, not URLs")
    if _WITH_PORT.match(text):
        raise ValueError(
            f"{shown}: give host names without a port (a Host header's port is not checked)"
        )
    address = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    if ":" in address:
        try:
            return f"[{ipaddress.IPv6Address(address).compressed}]"
        except ValueError:
            raise ValueError(f"{shown} is not an IPv6 address") from None
    name = text.removeprefix("*.")
    if not _HOST_NAME.match(name):
        raise ValueError(
            f"{shown} is not a host name, an IP address or *.domain (comma-separated names)"
        )
    return text
