"""Refresh the vendored copy of posthog-js that saaskit serves at ``/static/<file>``.

    uv run python scripts/vendor_posthog_js.py 1.449.2

Runs ``npm pack posthog-js@<version>`` (the npm registry's tarball, nothing else), then replaces
``src/saaskit/flags/static/posthog-js/`` with the package's browser bundles: every ``dist/*.js``
that is a self-running script (``!function(){...}()``), which is what posthog-js and PostHog's
snippet load with a ``<script>`` tag from ``<api_host>/static/``. ES modules, CommonJS builds,
type declarations and source maps are left out (nothing loads them from /static/). The files are
copied byte for byte (``integrity.json``, the package's own SHA-384 list, is kept beside them and
the tests check every file against it), with ``LICENSE`` and a ``VERSION`` file. README.md stays.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

TARGET = Path(__file__).resolve().parent.parent / "src" / "saaskit" / "flags" / "static" / "posthog-js"
KEEP = {"README.md"}


def is_browser_bundle(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(9) == b"!function"


def main(version: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            ["npm", "pack", f"posthog-js@{version}", "--json", "--pack-destination", tmp],  # noqa: S607
            check=True,
            capture_output=True,
            text=True,
        )
        tarball = Path(tmp) / json.loads(out.stdout)[0]["filename"]
        with tarfile.open(tarball) as archive:
            archive.extractall(tmp, filter="data")
        package = Path(tmp) / "package"
        found = json.loads((package / "package.json").read_text())["version"]
        if found != version:
            raise SystemExit(f"npm gave posthog-js {found}, not {version}")
        TARGET.mkdir(parents=True, exist_ok=True)
        for old in TARGET.iterdir():
            if old.name not in KEEP:
                old.unlink()
        bundles = sorted(p for p in (package / "dist").glob("*.js") if is_browser_bundle(p))
        for bundle in bundles:
            shutil.copyfile(bundle, TARGET / bundle.name)
        shutil.copyfile(package / "dist" / "integrity.json", TARGET / "integrity.json")
        shutil.copyfile(package / "LICENSE", TARGET / "LICENSE")
        (TARGET / "VERSION").write_text(version + "\n")
    print(f"posthog-js {version}: {len(bundles)} bundles in {TARGET}")  # noqa: T201


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version", help="an exact posthog-js version, e.g. 1.449.2")
    main(parser.parse_args().version)
