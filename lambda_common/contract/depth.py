"""How deep a message nests JSON arrays and objects, judged on its bytes before any decoder
runs, so both parse paths (:mod:`.parse`, :mod:`.fast`) refuse alike."""

from __future__ import annotations

import re
from itertools import accumulate

MAX_NESTING = 64
"""The deepest a message may nest JSON arrays and objects (the event object itself is
level 1). Checked on the bytes before either decoder runs: msgspec's and json's own
limits follow whatever Python stack the caller left them (one accepted 992 levels, the
other 989, both less when called deeper), so the batch and the speed layer could judge
one crafted message differently. Far above any real event (hashtags: level 2)."""

TOO_DEEP = f"value is not valid JSON: nested too deeply (more than {MAX_NESTING} levels)"

# For the depth scan: a JSON string (an unterminated one runs to the end, as a decoder
# would read it), every byte but the four brackets, and each bracket's step.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*+"?', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_DEPTH_STEP = tuple(1 if b in b"[{" else -1 if b in b"]}" else 0 for b in range(256))


def too_deep(raw: bytes) -> bool:
    """Whether ``raw`` nests arrays and objects deeper than :data:`MAX_NESTING` (brackets
    inside strings do not count). In C but for a sum over the brackets alone, and only
    when there are more opening brackets than the limit: two counts for a real event."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_NESTING:
        return False
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0) > MAX_NESTING
