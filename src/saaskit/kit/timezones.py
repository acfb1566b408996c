"""Time zone names: the ones PostgreSQL accepts, which is where a zone is used (``AT TIME ZONE``,
``date_trunc(..., zone)``).

Python's ``zoneinfo.available_timezones()`` is not the same list: it holds every file under the
system's zoneinfo directory, ``localtime`` and ``posixrules`` included, which PostgreSQL refuses
("time zone "localtime" not recognized"). So every place that takes a zone (the statistics'
``?tz=``, a user's time zone, the admin Overview's zone picker) checks it against
``pg_timezone_names``, read once per process (the view reads PostgreSQL's zone files: tens of
milliseconds) in a transaction of its own.
"""

from __future__ import annotations

from sqlalchemy import text

from saaskit.kit.db import Database
from saaskit.kit.errors import Unprocessable

_names: frozenset[str] | None = None


async def names(db: Database) -> frozenset[str]:
    """Every zone name PostgreSQL accepts (as ``pg_timezone_names`` spells them)."""
    global _names
    if _names is None:  # two requests may both read it the first time: the same answer
        async with db.session() as session:
            found = await session.scalars(text("SELECT name FROM pg_timezone_names"))
            _names = frozenset(found) | {"UTC"}
    return _names


async def check(db: Database, value: str, *, field: str = "tz") -> str:
    """``value`` when PostgreSQL knows it, else 422 naming ``field``."""
    if value not in await names(db):
        raise Unprocessable(
            f"{field}: {value!r} is not a time zone PostgreSQL knows (an IANA name, e.g. Europe/Paris)",
            field=field,
        )
    return value
