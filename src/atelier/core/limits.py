"""Process-wide bounds on what untrusted input can make the server do.

- JSON nesting: CPython's JSON decoder recurses in C once per nesting level. Under the
  interpreter's default recursion limit that ends in a RecursionError (a 500); under a limit
  some library raised (py-evm sets 12,288, py_ecc 100,000) a body of 100,000 brackets
  overflows the C stack and kills the process. Every body is measured before anything parses
  it (`json_nesting_depth`, linear time, no recursion) and refused past `MAX_JSON_DEPTH`.
- The recursion limit: imported libraries may not raise it for the whole process.
  `pin_recursion_limit` puts back the limit the interpreter started with; the composition root
  calls it after importing and opening what raises it.
"""

from __future__ import annotations

import re
import sys

import numpy as np

MAX_JSON_DEPTH = 32
# CPython's default: deep enough for everything we run, shallow enough that a C-level
# recursion (the JSON decoder, pickle, repr of nested data) raises before the stack ends.
BASELINE_RECURSION_LIMIT = 1000

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_nesting_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in `data` (strings ignored), for any bytes:
    malformed JSON gets a number too, and the parser then says what is wrong with it."""
    brackets = _JSON_STRING.sub(b'""', data).translate(None, delete=_BRACKETS)
    if not brackets:
        return 0
    codes = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1).astype(np.int64)
    return int(max(0, np.cumsum(steps).max()))


def pin_recursion_limit() -> None:
    """Undo what imported libraries did to the recursion limit (see the module docstring)."""
    if sys.getrecursionlimit() != BASELINE_RECURSION_LIMIT:
        sys.setrecursionlimit(BASELINE_RECURSION_LIMIT)
