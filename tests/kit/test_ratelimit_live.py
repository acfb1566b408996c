"""The limits hold across the processes of a real ``saaskit serve --workers 2``: one count for
all of them, exact on the sign-in path, within one sync interval per process on capture."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import TEST_SECRET, DbUnderTest
from tests.live import ServeProcess

pytestmark = pytest.mark.live


@pytest.fixture
def two_workers(fresh_database: DbUnderTest, tmp_path: Path) -> Iterator[ServeProcess]:
    server = ServeProcess(
        tmp_path / "live",
        env={
            "SAASKIT_DATABASE_URL": fresh_database.owner_url,
            "SAASKIT_SECRET_KEY": TEST_SECRET,
            "SAASKIT_DATA_DIR": str(tmp_path / "data"),
            "SAASKIT_JOBS_RUN_IN_SERVE": "false",
            "SAASKIT_RATE_LIMIT_SIGN_IN_PER_IP": "6/minute",
            "SAASKIT_RATE_LIMIT_CAPTURE_PER_IP": "20/minute",
            "SAASKIT_RATE_LIMIT_SYNC_SECONDS": "0.1",
        },
        args=("--workers", "2"),
    )
    try:
        server.wait_ready()
        yield server
    finally:
        assert server.stop() == 0, server.log()[-4000:]


def _pids(server: ServeProcess) -> int:
    return len(psutil.Process(server.process.pid).children(recursive=True))


def test_one_count_for_every_process(two_workers: ServeProcess) -> None:
    base = two_workers.base
    assert _pids(two_workers) >= 2
    owner = httpx.post(
        f"{base}/api/auth/signup", json={"email": "o@example.com", "password": "quartz meadow lantern"}
    )
    assert owner.status_code == 201, owner.text
    headers = {"Authorization": f"Bearer {owner.json()['token']}"}
    org = httpx.post(f"{base}/api/orgs", json={"name": "Live"}, headers=headers).json()
    key = httpx.post(f"{base}/api/orgs/{org['id']}/ingestion-keys", headers=headers).json()["key"]

    # Sign-in: a new connection per request, so both workers answer; exactly 6 get through.
    answers = Counter(
        httpx.post(
            f"{base}/api/auth/login",
            json={"email": f"guess-{n}@example.com", "password": "wrong"},
            headers={"Connection": "close"},
        ).status_code
        for n in range(10)
    )
    assert answers == {401: 6, 429: 4}

    # Capture: each process decides alone between syncs (every 0.1 s here); spaced requests
    # let them sync, so the two together admit the limit, give or take the last interval.
    admitted = 0
    refused = []
    for n in range(50):
        answer = httpx.post(
            f"{base}/e/",
            json={"api_key": key, "event": "live", "distinct_id": f"d-{n}"},
            headers={"Connection": "close"},
        )
        if answer.status_code == 200:
            admitted += 1
        else:
            refused.append(answer)
        time.sleep(0.15)
    assert 20 <= admitted <= 23, admitted  # unshared, two processes would admit up to 40
    assert all(r.status_code == 429 and int(r.headers["Retry-After"]) >= 1 for r in refused)
    assert refused[0].json()["error"]["code"] == "rate_limited"
