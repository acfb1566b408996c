"""Reading and writing ``system_settings``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.errors import NotFound
from saaskit.system.models import SystemSetting


async def get_value(session: AsyncSession, key: str, default: Any = None) -> Any:
    value = await session.scalar(select(SystemSetting.value).where(SystemSetting.key == key))
    return default if value is None else value


async def list_settings(session: AsyncSession, *, public_only: bool) -> list[SystemSetting]:
    query = select(SystemSetting).order_by(SystemSetting.category, SystemSetting.key)
    if public_only:
        query = query.where(SystemSetting.is_public.is_(True))
    return list(await session.scalars(query))


async def get_setting(session: AsyncSession, key: str, *, public_only: bool) -> SystemSetting:
    setting = await session.scalar(select(SystemSetting).where(SystemSetting.key == key))
    if setting is None or (public_only and not setting.is_public):
        raise NotFound(f"no setting named {key!r}", field="key")
    return setting


async def put_setting(
    session: AsyncSession,
    key: str,
    value: Any,
    *,
    category: str | None = None,
    description: str | None = None,
    is_public: bool | None = None,
) -> SystemSetting:
    values: dict[str, Any] = {"key": key, "value": value}
    updates: dict[str, Any] = {"value": value}
    for name, given in (("category", category), ("description", description), ("is_public", is_public)):
        if given is not None:
            values[name] = given
            updates[name] = given
    statement = (
        insert(SystemSetting)
        .values(**values)
        .on_conflict_do_update(index_elements=[SystemSetting.key], set_={**updates, "updated_at": _now()})
        .returning(SystemSetting)
    )
    setting = (await session.scalars(statement, execution_options={"populate_existing": True})).one()
    return setting


def _now() -> Any:
    from sqlalchemy import func

    return func.now()
