"""Watching the embedded PostgreSQL while ``serve`` runs, and starting it again when it dies."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from saaskit.kit.embedded import EmbeddedPostgres, StartInterrupted

logger = logging.getLogger(__name__)


class Supervisor:
    """Watches the embedded server from a thread and starts it again when it dies.

    Every ``interval`` seconds: is the postmaster still alive? When it is not (killed, crashed,
    out of memory), ``on_down`` is called, the children it left are killed, and the server is
    started again (crash recovery replays the WAL: committed data is kept), retrying with a
    growing delay (up to ``max_delay``) until it is up, then ``on_up`` is called. ``stop``
    abandons a start in progress.
    """

    def __init__(
        self,
        server: EmbeddedPostgres,
        *,
        on_down: Callable[[], None] | None = None,
        on_up: Callable[[], None] | None = None,
        interval: float = 0.5,
        max_delay: float = 2.0,
    ) -> None:
        self.server = server
        self.on_down = on_down
        self.on_up = on_up
        self.interval = interval
        self.max_delay = max_delay
        self.down_since: float | None = None
        self.restarts = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="postgres-supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        checks = 0
        while not self._stopping.wait(self.interval):
            if self.server.alive():
                checks += 1
                if checks % 4 == 0:
                    self.server.remember_children()
                continue
            try:
                self._restart()
            except Exception as exc:  # never let the watcher die silently
                logger.error("the PostgreSQL supervisor failed: %s", exc)

    def _restart(self) -> None:
        self.down_since = time.monotonic()
        logger.error("the embedded PostgreSQL (pid %s) is gone; starting it again", self.server.pid)
        _call(self.on_down)
        self.server.kill_leftovers()
        delay = 0.25
        while not self._stopping.is_set():
            try:
                self.server.start(interrupt=self._stopping)
                break
            except StartInterrupted:
                return
            except Exception as exc:
                logger.error(
                    "could not start the embedded PostgreSQL (%s: %s); retrying in %.1f s",
                    type(exc).__name__,
                    str(exc).strip().splitlines()[-1] if str(exc).strip() else "",
                    delay,
                )
            if self._stopping.wait(delay):
                return
            delay = min(delay * 2, self.max_delay)
        else:
            return
        self.restarts += 1
        logger.warning(
            "the embedded PostgreSQL is running again (pid %s) after %.1f s",
            self.server.pid,
            time.monotonic() - self.down_since,
        )
        self.down_since = None
        _call(self.on_up)


def _call(callback: Callable[[], None] | None) -> None:
    if callback is None:
        return
    try:
        callback()
    except Exception as exc:
        logger.error("PostgreSQL supervisor callback failed: %s", exc)
