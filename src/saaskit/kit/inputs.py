"""Input that PostgreSQL or the JSON encoders cannot take, found before any endpoint runs.

Three things a client can send pass every schema yet cannot be stored or answered:

- the NUL character (``\\u0000`` in JSON, ``%00`` in a query string, a form or a path):
  PostgreSQL's ``text`` and ``jsonb`` refuse it;
- a lone UTF-16 surrogate (``"\\ud800"``, or its raw bytes, which Python's JSON decoder lets
  through): it is not Unicode text, so it cannot be encoded for the database either;
- JSON nested deeper than ``MAX_DEPTH`` levels: a value stored that deep no longer fits, once an
  answer wraps it (``{"items": [{"value": ...}]}``), within the encoders' limit (orjson and
  pydantic's serializer stop at about 254 levels);
- ``NaN``, ``Infinity`` and ``-Infinity``, which are not JSON but which Python's decoder reads as
  floats: stored, they make every later answer that holds them fail (JSON cannot write them).

The check runs once per request, at the edge (``kit/middleware.Edge``), on the query string, the
path and the body (JSON and form bodies: the ones the endpoints decode), rather than as a
constrained string type on every schema field: the free-form JSON fields (preferences,
settings, metadata) have no string fields to constrain, a query parameter declared as a plain
``str`` would slip through, and a new endpoint is covered without anyone remembering. What it
finds is answered like any validation error: 422 ``invalid`` naming the field (``name``,
``profile.name``, ``steps.0.name``, the query parameter), before the endpoint runs, so nothing
is written. The ingestion endpoints are the exception by design: they repair such text instead
(PostHog's rule, ``tracking/sanitize.py``), and ``app.py`` gives the edge their paths.

The common case costs a byte scan: a JSON body is decoded again only when it holds a ``\\u``
escape, a non-ASCII byte, ``NaN`` or ``Infinity``, or more than ``MAX_DEPTH`` brackets; a query
string or a form only when it holds ``%00``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

MAX_DEPTH = 128  # levels of arrays and objects in a JSON body, the outermost one included
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


@dataclass(frozen=True)
class Refusal:
    """Why a request's input cannot be taken, and which field holds it (None: no field)."""

    field: str | None
    message: str
    type: str

    def body(self) -> dict[str, Any]:
        """The usual 422 error body (``kit.errors``' shape, with ``details`` as validation
        errors have)."""
        message = f"{self.field}: {self.message}" if self.field else self.message
        return {
            "error": {
                "code": "invalid",
                "message": message,
                "field": self.field,
                "details": [{"field": self.field, "message": self.message, "type": self.type}],
            }
        }


def _text_refusal(value: str, field: str | None) -> Refusal | None:
    found = _UNSTORABLE.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return Refusal(field, "must not contain the NUL character (\\u0000)", "string_nul")
    return Refusal(
        field, "must be Unicode text: it holds a lone UTF-16 surrogate (such as \\ud800)", "string_surrogate"
    )


def _shown(name: str) -> str:
    return _UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", name)


def _pairs_refusal(encoded: bytes, where: str) -> Refusal | None:
    """NUL in ``name=value&...`` text (a query string, a form body), decoded as Starlette does."""
    if b"%00" not in encoded and b"\x00" not in encoded:
        return None
    for name, value in parse_qsl(encoded.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name:
            return Refusal(_shown(name), f"the {where} parameter's name must not contain %00", "string_nul")
        refusal = _text_refusal(value, name)
        if refusal is not None:
            return refusal
    return None


def query_refusal(query_string: bytes) -> Refusal | None:
    return _pairs_refusal(query_string, "query")


def path_refusal(path: str) -> Refusal | None:
    if "\x00" in path:
        return Refusal(None, "the path must not contain the NUL character (%00)", "string_nul")
    return None


def body_kind(content_type: bytes) -> str | None:
    """``"json"`` or ``"form"`` when FastAPI would decode a body of this type (JSON: the media
    type ``application/json`` or ``application/*+json``), else None (not looked at)."""
    media = content_type.split(b";", 1)[0].strip().lower()
    if media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json")):
        return "json"
    if media == b"application/x-www-form-urlencoded":
        return "form"
    return None


def body_refusal(kind: str, body: bytes) -> Refusal | None:
    if kind == "form":
        return _pairs_refusal(body, "form")
    return json_refusal(body)


def json_refusal(body: bytes) -> Refusal | None:
    """The first string (key or value, in document order) PostgreSQL cannot store, or the first
    container nested deeper than ``MAX_DEPTH``; None when there is none or the body is not JSON
    (FastAPI answers that one: 400 ``malformed_json``)."""
    maybe_text = b"\\u" in body or not body.isascii()
    maybe_constant = b"NaN" in body or b"Infinity" in body
    maybe_deep = body.count(b"[") + body.count(b"{") > MAX_DEPTH
    if not (maybe_text or maybe_constant or maybe_deep):
        return None
    try:
        # As Starlette's Request.json() decodes it, but with NaN and Infinity marked.
        document = json.loads(body, parse_constant=_Constant)
    except (ValueError, RecursionError):
        return None
    return _document_refusal(document)


class _Constant(str):
    """``NaN``, ``Infinity`` or ``-Infinity`` where a JSON number would be."""


def _document_refusal(document: Any) -> Refusal | None:
    # Iterative, depth first in document order: a document may nest a thousand levels.
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(document, ())]
    while stack:
        node, path = stack.pop()
        field = ".".join(str(part) for part in path) or None
        if isinstance(node, _Constant):
            return Refusal(field, f"must be a number JSON can carry ({node} is not JSON)", "json_constant")
        if isinstance(node, str):
            refusal = _text_refusal(node, field)
            if refusal is not None:
                return refusal
            continue
        if not isinstance(node, dict | list):
            continue
        if len(path) + 1 > MAX_DEPTH:
            outermost = str(path[0]) if path else None
            return Refusal(outermost, f"is nested deeper than {MAX_DEPTH} levels of JSON", "json_too_deep")
        if isinstance(node, dict):
            children: list[tuple[Any, tuple[str | int, ...]]] = []
            for key, value in node.items():
                refusal = _text_refusal(key, ".".join(str(part) for part in (*path, _shown(key))))
                if refusal is not None:
                    return refusal
                children.append((value, (*path, key)))
        else:
            children = [(value, (*path, index)) for index, value in enumerate(node)]
        stack.extend(reversed(children))
    return None
