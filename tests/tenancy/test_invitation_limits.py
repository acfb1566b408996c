"""Rate limits of invitations (docs/limits.md): sending (create, resend) and answering (accept,
decline), by client IP and by user; 429 ``rate_limited`` with Retry-After."""

from __future__ import annotations

import httpx

from saaskit.kit.state import Runtime
from tests.factories import invitation_token, make_owned_org
from tests.helpers import error_of, signup, with_limits


def _refused(response: httpx.Response, name: str) -> None:
    assert response.status_code == 429, response.text
    error = error_of(response)
    assert error["code"] == "rate_limited" and name in error["message"]
    assert int(response.headers["Retry-After"]) >= 1


async def test_sending_invitations_is_limited_per_user_and_per_ip(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    with_limits(runtime, invitations_per_user="3/hour", invitations_per_ip="5/hour")
    owned = await make_owned_org(client)
    path = f"/api/orgs/{owned.org['id']}/invitations"
    created = []
    for n in range(2):
        answer = await client.post(path, headers=owned.owner.headers, json={"email": f"i{n}@example.com"})
        assert answer.status_code == 201, answer.text
        created.append(answer.json())
    resent = await client.post(f"{path}/{created[0]['id']}/resend", headers=owned.owner.headers)
    assert resent.status_code == 200, resent.text
    _refused(
        await client.post(f"{path}/{created[1]['id']}/resend", headers=owned.owner.headers),
        "invitations_per_user",
    )
    _refused(
        await client.post(path, headers=owned.owner.headers, json={"email": "i9@example.com"}),
        "invitations_per_user",
    )
    # Another inviter from the same address meets the IP limit (3 + 2 refused above: 5 counted).
    other = await make_owned_org(client, "Other")
    _refused(
        await client.post(
            f"/api/orgs/{other.org['id']}/invitations",
            headers=other.owner.headers,
            json={"email": "x@example.com"},
        ),
        "invitations_per_ip",
    )


async def test_answering_invitations_is_limited_per_user(client: httpx.AsyncClient, runtime: Runtime) -> None:
    with_limits(runtime, invitation_answers_per_user="2/hour")
    invitee = await signup(client)
    for name in ("First", "Second"):
        owned = await make_owned_org(client, name)
        invited = await client.post(
            f"/api/orgs/{owned.org['id']}/invitations",
            headers=owned.owner.headers,
            json={"email": invitee.email},
        )
        assert invited.status_code == 201, invited.text
        token = await invitation_token(client, invited.json()["mail_id"])
        accepted = await client.post(
            "/api/invitations/accept", headers=invitee.headers, json={"token": token}
        )
        assert accepted.status_code == 200, accepted.text
    _refused(
        await client.post(
            "/api/invitations/decline", headers=invitee.headers, json={"token": "inv_not-a-real-token"}
        ),
        "invitation_answers_per_user",
    )
