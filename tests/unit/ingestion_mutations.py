"""Random damage to valid X objects and replay lines, for the producers' fuzz tests
(``tests/unit/test_ingestion_bad_input.py`` and ``tests/security/test_producer_bad_input.py``).

A mutation picks a random place in the JSON tree and drops it, replaces it with junk
(null, booleans, numbers out of every range, odd strings, arrays, objects), wraps it in
an array, swaps its JSON type, buries it under deep nesting, or adds an unknown key.
Whole lines are also damaged byte by byte. Everything is driven by a ``random.Random``
with a fixed seed, so a failure replays exactly.
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingestion.synthetic import SyntheticOptions, SyntheticTweets

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "x"

JSONPath = tuple[str | int, ...]

# Stand-ins replaced in the serialised line by text json.dumps cannot write: an integer
# past int()'s 4300-digit limit, and nesting past the decoder's recursion limit.
HUGE_INT = "\x00huge-int\x00"
TOO_DEEP = "\x00too-deep\x00"
_RAW = {
    json.dumps(HUGE_INT): "9" * 5000,
    json.dumps(TOO_DEEP): "[" * 50_000 + "]" * 50_000,
}

JUNK: tuple[object, ...] = (
    None,
    True,
    False,
    0,
    -1,
    1.5,
    -0.0,
    1e308,
    2**63,
    2**64 + 1,
    -(10**25),
    10**40,
    "",
    " ",
    "x",
    "12",
    "-1",
    "1859540000000000001" * 3,
    "2026-11-21T10:15:30Z",
    "\n\r\t",
    "line\nforged: ERROR",
    "\ud800",
    "\x00",
    "東京 👋",
    "x" * 3000,
    [],
    [None],
    [1, "a", None],
    [{}],
    [[["deep"]]],
    {},
    {"id": 1},
    {"users": [{"id": None}]},
    {"followers_count": "5"},
    HUGE_INT,
    TOO_DEEP,
)


@dataclass(frozen=True)
class Mutation:
    """What was done where: ``op`` at ``path``, with ``value`` the new value (if any)."""

    op: str
    path: JSONPath
    value: object = None


def x_seeds() -> list[dict[str, Any]]:
    """Valid X objects of every accepted form, each mapping to at least one event."""
    stream = json.loads((FIXTURES / "stream_tweet.json").read_text())
    search = json.loads((FIXTURES / "search_response.json").read_text())
    # An expanded user who is not an author (a mention): never read beyond its id.
    with_mention = copy.deepcopy(stream)
    with_mention["includes"]["users"].append({"id": "77", "username": "mentioned"})
    bare = {
        "id": "1859545555555555555",
        "author_id": "31",
        "created_at": "2026-11-21T09:00:00+02:00",
        "text": "exported #one",
        "lang": "de",
        "public_metrics": {"like_count": 3, "retweet_count": 1},
        "entities": {"hashtags": [{"tag": "one"}]},
        "author": {"username": "b", "location": "Köln", "public_metrics": {"followers_count": 8}},
    }
    return [stream, search, with_mention, bare]


def contract_seeds() -> list[dict[str, Any]]:
    """Valid contract events as replay lines hold them."""
    window = {
        "start": datetime(2026, 11, 20, tzinfo=UTC),
        "end": datetime(2026, 11, 21, tzinfo=UTC),
    }
    return [e.to_dict() for e in SyntheticTweets(SyntheticOptions(seed=5, count=3, **window))]


def places(value: object, path: JSONPath = ()) -> list[JSONPath]:
    """Every path in a JSON tree, the root included."""
    out = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            out.extend(places(child, (*path, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out.extend(places(child, (*path, index)))
    return out


def _swapped(rng: random.Random, value: object) -> object:
    """The same content in another JSON type: what an exporter with the wrong schema writes."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return rng.choice([str(value), [value], float(value) + 0.5, value > 0])
    if isinstance(value, str):
        return int(value) if value.isascii() and value.isdigit() else [value]
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if isinstance(value, dict):
        return list(value.values())
    return rng.choice([0, "", [], {}])  # null


def _deep(rng: random.Random, value: object) -> object:
    # Deep, but well inside the recursion limit of the test's own walks (places, json);
    # nesting past every limit comes from TOO_DEEP.
    for _ in range(rng.randrange(2, 100)):
        value = [value] if rng.random() < 0.5 else {"data": value}
    return value


def mutate(rng: random.Random, obj: object, count: int) -> tuple[object, list[Mutation]]:
    """A damaged deep copy of ``obj`` (``count`` mutations), and what was done."""
    root: list[object] = [copy.deepcopy(obj)]  # a holder, so the root can be replaced
    done = []
    for _ in range(count):
        path = rng.choice(places(root[0]))
        parent: Any = root
        for key in (0, *path[:-1]) if path else ():
            parent = parent[key]
        key = path[-1] if path else 0
        current = parent[key]
        op = rng.choice(["drop", "junk", "junk", "wrap", "swap", "deep", "add"])
        if op == "drop" and path:
            del parent[key]
            done.append(Mutation("drop", path))
            continue
        if op == "add" and isinstance(current, dict):
            current[f"zz_{rng.randrange(100)}"] = copy.deepcopy(rng.choice(JUNK))
            done.append(Mutation("add", path))
            continue
        if op == "wrap":
            new = [current]
        elif op == "swap":
            new = _swapped(rng, current)
        elif op == "deep":
            new = _deep(rng, current)
        else:
            op = "junk"
            new = copy.deepcopy(rng.choice(JUNK))
        parent[key] = new
        done.append(Mutation(op, path, new))
    return root[0], done


def serialise(obj: object) -> bytes:
    """One replay line (no newline) for ``obj``, with the raw stand-ins written out."""
    text = json.dumps(obj)
    for stand_in, raw in _RAW.items():
        text = text.replace(stand_in, raw)
    return text.encode()


def damage_bytes(rng: random.Random, line: bytes) -> bytes:
    """``line`` cut, or with bytes deleted, inserted or overwritten (JSON-breaking noise)."""
    buf = bytearray(line)
    for _ in range(rng.randrange(1, 4)):
        pos = rng.randrange(len(buf) + 1)
        op = rng.randrange(4)
        if op == 0:
            del buf[pos:]
        elif op == 1 and buf:
            del buf[min(pos, len(buf) - 1)]
        elif op == 2:
            buf[pos:pos] = rng.choice([b"\xff", b"\xc3", b"\x00", b"{", b"]", b'"', b"NaN", b","])
        else:
            buf[pos:pos] = rng.choice([b"null", b"[]", b"{}", b"1e999", b'"\\ud800"', b"-"])
    return bytes(buf).replace(b"\n", b" ")  # still one line


def mutated_lines(rng: random.Random, n: int) -> list[bytes]:
    """``n`` replay lines made from valid X objects and contract events, all damaged."""
    seeds: list[object] = [*x_seeds(), *contract_seeds()]
    lines = []
    for _ in range(n):
        seed = rng.choice(seeds)
        if rng.random() < 0.15:
            lines.append(damage_bytes(rng, serialise(seed)))
        else:
            lines.append(serialise(mutate(rng, seed, rng.randrange(1, 4))[0]))
    return lines
