"""The laundry and pressing business domain (seed 004, section 7): the service catalog and its
options, customers' addresses, bookings with their items, delivery drivers and assignments, and
loyalty rewards. docs/bookings.md explains the model and the state machine."""
