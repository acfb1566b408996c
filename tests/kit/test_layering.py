"""Dependencies run downward: the admin package renders pages and calls domain code, so no domain
imports ``saaskit.admin``. Only the wiring that mounts it (``app.py``, the CLI) may."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import saaskit

PACKAGE = Path(saaskit.__file__).parent
ADMIN = "saaskit.admin"
# Wiring, not domain code: it builds the app and mounts the admin pages.
MAY_IMPORT_ADMIN = {"saaskit.app", "saaskit.cli", "saaskit.__main__"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str, *, is_package: bool) -> Iterator[tuple[int, str]]:
    """Every module an import statement names, anywhere in the file (functions included), with
    relative imports resolved and ``from X import Y`` giving both X and X.Y (Y may be a module)."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield node.lineno, target
            for alias in node.names:
                yield node.lineno, f"{target}.{alias.name}"


def imports_admin(name: str) -> bool:
    return name == ADMIN or name.startswith(ADMIN + ".")


def admin_imports_outside_admin() -> tuple[list[str], set[str]]:
    offenders: list[str] = []
    wiring: set[str] = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        if imports_admin(module):
            continue
        source = path.read_text(encoding="utf-8")
        seen: set[int] = set()
        for line, name in imported_modules(source, module, is_package=path.name == "__init__.py"):
            if not imports_admin(name) or line in seen:
                continue
            seen.add(line)
            if module in MAY_IMPORT_ADMIN or module.startswith("saaskit.cli."):
                wiring.add(module)
            else:
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}")
    return offenders, wiring


def test_no_module_outside_admin_imports_admin() -> None:
    offenders, wiring = admin_imports_outside_admin()
    assert offenders == [], "move the code these need out of saaskit.admin:\n" + "\n".join(offenders)
    # The walk does see imports of the admin package: app.py mounts it.
    assert "saaskit.app" in wiring


def test_every_import_form_is_seen() -> None:
    source = "\n".join(
        [
            "import saaskit.admin.web",
            "from saaskit import admin",
            "from saaskit.admin import actions",
            "from .. import admin as pages",
            "from ..admin.web import render",
            "def later():",
            "    from saaskit.admin.security import AdminDep",
            "from saaskit.administration import x",
            "from . import service",
        ]
    )
    found = [
        line
        for line, name in imported_modules(source, "saaskit.billing.operator", is_package=False)
        if imports_admin(name)
    ]
    assert sorted(set(found)) == [1, 2, 3, 4, 5, 7]
