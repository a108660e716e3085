"""``kcat -P`` as the benchmarks run it: with our producers' guarantees (acks=all, the
idempotent producer, lz4), keys split from values by a tab."""

from __future__ import annotations


def kcat_producer(kcat: str, bootstrap: str, topic: str, *, linger_ms: int) -> list[str]:
    """The argv of ``kcat -P`` writing to ``topic``; the caller adds its input (``-l FILE``)
    or feeds its standard input."""
    return [
        kcat,
        "-P",
        "-b",
        bootstrap,
        "-t",
        topic,
        "-K",
        "\t",
        "-z",
        "lz4",
        "-X",
        "enable.idempotence=true",
        "-X",
        "acks=all",
        "-X",
        f"linger.ms={linger_ms}",
    ]
