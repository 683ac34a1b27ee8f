"""What a call costs made once per page view, in place, against the same call in a loop.

Run: ``python bench/bench_in_place.py``. A call made once per page, between the app's rendering
of one page and the next, finds its code and data gone from the processor's caches; in a loop
it finds them warm. This prints both, per call, for the keyed digests a page view makes (the
CSRF token), so that the choice between them is measured where it is made: in place, inside a
page served by the wrapped app from the page cache (``bench_overhead.py``'s cached article,
an undecided visitor), and in a loop of the same call.
"""

import asyncio
import hashlib
import hmac
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_overhead import NEWS_PAGE_PATH, _call, _scope, build_apps
from consent import middleware
from consent.keyed import keyed_hex

KEY = "bench-secret-key-0123456789abcdef0123456789"
NONCE = "Qk9YZ3Z2c1NmQ2VqV0xJd0x6R3h2bA"
PAGES = 2000
ROUNDS = 5


def hmac_sha256() -> object:
    return hmac.digest(KEY.encode(), b"consent csrf v1|" + NONCE.encode(), "sha256")


def keyed_blake2b() -> object:
    return keyed_hex(KEY, NONCE.encode(), person=b"consent csrf v2", size=24)


def plain_sha256() -> object:
    return hashlib.sha256(NONCE.encode()).digest()


CALLS: dict[str, Callable[[], object]] = {
    "HMAC-SHA256 (OpenSSL, one shot)": hmac_sha256,
    "keyed BLAKE2b (consent.keyed)": keyed_blake2b,
    "SHA-256 (OpenSSL), for comparison": plain_sha256,
}


def in_place(call: Callable[[], object]) -> float:
    """µs per call, the call made once per page, just before the page's CSRF token."""
    spent = [0.0]
    names = vars(middleware)  # the middleware's own name for the token function is replaced
    real_token_for: Callable[[str, tuple[str, ...]], str] = names["token_for"]

    def token_for(nonce: str, keys: tuple[str, ...]) -> str:
        began = time.perf_counter()
        call()
        spent[0] += time.perf_counter() - began
        return real_token_for(nonce, keys)

    with tempfile.TemporaryDirectory() as name:
        _, cached = build_apps(Path(name))
        scope = _scope(NEWS_PAGE_PATH, None)

        async def pages(count: int) -> None:
            for _ in range(count):
                await _call(cached, scope)

        asyncio.run(pages(50))
        names["token_for"] = token_for
        try:
            asyncio.run(pages(PAGES))
        finally:
            names["token_for"] = real_token_for
    return spent[0] / PAGES * 1e6


def in_a_loop(call: Callable[[], object]) -> float:
    began = time.perf_counter()
    for _ in range(PAGES):
        call()
    return (time.perf_counter() - began) / PAGES * 1e6


def main() -> None:
    print(f"µs per call, median of {ROUNDS} rounds of {PAGES} (clock on the wall)")
    print(f"{'call':38}{'in place':>10}{'in a loop':>11}")
    for label, call in CALLS.items():
        placed = statistics.median(in_place(call) for _ in range(ROUNDS))
        looped = statistics.median(in_a_loop(call) for _ in range(ROUNDS))
        print(f"{label:38}{placed:>10.1f}{looped:>11.1f}")


if __name__ == "__main__":
    main()
