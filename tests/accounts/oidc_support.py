"""A real OpenID provider for the tests: panva's ``oidc-provider`` (npm, OpenID Certified), pinned by
``oidc_provider/package-lock.json``, installed once with ``npm ci`` into a cache directory, and
run on loopback by ``oidc_provider/provider.mjs`` for the session.

Why this one: it is the provider the design names, a certified implementation written by someone
else (so our client is checked against an independent reading of the specifications, not
against a provider we wrote ourselves), and small (40 packages, about 3.4 MB). Node is on the
machine; the npm registry is reachable from CI.

``authorize()`` plays the browser at the provider: it follows the redirects from the
authorization address, logs in as the given account (the test page takes it in a header), and
returns the address the provider sends the browser back to (our callback, with code and state).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from saaskit.accounts.oidc import providers as oidc_providers
from saaskit.config import OidcProviderSettings, OidcSettings

HERE = Path(__file__).parent / "oidc_provider"
CALLBACK_BASE = "http://testserver/api/auth/oidc"
SECRET = "test-client-secret-0123456789"

# saaskit provider name -> the client it is at the provider, and the client's test-only behaviour.
CLIENTS: dict[str, dict[str, Any]] = {
    "corp": {"client_id": "saaskit"},
    "wrongaud": {"client_id": "saaskit-wrong-aud", "x_id_token": "audience:other-app"},
    "badnonce": {"client_id": "saaskit-bad-nonce", "x_id_token": "nonce:not-the-one-we-sent"},
    "expired": {"client_id": "saaskit-expired", "x_id_token": "expired"},
}


def _installed() -> Path:
    """node_modules for the pinned lock file, installed once per lock into a cache directory."""
    lock = (HERE / "package-lock.json").read_bytes()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "saaskit-tests"
    target = cache / f"oidc-provider-{hashlib.sha256(lock).hexdigest()[:12]}"
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / "oidc-provider.lock").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)  # xdist workers install it once between them
        if not (target / "node_modules" / "oidc-provider").is_dir():
            staging = Path(tempfile.mkdtemp(dir=cache))
            for name in ("package.json", "package-lock.json"):
                shutil.copy(HERE / name, staging / name)
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
                cwd=staging,
                check=True,
                capture_output=True,
                timeout=300,
            )
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
    # The script beside its node_modules: ES modules resolve packages from the script's folder.
    shutil.copy(HERE / "provider.mjs", target / "provider.mjs")
    return target


@pytest.fixture(scope="session")
def oidc_issuer() -> Iterator[str]:
    """The issuer address of a running provider knowing the clients of ``CLIENTS``."""
    folder = _installed()
    clients = [
        {
            "client_id": "other-app",
            "client_secret": SECRET,
            "redirect_uris": ["http://other.test/callback"],
        }
    ]
    for name, client in CLIENTS.items():
        clients.append(
            {**client, "client_secret": SECRET, "redirect_uris": [f"{CALLBACK_BASE}/{name}/callback"]}
        )
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"port": 0, "clients": clients}, handle)
    process = subprocess.Popen(
        ["node", str(folder / "provider.mjs"), handle.name],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("ready "):
            raise RuntimeError(
                f"the OpenID provider did not start: {line}{process.stderr.read() if process.stderr else ''}"
            )
        yield line.split()[1]
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
        if process.poll() is None:
            process.kill()
        Path(handle.name).unlink(missing_ok=True)
        oidc_providers.forget_cached()


def oidc_settings(issuer: str, **extra: Any) -> OidcSettings:
    return OidcSettings(
        providers={
            name: OidcProviderSettings(
                issuer=issuer,
                client_id=client["client_id"],
                client_secret=SECRET,  # type: ignore[arg-type]
                display_name=name.capitalize(),
                integration_scopes=["offline_access"],
            )
            for name, client in CLIENTS.items()
        },
        **extra,
    )


def account(
    email: str, *, verified: bool = True, sub: str | None = None, name: str = "Ada Lovelace"
) -> dict[str, Any]:
    return {"sub": sub or f"sub-{email}", "email": email, "email_verified": verified, "name": name}


async def authorize(location: str, who: dict[str, Any] | None = None, *, deny: bool = False) -> str:
    """Play the browser at the provider from its authorization address; the address it sends
    the browser back to (our callback)."""
    headers = {"X-Test-Account": json.dumps(who)} if who else {}
    if deny:
        headers["X-Test-Deny"] = "1"
    async with httpx.AsyncClient(timeout=10) as browser:
        url = location
        for _ in range(12):
            if url.startswith(CALLBACK_BASE):
                return url
            response = await browser.get(url, headers=headers)
            assert response.status_code in (302, 303), (response.status_code, response.text[:500])
            url = urljoin(url, response.headers["location"])
    raise AssertionError("the provider never sent the browser back")
