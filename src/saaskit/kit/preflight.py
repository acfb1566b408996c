"""What ``serve`` claims before it starts anything: the data directory and the port.

Kept free of saaskit's heavier imports, so that ``saaskit serve`` refuses at once (a second
serve on the same data directory, a port in use) with nothing started that must be stopped.
"""

from __future__ import annotations

import errno
import os
import socket
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]


class AlreadyServing(Exception):
    """Another ``serve`` holds the data directory."""


class ServeLock:
    """``<data dir>/serve.lock``: held (``flock``) by the one ``serve`` using the data directory.

    The kernel releases it when that process ends, however it ends (``kill -9`` included), so
    there is never a stale lock to clean up. The file holds the holder's PID, for messages.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / "serve.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        if fcntl is None:  # Windows: no flock; one serve per data directory is up to you
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            raise AlreadyServing(
                f"another saaskit serve{f' (pid {holder})' if holder.isdigit() else ''} is already "
                f"running on the data directory {self.data_dir}; stop it first, or give this one "
                "its own SAASKIT_DATA_DIR"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None

    @staticmethod
    def holder(data_dir: Path) -> int | None:
        """The PID of the serve holding ``data_dir``, or None when no serve does."""
        path = data_dir / "serve.lock"
        if fcntl is None or not path.exists():
            return None
        fd = os.open(path, os.O_RDONLY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                text = os.read(fd, 32).decode(errors="replace").strip()
                return int(text) if text.isdigit() else 0
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)


class PortUnavailable(Exception):
    pass


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything else starts: a port in use is reported at
    once, with nothing (no database) to stop. Connections made while ``serve`` is still starting
    wait in the backlog."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: not SO_REUSEPORT
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        hint = (
            " (another saaskit serve or another program is listening there; choose another port with --port)"
            if exc.errno == errno.EADDRINUSE
            else ""
        )
        raise PortUnavailable(f"cannot listen on {host}:{port}: {reason}{hint}") from None
    return sock


@dataclass
class Claim:
    """The lock (None with an external database) and the listening socket."""

    lock: ServeLock | None
    sock: socket.socket

    def release(self) -> None:
        self.sock.close()
        if self.lock is not None:
            self.lock.release()


def claim(data_dir: Path | None, host: str, port: int) -> Claim:
    """Lock ``data_dir`` (the embedded database's; None: an external database, no lock), then
    bind ``host:port``. Raises ``AlreadyServing`` or ``PortUnavailable``, holding nothing."""
    lock = ServeLock(data_dir) if data_dir is not None else None
    if lock is not None:
        # One serve per data directory: a second would adopt (and fight over) the first's
        # embedded PostgreSQL. Held until exit; the kernel drops it if serve is killed.
        lock.acquire()
    try:
        return Claim(lock, listen(host, port))
    except BaseException:
        if lock is not None:
            lock.release()
        raise
