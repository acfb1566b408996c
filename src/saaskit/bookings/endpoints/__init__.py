"""The bookings API: the catalog (staff), the shop (customers) and the day's work (staff)."""

from saaskit.bookings.endpoints import catalog, shop, staff

routers = (catalog.router, shop.router, staff.router)

__all__ = ["routers"]
