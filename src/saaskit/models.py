"""Every domain's models, imported so that ``Base.metadata`` describes the whole schema.

Alembic's environment and the schema-drift test import this module.
"""

from saaskit.accounts import models as accounts_models
from saaskit.devices import models as devices_models
from saaskit.kit.models import Base
from saaskit.system import models as system_models

__all__ = ["Base", "accounts_models", "devices_models", "system_models"]
