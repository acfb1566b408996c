"""No server-side request forgery: the default refuses every non-public address, whatever way a
URL reaches it; redirects are not followed; timeouts are short; answers are read only so far."""

from __future__ import annotations

import time

import httpx
import pytest

from saaskit.config import WebhookSettings
from saaskit.kit.state import Runtime
from saaskit.webhooks import sender
from saaskit.webhooks.addresses import AddressRefused, resolve_target
from tests.factories import make_owned_org
from tests.webhooks.conftest import LOOPBACK
from tests.webhooks.receiver import Receiver, Reply

REFUSED_BY_DEFAULT = [
    "http://127.0.0.1/hook",
    "http://127.8.9.10:8080/",
    "http://10.1.2.3/hook",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/",
    "http://0.0.0.0/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://[::1]/hook",
    "http://[::]/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[2002:a00:1::]/",  # 6to4 wrapping 10.0.0.1
    "http://[64:ff9b::7f00:1]/",  # NAT64 wrapping 127.0.0.1
    "http://localhost/hook",  # a name resolving to loopback (127.0.0.1 and ::1)
]


async def fake_dns(host: str, port: int) -> list[str]:
    """A resolver standing in for DNS answers the tests cannot get from a real server."""
    return {
        "public.example": ["93.184.216.34"],
        "internal.example": ["10.0.0.5"],
        "mixed.example": ["93.184.216.34", "10.0.0.5"],
        "metadata.example": ["169.254.169.254"],
        "six.example": ["::1"],
        "receiver.test": ["127.0.0.1"],
    }.get(host, [])


@pytest.mark.parametrize("url", REFUSED_BY_DEFAULT)
async def test_the_default_refuses_every_non_public_address(url: str) -> None:
    with pytest.raises(AddressRefused, match="not a public address"):
        await resolve_target(url, [])


@pytest.mark.parametrize("host", ["internal.example", "mixed.example", "metadata.example", "six.example"])
async def test_a_name_resolving_to_any_internal_address_is_refused(host: str) -> None:
    with pytest.raises(AddressRefused, match="not a public address"):
        await resolve_target(f"https://{host}/hook", [], fake_dns)


async def test_public_addresses_and_the_operators_allowance() -> None:
    target = await resolve_target("https://public.example/hook", [], fake_dns)
    assert (target.address, target.host, target.port, target.scheme) == (
        "93.184.216.34",
        "public.example",
        443,
        "https",
    )
    assert (await resolve_target("http://[2606:4700::1111]:8443/", [])).address == "2606:4700::1111"
    # Allowed networks let exactly those through.
    assert (await resolve_target("http://10.1.2.3/", ["10.0.0.0/8"])).address == "10.1.2.3"
    with pytest.raises(AddressRefused):
        await resolve_target("http://10.1.2.3/", ["10.9.0.0/16"])
    for url, message in [
        ("ftp://public.example/", "only http:// and https://"),
        ("http://user:pw@public.example/", "credentials"),
        ("http:///path", "no host"),
        ("https://nowhere.example/", "does not resolve"),
        ("http://public.example:99999/", "not a valid URL"),
    ]:
        with pytest.raises(AddressRefused, match=message):
            await resolve_target(url, [], fake_dns)


async def test_nothing_is_sent_to_loopback_by_default(receiver: Receiver) -> None:
    outcome = await sender.post(WebhookSettings(), receiver.url, b"{}", {})
    assert outcome.is_success is False and outcome.status_code is None
    assert outcome.error is not None and outcome.error.startswith(
        "refused: 127.0.0.1 is not a public address"
    )
    outcome = await sender.post(WebhookSettings(), f"http://localhost:{receiver.port}/hook", b"{}", {})
    assert outcome.error is not None and "not a public address" in outcome.error
    assert receiver.received == []


async def test_the_checked_address_is_the_one_connected_to(receiver: Receiver) -> None:
    """The name is resolved once, checked, and the connection goes to that address with the name
    kept in Host: a second, different DNS answer (rebinding) is never asked for."""
    answers: list[str] = []

    async def rebinding_dns(host: str, port: int) -> list[str]:
        answers.append(host)
        return ["127.0.0.1"] if len(answers) == 1 else ["10.0.0.1"]

    settings = WebhookSettings(allow_private_networks=["127.0.0.0/8"])
    url = f"http://receiver.test:{receiver.port}/hook"
    outcome = await sender.post(settings, url, b'{"a":1}', {"webhook-id": "msg_1"}, resolver=rebinding_dns)
    assert outcome.is_success and outcome.status_code == 200, outcome
    assert answers == ["receiver.test"]
    (request,) = receiver.received
    assert request.headers["Host"] == f"receiver.test:{receiver.port}" and request.body == b'{"a":1}'
    assert request.headers["webhook-id"] == "msg_1" and request.headers["User-Agent"].startswith(
        "saaskit-webhooks/"
    )


async def test_redirects_are_not_followed(receiver: Receiver) -> None:
    elsewhere = await Receiver().start()
    try:
        receiver.replies.append(Reply(status=302, headers={"Location": elsewhere.url}))
        outcome = await sender.post(WebhookSettings(allow_private_networks=LOOPBACK), receiver.url, b"{}", {})
        assert (outcome.is_success, outcome.status_code) == (False, 302)
        assert outcome.error == f"answered 302: redirects are not followed (Location: {elsewhere.url})"
        assert len(receiver.received) == 1 and elsewhere.received == []
    finally:
        await elsewhere.stop()


async def test_timeouts_are_short_and_answers_read_only_so_far(receiver: Receiver) -> None:
    receiver.replies.append(Reply(delay_seconds=5))
    settings = WebhookSettings(
        allow_private_networks=LOOPBACK, timeout_seconds=0.5, response_excerpt_bytes=100
    )
    started = time.monotonic()
    outcome = await sender.post(settings, receiver.url, b"{}", {})
    assert time.monotonic() - started < 3
    assert outcome.is_success is False and outcome.error is not None and "timed out" in outcome.error
    # Nothing listens on a closed port: an error, not an exception.
    closed = await Receiver().start()
    port = closed.port
    await closed.stop()
    outcome = await sender.post(settings, f"http://127.0.0.1:{port}/", b"{}", {})
    assert outcome.is_success is False and outcome.error is not None and "ConnectError" in outcome.error
    # A large answer: only the excerpt is kept; NUL bytes cannot reach PostgreSQL text.
    receiver.replies.append(Reply(status=201, body=b"\x00" + b"x" * 1_000_000))
    outcome = await sender.post(settings, receiver.url, b"{}", {})
    assert outcome.is_success and outcome.status_code == 201
    assert outcome.response_excerpt == "\ufffd" + "x" * 99


async def test_the_api_refuses_internal_urls(client: httpx.AsyncClient, runtime: Runtime) -> None:
    owner, org = await make_owned_org(client, "Careful")
    for url in (
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:8080/",
        "http://[::1]/",
        "gopher://x/",
    ):
        answer = await client.post(
            f"/api/orgs/{org['id']}/webhooks", headers=owner.headers, json={"url": url, "event_types": ["*"]}
        )
        assert answer.status_code == 422, (url, answer.text)
        assert (answer.json()["error"]["field"], answer.json()["error"]["code"]) == ("url", "url_refused")
    bad_type = await client.post(
        f"/api/orgs/{org['id']}/webhooks",
        headers=owner.headers,
        json={"url": "https://93.184.216.34/hook", "event_types": ["member.exploded"]},
    )
    assert bad_type.status_code == 422 and bad_type.json()["error"]["field"] == "event_types"
    created = await client.post(
        f"/api/orgs/{org['id']}/webhooks",
        headers=owner.headers,
        json={"url": "https://93.184.216.34/hook", "event_types": ["invoice.paid", "member.added"]},
    )
    assert created.status_code == 201, created.text
    moved = await client.patch(
        f"/api/orgs/{org['id']}/webhooks/{created.json()['id']}",
        headers=owner.headers,
        json={"url": "http://10.0.0.8/"},
    )
    assert moved.status_code == 422 and moved.json()["error"]["code"] == "url_refused"
    types = (await client.get("/api/webhooks/event-types")).json()
    assert {"member.added", "invoice.paid", "abuse.flagged", "export.ready"} <= {t["name"] for t in types}
