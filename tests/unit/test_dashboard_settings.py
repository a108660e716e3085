"""``DASHBOARD_ALLOWED_HOSTS``: the Host names the dashboard answers to, checked at start
with one line naming the setting."""

from __future__ import annotations

import pytest

from lambda_common.errors import ConfigError
from lambda_common.setting_types import allowed_host
from lambda_common.settings import load_settings


@pytest.mark.usefixtures("clean_env")  # the defaults, not a developer's .env
def test_the_default_is_the_loopback_names() -> None:
    settings = load_settings()
    assert settings.dashboard_hosts == ("localhost", "127.0.0.1", "[::1]")
    assert dict(settings.describe())["DASHBOARD_ALLOWED_HOSTS"] == "localhost,127.0.0.1,[::1]"


def test_names_are_normalised_as_a_host_header_carries_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DASHBOARD_ALLOWED_HOSTS", " Dash.Example.com, ::1 ,dash.example.com,,*.Lan")
    settings = load_settings()
    assert settings.dashboard_hosts == ("dash.example.com", "[::1]", "*.lan")
    assert settings.dashboard_allowed_hosts == "dash.example.com,[::1],*.lan"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("localhost", "localhost"),
        ("127.0.0.1", "127.0.0.1"),
        ("[0:0::1]", "[::1]"),
        ("2001:DB8::1", "[2001:db8::1]"),
        ("dashboard", "dashboard"),
        ("my_host.internal", "my_host.internal"),
        ("*.example.com", "*.example.com"),
    ],
)
def test_allowed_host(entry: str, expected: str) -> None:
    assert allowed_host(entry) == expected


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("", "must list at least one host name"),
        (" , ", "must list at least one host name"),
        ("*", "would admit a page of any site"),
        ("localhost:8050", "without a port"),
        ("localhost,[::1]:8050", "without a port"),
        ("http://dash.example.com", "not URLs"),
        ("dash example", "is not a host name"),
        ("*.", "is not a host name"),
        ("a..b", "is not a host name"),
        ("::zz", "is not an IPv6 address"),
        ("évil.example", "is not a host name"),
    ],
)
def test_a_bad_list_fails_at_start_naming_the_setting(value: str, why: str) -> None:
    with pytest.raises(ConfigError, match="invalid setting DASHBOARD_ALLOWED_HOSTS: ") as failed:
        load_settings(dashboard_allowed_hosts=value)
    assert why in str(failed.value)
