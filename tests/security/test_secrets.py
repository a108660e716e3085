"""No secret of any form is ever shown (issue 14): not by ``make env``, ``make status``,
``make query``, a batch cycle's log or error line, nor on a command line.

Each command runs as users run it (its own process, against the real services), with the
warehouse password given in each form a DSN can carry it: in the URL's user part (with
characters libpq's URL parser trips on), as a ``password=`` or ``sslpassword=`` query
parameter, and apart (``WAREHOUSE_PASSWORD``); against a reachable warehouse and an
unreachable one. Before the fix, ``make env`` and ``make status`` printed the query-string
forms verbatim, and a ``%`` in the password made libpq echo the whole DSN.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from lambda_common.settings import Settings
from tests.integration.helpers import REPO, Lane

COMMANDS = [
    ("lambda_common", "env"),
    ("serving_layer", "status"),
    ("serving_layer", "query", "--format", "json"),
    ("batch_layer", "once"),
]


def _forms(settings: Settings, secret: str) -> dict[str, dict[str, str]]:
    """WAREHOUSE_DSN/QUERY_DSN (and their *_PASSWORD) spellings carrying ``secret``; some
    reach the warehouse as the lane's pipeline user, the others a port nobody listens on."""
    w = settings.warehouse
    base = f"{w.host}:{w.port}/{w.dbname}"
    scope = "options=" + quote(dict(w.params)["options"], safe="")
    forms = {
        "userinfo, unreachable": (f"postgresql://{w.user}:{secret}@{w.host}:1/x", None),
        "percent in userinfo, unreachable": (
            f"postgresql://{w.user}:{secret}%25zz@{w.host}:1/x",
            None,
        ),
        "password parameter, unreachable": (
            f"postgresql://{w.user}@{w.host}:1/x?password={secret}",
            None,
        ),
        "sslpassword parameter, reachable": (
            f"postgresql://{w.user}:{w.password}@{base}?{scope}&sslmode=disable"
            f"&sslpassword={secret}",
            None,
        ),
        "password apart, wrong": (f"postgresql://{w.user}@{base}?{scope}", secret),
        "redshift scheme": (f"redshift://{w.user}:{secret}@{base}", None),
    }
    out = {}
    for form, (dsn, password) in forms.items():
        variables = {"WAREHOUSE_DSN": dsn, "QUERY_DSN": dsn}
        if password is not None:
            variables |= {"WAREHOUSE_PASSWORD": password, "QUERY_PASSWORD": password}
        out[form] = variables
    return out


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_no_command_ever_shows_a_warehouse_secret(lane: Lane, command: tuple[str, ...]) -> None:
    secret = "Sekret" + secrets.token_hex(6)
    for form, variables in _forms(lane.settings, secret).items():
        env = {**os.environ, **lane.env(), "LOG_LEVEL": "DEBUG"}
        for name in ("WAREHOUSE_PASSWORD", "QUERY_PASSWORD"):
            env.pop(name, None)
        env |= variables
        process = subprocess.Popen(
            [sys.executable, "-m", *command],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # The command line others see in ps: never the secret.
        argv = Path(f"/proc/{process.pid}/cmdline").read_bytes().decode(errors="replace")
        out, err = process.communicate(timeout=180)
        assert secret not in argv, form
        assert secret not in out + err, f"{' '.join(command)} with {form}: {(out + err)[-800:]}"
        if process.returncode:
            # A failure is one clear line, not a traceback.
            assert "Traceback" not in err, f"{form}: {err[-800:]}"
            assert "error:" in err or "FAIL" in out, f"{form}: {(out + err)[-800:]}"
