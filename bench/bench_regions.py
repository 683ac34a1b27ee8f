"""What regions add to a request: the visitor's region worked out from the CDN's headers and
their state under that region's model (`RegionalPolicy.applied` and `.state`, the two calls the
middleware makes per request with regions on), in CPU time, remembered answers warm as on a
running site. With regions off neither call is made.

    .venv/bin/python bench/bench_regions.py
"""

from __future__ import annotations

import os
import time

from consent import ConsentConfig
from consent.runtime import ConsentRuntime

ROUNDS = 200_000
SECRET = os.urandom(32).hex()  # nothing is signed that outlives the run
# A browser's request as Cloudflare forwards it, with the location headers among the rest.
HEADERS = [
    (b"host", b"news.example"),
    (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"),
    (b"accept", b"text/html,application/xhtml+xml"),
    (b"accept-language", b"en-US,en;q=0.9"),
    (b"accept-encoding", b"gzip, br"),
    (b"cookie", b"consent_csrf=abc; _ga=GA1.1.1.1"),
    (b"cf-ipcountry", b"US"),
    (b"cf-region-code", b"CA"),
    (b"sec-fetch-dest", b"document"),
]


def main() -> int:
    config = ConsentConfig(secret_key=SECRET, region_source="cloudflare")
    runtime = ConsentRuntime(config)
    regional = runtime.regional
    assert regional is not None
    scope = {"type": "http", "headers": HEADERS}
    base = runtime.visitor_state(b"", False, str, gpc=False)
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for _ in range(ROUNDS):
            regional.state(base, regional.applied(scope), runtime.gpc_refuses)
        best = min(best, (time.process_time() - start) / ROUNDS)
    print(f"regions on: {best * 1e6:.2f} µs per request (applied + state, best of 5 runs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
