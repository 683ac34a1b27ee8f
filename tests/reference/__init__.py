"""IAB's reference libraries, run with node, to check the strings this package writes.

`make reference` (part of `make test`) installs the libraries pinned in
``tests/reference/package.json`` into ``.venv/reference``; ``CONSENT_REFERENCE_DIR`` points
elsewhere. Without node or the libraries these tests skip, except where CI demands them
(``CONSENT_REQUIRE_NODE=1``), where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
_DEFAULT_DIR = HERE.parent.parent / ".venv" / "reference"


class NodeReference:
    """One long-lived node process answering JSON requests line by line."""

    def __init__(self, script: str) -> None:
        node = shutil.which("node")
        modules = Path(os.environ.get("CONSENT_REFERENCE_DIR", _DEFAULT_DIR)) / "node_modules"
        if node is None or not modules.is_dir():
            reason = (
                "node is not installed" if node is None else f"run `make reference` ({modules})"
            )
            if os.environ.get("CONSENT_REQUIRE_NODE") == "1":
                pytest.fail(f"the reference-library tests must run here: {reason}")
            pytest.skip(reason)
        self._process = subprocess.Popen(
            [node, str(HERE / script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "NODE_PATH": str(modules)},
        )

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("the reference process ended")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=10)
        if self._process.stdout is not None:
            self._process.stdout.close()
