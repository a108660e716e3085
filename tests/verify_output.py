"""``make verify``'s printout, read back by the tests that run it as users do (the demo,
the Compose stack)."""

from __future__ import annotations

from lambda_common.settings import Settings


def assert_verified(stdout: str, settings: Settings) -> None:
    """``stdout`` says OK for the load ledger and each of ``settings``' views, in order,
    then closes with ``verify: OK`` (``note:`` lines aside: objects a running cycle
    landed, not compared)."""
    checks = [line for line in stdout.splitlines() if line.strip() and not line.startswith("note:")]
    names = ["load_ledger", *(v.name for v in settings.views)]
    assert [line.split()[0] for line in checks] == ["OK"] * len(names) + ["verify:"], stdout
    assert [line.split()[1].rstrip(":") for line in checks[:-1]] == names, stdout
    assert checks[-1].startswith("verify: OK, "), stdout
