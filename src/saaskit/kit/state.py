"""What a running saaskit holds for its lifetime, shared by requests, jobs and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from saaskit.config import Settings
from saaskit.kit.db import Database

if TYPE_CHECKING:
    from saaskit.accounts.passwords import Passwords
    from saaskit.kit.replicas import Replicas


@dataclass
class Runtime:
    settings: Settings
    db: Database
    secret: str
    passwords: Passwords
    extras: dict[str, Any] = field(default_factory=dict)
    # Read replicas for analytics (kit/replicas.py), when SAASKIT_DATABASE_REPLICA_URLS is set.
    replicas: Replicas | None = None
