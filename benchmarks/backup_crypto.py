"""What encrypting a backup costs, against copying the same file (the baseline, same run).

    uv run python -m benchmarks.backup_crypto              # 256 MiB
    uv run python -m benchmarks.backup_crypto --mib 1024

A file of ``--mib`` MiB (random bytes: a compressed dump does not compress further) is

  copy         copied (shutil.copyfile): reading and writing the bytes once, the baseline
  sha256       hashed (storage.sha256_of, as every upload and download is checked)
  encrypt      crypto.encrypt_file with a configured key (1 MiB AES-256-GCM chunks)
  decrypt      crypto.decrypt_file back, compared with the original

three times each in a row (medians), in a temporary directory; the table gives MiB/s and the
time as a multiple of the copy's.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from saaskit.system import crypto
from saaskit.system.storage import sha256_of


def _median_seconds(work: Callable[[], object], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mib", type=int, default=256)
    args = parser.parse_args()
    key = crypto.parse_key(crypto.new_key())
    with tempfile.TemporaryDirectory(prefix="saaskit-bench-") as scratch:
        plain, sealed, back, copy = (Path(scratch) / name for name in ("plain", "sealed", "back", "copy"))
        with plain.open("wb") as file:
            for _ in range(args.mib):
                file.write(os.urandom(1 << 20))
        results = {
            "copy": _median_seconds(lambda: shutil.copyfile(plain, copy)),
            "sha256": _median_seconds(lambda: sha256_of(plain)),
            "encrypt": _median_seconds(lambda: crypto.encrypt_file(plain, sealed, key)),
            "decrypt": _median_seconds(lambda: crypto.decrypt_file(sealed, back, key)),
        }
        assert filecmp.cmp(plain, back, shallow=False)
        overhead = sealed.stat().st_size - plain.stat().st_size
    print(f"{args.mib} MiB, encrypted file {overhead:,} bytes larger")
    print(f"{'step':<10}{'seconds':>10}{'MiB/s':>10}{'x copy':>10}")
    for name, seconds in results.items():
        print(f"{name:<10}{seconds:>10.2f}{args.mib / seconds:>10.0f}{seconds / results['copy']:>10.1f}")


if __name__ == "__main__":
    main()
