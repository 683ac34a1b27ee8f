"""Runs every benchmark in turn: `make bench` (or `python bench/run_all.py [--quick]`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = [
    "bench_rewriter.py",
    "bench_article.py",
    "bench_overhead.py",
    "bench_steps.py",
    "bench_audit.py",
    "bench_body.py",
    "bench_realpages.py",
    "bench_weight.py",
    "bench_regions.py",
    "bench_in_place.py",
]


# Run a second time with the pure-Python rewriter, the fallback where no compiler is.
BOTH_REWRITERS = {"bench_rewriter.py", "bench_overhead.py"}


def main() -> int:
    extra = sys.argv[1:]
    status = 0
    for script in SCRIPTS:
        args = [sys.executable, str(HERE / script)]
        if script == "bench_overhead.py":
            args += extra
        variants = [{}, {"CONSENT_NO_SPEEDUPS": "1"}] if script in BOTH_REWRITERS else [{}]
        for variant in variants:
            label = " (CONSENT_NO_SPEEDUPS=1)" if variant else ""
            print(f"\n=== {script}{label} ===", flush=True)
            status |= subprocess.call(args, env={**os.environ, **variant})
    return status


if __name__ == "__main__":
    raise SystemExit(main())
