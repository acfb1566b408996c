"""Database errors without the values of the statement: never in a log line, never stored.

A failed statement can carry personal data in three places, all of which reach logs through the
exception's text and traceback:

- SQLAlchemy's ``[parameters: {...}]`` (the bound values: e-mails, argon2 hashes, IP hashes):
  every engine is created with ``hide_parameters=True`` (``kit.db.create_engine`` and the
  owner's engines in ``kit.migrations`` and ``migrations/env.py``);
- PostgreSQL's own ``DETAIL`` / ``CONTEXT`` / ``HINT`` lines, which psycopg copies into the
  exception's text (``Key (email)=(jenny@example.com) already exists``, ``Failing row contains
  (..., $argon2id$...)``): stripped from the exception by ``scrub_database_error`` (a
  ``handle_error`` hook on every engine) while ``exc.orig.diag`` keeps them for code that
  needs them;
- quoted values in the first line (``invalid input syntax for type uuid: "jenny@..."``) and
  literals in the statement text: masked.

``scrub`` applies the same rules to any text; ``format_exception`` gives a traceback with them
applied (the error handler logs unexpected exceptions with it); ``install`` adds a filter doing
the same to every record of the root handlers and of the loggers that print exceptions on their
own (uvicorn's ``Exception in ASGI application``, psycopg's and its pool's).
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

from sqlalchemy.engine import ExceptionContext

HIDDEN = "(hidden)"
_PARAMETERS = re.compile(r"^\[parameters: .*$", re.MULTILINE)
_SERVER_LINES = re.compile(r"^(DETAIL|CONTEXT|HINT|QUERY|WHERE):.*$", re.MULTILINE)
_FAILING_ROW = re.compile(r"Failing row contains \(.*?\)\.?", re.DOTALL)
_QUOTED_VALUE = re.compile(r'(: )"(?:[^"]|"")*"$', re.MULTILINE)
_SQL_BLOCK = re.compile(r"\[SQL: (.*?)\](?=\n(?:\[|\(Background)|\Z)", re.DOTALL)
_LITERAL = re.compile(r"'(?:[^']|'')*'")
_MARKERS = ("[parameters: ", "DETAIL:", "CONTEXT:", "HINT:", "Failing row", "[SQL: ", ': "')


def scrub(text: str) -> str:
    """``text`` without the values a database error may quote."""
    if not any(marker in text for marker in _MARKERS):
        return text
    text = _PARAMETERS.sub(f"[parameters: {HIDDEN}]", text)
    text = _SERVER_LINES.sub(lambda m: f"{m.group(1)}: {HIDDEN}", text)
    text = _FAILING_ROW.sub(f"Failing row contains {HIDDEN}", text)
    text = _QUOTED_VALUE.sub(rf'\1"{HIDDEN}"', text)
    return _SQL_BLOCK.sub(lambda m: "[SQL: " + _LITERAL.sub("'?'", m.group(1)) + "]", text)


def format_exception(exc: BaseException) -> str:
    """The traceback (with its causes) as ``traceback`` prints it, scrubbed."""
    return scrub("".join(traceback.format_exception(exc)).rstrip("\n"))


def scrub_database_error(context: ExceptionContext) -> None:
    """SQLAlchemy ``handle_error`` hook: the exception and the driver's own are scrubbed in
    place, so whoever logs or stores their text gets no values (``diag`` keeps them)."""
    for exc in (context.original_exception, context.sqlalchemy_exception):
        if exc is not None and exc.args and isinstance(exc.args[0], str):
            exc.args = (scrub(exc.args[0]), *exc.args[1:])


class ScrubFilter(logging.Filter):
    """Scrubs a record's message and formats its exception with ``format_exception``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = format_exception(record.exc_info[1])
            record.exc_info = None
        try:
            message = record.getMessage()
        except Exception:  # a malformed logging call: the handler reports it as it always did
            return True
        scrubbed = scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


LOGGERS_WITH_OWN_HANDLERS = ("uvicorn.error", "uvicorn", "psycopg", "psycopg.pool", "procrastinate")


def install(*loggers: Any) -> None:
    """Add the filter to the root logger's handlers and to the loggers that print exceptions
    themselves (idempotent). Call after logging is configured."""
    targets: list[logging.Logger | logging.Handler] = [*logging.getLogger().handlers]
    targets += [logging.getLogger(name) for name in (*LOGGERS_WITH_OWN_HANDLERS, *loggers)]
    for target in targets:
        if not any(isinstance(f, ScrubFilter) for f in target.filters):
            target.addFilter(ScrubFilter())
