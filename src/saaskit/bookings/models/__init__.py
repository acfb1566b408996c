"""The ten tables of seed 004's business domain, split by concern."""

from saaskit.bookings.models.catalog import Service, ServiceCategory, ServiceOption, ServiceServiceOption
from saaskit.bookings.models.customers import LoyaltyReward, UserAddress
from saaskit.bookings.models.delivery import DeliveryAssignment, DeliveryDriver
from saaskit.bookings.models.orders import Booking, BookingItem

__all__ = [
    "Booking",
    "BookingItem",
    "DeliveryAssignment",
    "DeliveryDriver",
    "LoyaltyReward",
    "Service",
    "ServiceCategory",
    "ServiceOption",
    "ServiceServiceOption",
    "UserAddress",
]
