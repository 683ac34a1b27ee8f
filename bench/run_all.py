"""Runs every benchmark in turn: `make bench` (or `python bench/run_all.py [--quick]`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = [
    "bench_rewriter.py",
    "bench_overhead.py",
    "bench_audit.py",
    "bench_body.py",
    "bench_realpages.py",
]


def main() -> int:
    extra = sys.argv[1:]
    status = 0
    for script in SCRIPTS:
        print(f"\n=== {script} ===", flush=True)
        args = [sys.executable, str(HERE / script)]
        if script == "bench_overhead.py":
            args += extra
        status |= subprocess.call(args)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
