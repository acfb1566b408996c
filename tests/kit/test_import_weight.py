"""The API process's memory budget (200 MB RSS, docs/ingestion.md): the app and every job module
(the worker runs inside ``serve``) load without the heavy libraries only some jobs or commands use
(pyarrow and numpy for archives, boto3 for bucket backups, gbstats/scipy for experiment
statistics): those are imported where they are used."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("pyarrow", "numpy", "boto3", "botocore", "scipy", "pandas")

PROBE = """
import importlib, json, sys
import saaskit.app
from saaskit.jobs import TASK_MODULES
for name in TASK_MODULES:
    importlib.import_module(name)
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in %r)))
"""


def test_serving_and_jobs_leave_heavy_libraries_unloaded() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE % (HEAVY,)], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded == []
