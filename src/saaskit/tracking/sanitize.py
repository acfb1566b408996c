"""Making hostile JSON storable without losing the event, as PostHog's capture does.

PostgreSQL refuses three things a JSON client can send: the NUL character (``\\u0000``) in
``text`` and ``jsonb``, lone UTF-16 surrogates (``"\\ud800"``, which orjson refuses too), and
orjson cannot write integers outside 64 bits or containers nested deeper than 254 levels. Each
is repaired rather than refused:

- NUL and lone surrogates, in any string (keys included, at any depth), become U+FFFD, the
  Unicode replacement character (PostHog's capture and ingestion do the same);
- an integer outside the 64-bit range is kept as a JSON number rounded to double precision (what
  orjson, serde_json and every JavaScript client read it as); a number beyond the double range
  (``1e400``, an integer of 400 digits) is kept as a string of the digits sent;
- a container nested deeper than ``MAX_DEPTH`` levels (counted from the outermost JSON value
  written, i.e. the list of rows) is replaced by the string ``TOO_DEEP``.

None of this costs the common path anything: the checks run only when a cheap test says they
are needed (a backslash followed by ``u0000`` in the raw bytes, or orjson refusing a payload or
a row).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

REPLACEMENT = "\ufffd"
MAX_DEPTH = 254  # orjson refuses to write a 255th nested container
TOO_DEEP = "[nested too deep]"
INT_MIN, UINT_MAX = -(2**63), 2**64 - 1  # what orjson writes as integers
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_NUL_ESCAPE = "\\u0000"


def clean_text(value: str) -> str:
    """``value`` with NUL and lone surrogates replaced by U+FFFD."""
    return _UNSTORABLE.sub(REPLACEMENT, value) if _UNSTORABLE.search(value) else value


def may_hold_nul(raw: bytes) -> bool:
    """Whether JSON text may hold a NUL character. JSON forbids raw control characters in
    strings, so a NUL can only come as the ``\\u0000`` escape; the one-byte test first keeps the
    common case (no backslash at all) to a memchr."""
    return b"\\" in raw and b"\\u0000" in raw


def clean_strings(document: Any) -> Any:
    """Replace NUL and lone surrogates in every string of a parsed JSON document, keys
    included, in place (iteratively: a document may nest 1,000 levels). Returns the document
    (a new string when the document itself is one)."""
    if isinstance(document, str):
        return clean_text(document)
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in list(node.items()):
                if isinstance(value, str):
                    value = clean_text(value)
                    node[key] = value
                elif isinstance(value, dict | list):
                    stack.append(value)
                if isinstance(key, str) and _UNSTORABLE.search(key):
                    del node[key]
                    node[clean_text(key)] = value
        elif isinstance(node, list):
            for index, value in enumerate(node):
                if isinstance(value, str):
                    node[index] = clean_text(value)
                elif isinstance(value, dict | list):
                    stack.append(value)
    return document


def _number(value: int) -> int | float | str:
    if INT_MIN <= value <= UINT_MAX:
        return value
    try:
        return float(value)
    except OverflowError:
        return str(value)


def _int(text: str) -> int | float | str:
    try:
        return _number(int(text))
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
        return text


def _float(text: str) -> float | str:
    value = float(text)
    return value if math.isfinite(value) else text


def _constant(text: str) -> Any:
    raise ValueError(f"{text} is not valid JSON")


def loads_leniently(payload: bytes) -> Any:
    """Parse JSON that orjson refused for a lone surrogate or a number beyond the double range
    (the standard library accepts both), then make it storable. Anything else that is not JSON
    (NaN, invalid UTF-8, nesting past Python's recursion limit) still raises ``ValueError``."""
    try:
        document = json.loads(
            payload.decode("utf-8"), parse_int=_int, parse_float=_float, parse_constant=_constant
        )
    except RecursionError as exc:
        raise ValueError("the JSON is nested too deeply") from exc
    return clean_strings(document)


def storable(value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` that orjson can write and PostgreSQL can store (see the module
    docstring); ``depth`` is the number of containers around it."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            return TOO_DEEP
        return {
            (clean_text(k) if isinstance(k, str) else k): storable(v, depth + 1) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        if depth >= MAX_DEPTH:
            return TOO_DEEP
        return [storable(v, depth + 1) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return _number(value)
    return value


def dumps(value: Any, default: Any = None) -> str:
    """orjson's JSON text of ``value``, repaired by ``storable`` when orjson refuses it or when
    it holds a NUL character (which PostgreSQL's ``jsonb`` refuses)."""
    try:
        text = orjson.dumps(value, default=default).decode()
    except orjson.JSONEncodeError:
        return orjson.dumps(storable(value), default=default).decode()
    if "\\" in text and _NUL_ESCAPE in text:
        return orjson.dumps(storable(value), default=default).decode()
    return text
