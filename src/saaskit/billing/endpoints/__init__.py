"""HTTP endpoints of billing: the user's (``/api/billing``), an organization's
(``/api/orgs/{org_id}/billing``), platform admins' (``/api/admin/billing``) and Stripe's webhook."""

from saaskit.billing.endpoints import account, admin, commerce, ledger_admin, metering, orgs, webhook

routers = [
    webhook.router,
    account.router,
    account.credits_router,
    commerce.user_router,
    metering.user_router,
    orgs.router,
    commerce.org_router,
    metering.org_router,
    admin.router,
    ledger_admin.router,
]
