"""The price of a booking: items x (unit price + options per item) + the collection fee,
which an earned loyalty free collection waives. Every refusal names the offending field."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.bookings.catalog import offered_options
from saaskit.bookings.models import Service
from saaskit.bookings.schemas import ItemOut, QuoteIn, QuoteOut
from saaskit.kit.errors import Unprocessable


@dataclass(frozen=True)
class Priced:
    quote: QuoteOut
    service: Service  # the main service


async def price(
    session: AsyncSession, org_id: uuid.UUID, body: QuoteIn, *, collection_fee: int, free_available: bool
) -> Priced:
    wanted = {body.service_id, *(item.service_id for item in body.items)}
    services = {
        s.id: s
        for s in await session.scalars(
            select(Service).where(
                Service.id.in_(wanted),
                Service.organization_id == org_id,
                Service.deleted_at.is_(None),
                Service.is_active,
            )
        )
    }
    main = services.get(body.service_id)
    if main is None:
        raise Unprocessable(
            "service_id: no such service on sale here", field="service_id", code="unknown_service"
        )
    offered = await offered_options(session, list(services))
    lines: list[ItemOut] = []
    for index, item in enumerate(body.items):
        where = f"items.{index}"
        service = services.get(item.service_id)
        if service is None:
            raise Unprocessable(
                f"{where}.service_id: no such service on sale here",
                field=f"{where}.service_id",
                code="unknown_service",
            )
        if service.currency != main.currency:
            raise Unprocessable(
                f"{where}.service_id: priced in {service.currency}, the booking in {main.currency}",
                field=f"{where}.service_id",
            )
        if not service.min_items <= item.quantity <= service.max_items:
            raise Unprocessable(
                f"{where}.quantity: {service.name} takes {service.min_items} to {service.max_items} items",
                field=f"{where}.quantity",
                code="quantity_out_of_range",
            )
        options = {option.id: (option, required) for option, required in offered.get(service.id, [])}
        unknown = [str(o) for o in item.option_ids if o not in options]
        if unknown:
            raise Unprocessable(
                f"{where}.option_ids: {unknown[0]} is not an option of {service.name}",
                field=f"{where}.option_ids",
                code="unknown_option",
            )
        chosen = [o for o, required in options.values() if required or o.id in item.option_ids]
        options_price = sum(o.price for o in chosen)
        lines.append(
            ItemOut(
                service_id=service.id,
                quantity=item.quantity,
                unit_price=service.base_price,
                options_price=options_price,
                option_codes=sorted(o.code for o in chosen),
                total_price=item.quantity * (service.base_price + options_price),
                item_description=item.item_description,
            )
        )
    items_amount = sum(line.total_price for line in lines)
    free = body.use_free_collection and free_available and collection_fee > 0
    fee = 0 if free else collection_fee
    quote = QuoteOut(
        items=lines,
        items_amount=items_amount,
        collection_fee=fee,
        total_amount=items_amount + fee,
        currency=main.currency,
        is_free_collection=free,
    )
    return Priced(quote=quote, service=main)
