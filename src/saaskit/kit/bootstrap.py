"""Getting from settings to a usable database: embedded or external, migrated, with its roles.

``Environment`` is what every CLI command enters first. With ``SAASKIT_DATABASE_URL`` set it only
computes URLs; otherwise it starts the embedded server (or adopts the one already running on
the data directory) and stops it again on exit if this process is the one responsible for it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import psutil

from saaskit.accounts.passwords import Passwords
from saaskit.config import Settings
from saaskit.kit.db import (
    Database,
    DatabaseUrls,
    app_role_password,
    app_url_for,
    create_engine,
    service_key,
    use_service_key,
)
from saaskit.kit.embedded import EmbeddedPostgres
from saaskit.kit.migrations import enable_statement_stats, ensure_app_role, upgrade
from saaskit.kit.replicas import replicas_for
from saaskit.kit.secrets import instance_secret
from saaskit.kit.state import Runtime
from saaskit.kit.supervisor import Supervisor

logger = logging.getLogger(__name__)

EMBEDDED_DATABASE = "saaskit"
MANUAL_OWNER = "manual"


class Environment:
    def __init__(self, settings: Settings, *, owner_tag: str | None = None) -> None:
        """``owner_tag``: who answers for stopping the embedded server (a PID, or ``manual``
        for ``saaskit db start``). ``None`` leaves a running server alone."""
        self.settings = settings
        self.secret = instance_secret(settings)
        self.embedded: EmbeddedPostgres | None = None
        self.owner_tag = owner_tag if owner_tag is not None else str(os.getpid())
        self._should_stop = False
        self.supervisor: Supervisor | None = None

    @property
    def is_embedded(self) -> bool:
        return not self.settings.database.url

    @property
    def data_dir(self) -> Path:
        return Path(self.settings.data_dir).expanduser().resolve()

    @property
    def _owner_file(self) -> Path:
        return self.data_dir / "postgres.owner"

    def __enter__(self) -> Environment:
        if self.is_embedded:
            self.embedded = EmbeddedPostgres(self.data_dir, extra_settings=self._embedded_settings())
            was_running = self.embedded.running_process() is not None
            try:
                # start() stops what it launched if interrupted (Ctrl-C, SIGTERM) on the way.
                self.embedded.start()
                self.embedded.ensure_database(EMBEDDED_DATABASE)
            except BaseException:
                if self.embedded.started_here:
                    logger.info("stopping the embedded PostgreSQL server")
                    self.embedded.stop()
                raise
            self._should_stop = self._claim(was_running)
        return self

    def _embedded_settings(self) -> dict[str, str]:
        if not self.settings.database.wal_archive:
            return {}
        from saaskit.system import pitr

        pitr.prepare_archive(self.data_dir)
        return pitr.archive_settings()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.supervisor is not None:
            self.supervisor.stop()  # first: it would start the server again
            self.supervisor = None
        if self.embedded is not None and self._should_stop:
            logger.info("stopping the embedded PostgreSQL server")
            self.embedded.stop()
            self._owner_file.unlink(missing_ok=True)

    def supervise(
        self, *, on_down: Callable[[], None] | None = None, on_up: Callable[[], None] | None = None
    ) -> Supervisor | None:
        """Watch the embedded server and start it again if it dies, until exit (``serve``)."""
        if self.embedded is None:
            return None
        self.supervisor = Supervisor(self.embedded, on_down=on_down, on_up=on_up)
        self.supervisor.start()
        return self.supervisor

    def _claim(self, was_running: bool) -> bool:
        """Take responsibility for stopping the server unless someone alive already has it."""
        current = self._owner_file.read_text().strip() if self._owner_file.exists() else ""
        if was_running and current == MANUAL_OWNER:
            return False
        if (
            was_running
            and current.isdigit()
            and int(current) != os.getpid()
            and psutil.pid_exists(int(current))
        ):
            return False
        self._owner_file.write_text(self.owner_tag)
        return self.owner_tag != MANUAL_OWNER

    def keep_running(self) -> None:
        """Leave the embedded server running after exit (``saaskit db start``). A server that
        another live process (a ``serve``) answers for stays that process's to stop."""
        if self._should_stop:
            self._should_stop = False
            self._owner_file.write_text(MANUAL_OWNER)
            if self.embedded is not None:
                self.embedded.detach()

    @property
    def urls(self) -> DatabaseUrls:
        if self.embedded is not None:
            owner = self.embedded.url(EMBEDDED_DATABASE)
        else:
            assert self.settings.database.url
            owner = self.settings.database.url
        return DatabaseUrls(owner=owner, app=app_url_for(self.settings, owner, self.secret))

    def migrate(self) -> None:
        """Upgrade to head as the owner, then (re)create and grant the application role.
        Refused (``NotPrimary``) on a standby or a fenced old primary (system/failover.py)."""
        from saaskit.system.failover import check_primary

        check_primary(self.urls.owner)
        upgrade(self.urls.owner)
        password = None if self.settings.database.app_url else app_role_password(self.settings, self.secret)
        ensure_app_role(
            self.urls.owner, self.settings.database.app_role, password, service_key=service_key(self.secret)
        )
        if self.embedded is not None:  # its owner is a superuser and it preloads the library
            enable_statement_stats(self.urls.owner, self.settings.database.app_role)

    def runtime(self, *, pool_size: int | None = None) -> Runtime:
        return runtime_for(self.settings, self.urls.app, self.secret, pool_size=pool_size)


def runtime_for(settings: Settings, app_url: str, secret: str, *, pool_size: int | None = None) -> Runtime:
    """A runtime on the application role's URL, with the configured pool and timeouts."""
    database = settings.database
    engine = create_engine(
        app_url,
        pool_size=pool_size or database.pool_size,
        max_overflow=database.max_overflow,
        connect_timeout=database.connect_timeout_seconds,
        pool_timeout=database.pool_timeout_seconds,
    )
    db = Database(
        engine,
        connect_timeout=database.connect_timeout_seconds,
        pool_timeout=database.pool_timeout_seconds,
    )
    return build_runtime(settings, db, secret)


def build_runtime(settings: Settings, db: Database, secret: str) -> Runtime:
    use_service_key(service_key(secret))
    return Runtime(
        settings=settings,
        db=db,
        secret=secret,
        passwords=Passwords(settings.auth),
        replicas=replicas_for(settings, secret),
    )
