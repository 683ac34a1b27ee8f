"""What the browser downloads: each static file gzipped (level 9), and each group against its
budget. Weights depend on the bytes alone, so one run is the figure.

    .venv/bin/python bench/bench_weight.py
"""

from __future__ import annotations

import gzip

from consent.assets import assets

# Which files a page loads in each set-up, and the gzipped budget of each group.
GROUPS = {
    "base banner (every page)": (("consent.js", "consent.css", "gcm.js"), 6 * 1024),
    "TCF layer (TCF on)": (("tcfstub.js", "tcf.js", "tcf.css"), 5 * 1024),
    "GPP API (regions on)": (("gpp.js",), 2 * 1024),
}


def main() -> int:
    sizes = {a.logical_name: len(gzip.compress(a.body, 9)) for a in assets().values()}
    for name in sorted(sizes):
        print(f"{name:<14} {sizes[name]:>6,} bytes gzipped")
    missed = 0
    for group, (names, budget) in GROUPS.items():
        total = sum(sizes[name] for name in names)
        verdict = "met" if total <= budget else "MISSED"
        missed += verdict == "MISSED"
        print(f"{group:<26} {total:>6,} bytes (bar {budget:,}) {verdict}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
