"""HTTP endpoints of billing: the user's (``/api/billing``), an organization's
(``/api/orgs/{org_id}/billing``), platform admins' (``/api/admin/billing``) and Stripe's webhook."""

from saaskit.billing.endpoints import account, admin, metering, orgs, webhook

routers = [webhook.router, account.router, account.credits_router, orgs.router, admin.router]
routers += [metering.user_router, metering.org_router]
