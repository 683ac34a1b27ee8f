"""Hold-back on the shared real pages: what an undecided visitor's page still loads.

Run: ``python bench/bench_realpages.py`` (``CONSENT_REALPAGES`` names the folder when it is not
``../shared/realpages`` beside the repository). Every page goes through the middleware for each
visitor state; the table gives the third-party resources held for a visitor who has not
decided, by class and kind, then the misses by host and the false holds. The rules that find
and classify resources are in ``tests/realpages/harness.py``.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.realpages import harness


def main() -> int:
    folder = harness.realpages_dir()
    if not (folder / "manifest.json").is_file():
        print(f"no real pages in {folder}; set CONSENT_REALPAGES", file=sys.stderr)
        return 1
    started = time.perf_counter()
    harness.main()
    print(f"\n{time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
