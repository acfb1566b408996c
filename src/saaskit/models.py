"""Every domain's models, imported so that ``Base.metadata`` describes the whole schema.

Alembic's environment and the schema-drift test import this module.
"""

from saaskit.access import models as access_models
from saaskit.accounts import api_key_models, two_factor_models
from saaskit.accounts import models as accounts_models
from saaskit.accounts import tokens as account_tokens_models
from saaskit.audit import models as audit_models
from saaskit.billing import models as billing_models
from saaskit.bookings import models as bookings_models
from saaskit.devices import models as devices_models
from saaskit.experiments import models as experiments_models
from saaskit.flags import models as flags_models
from saaskit.insights import models as insights_models
from saaskit.integrations import models as integrations_models
from saaskit.kit import ratelimit as kit_ratelimit
from saaskit.kit.idempotency import models as idempotency_models
from saaskit.kit.models import Base
from saaskit.mail import models as mail_models
from saaskit.notifications import models as notifications_models
from saaskit.privacy import models as privacy_models
from saaskit.system import models as system_models
from saaskit.tenancy import models as tenancy_models
from saaskit.tracking import models as tracking_models
from saaskit.trust import models as trust_models
from saaskit.webhooks import models as webhooks_models

__all__ = [
    "Base",
    "access_models",
    "account_tokens_models",
    "accounts_models",
    "api_key_models",
    "audit_models",
    "billing_models",
    "bookings_models",
    "devices_models",
    "experiments_models",
    "flags_models",
    "idempotency_models",
    "insights_models",
    "integrations_models",
    "kit_ratelimit",
    "mail_models",
    "notifications_models",
    "privacy_models",
    "system_models",
    "tenancy_models",
    "tracking_models",
    "trust_models",
    "two_factor_models",
    "webhooks_models",
]
