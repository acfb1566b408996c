"""HTTP endpoints of tenancy, under ``/api/orgs`` (and ``/api/invitations`` for invitees)."""

from saaskit.tenancy.endpoints import invitations, organizations, teams, workspaces

routers = [
    organizations.router,
    teams.router,
    workspaces.router,
    invitations.router,
    invitations.invitee_router,
]
