"""What a non-editable install gets: the wheel built from this checkout, read file by file."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from email.parser import HeaderParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXTRA_MARKERS = {"extra == 'demo'", "extra == 'dev'", "extra == 'scan'"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    pytest.importorskip("hatchling", reason="the dev extra installs the build backend")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("asgi_consent-*.whl")
    return zipfile.ZipFile(built)


def test_the_wheel_carries_everything_the_package_reads_at_run_time(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for shipped in (ROOT / "templates").rglob("*.html"):
        assert f"consent/templates/{shipped.relative_to(ROOT / 'templates').as_posix()}" in names
    for folder in ("static", "locales", "services"):
        for shipped in (ROOT / "consent" / folder).iterdir():
            assert f"consent/{folder}/{shipped.name}" in names
    for required in (
        "consent/__main__.py",
        "consent/py.typed",
        "consent/_demo/news/app.py",
        "consent/_demo/news/templates/article.html",
    ):
        assert required in names
    assert not any(name.startswith(("tests/", "bench/", "examples/")) for name in names)


def test_uvicorn_is_only_an_extra_and_the_command_is_installed(wheel: zipfile.ZipFile) -> None:
    (metadata_name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    metadata = HeaderParser().parsestr(wheel.read(metadata_name).decode())
    requires = metadata.get_all("Requires-Dist") or []
    uvicorn = [r for r in requires if r.startswith("uvicorn")]
    assert uvicorn
    # Every uvicorn requirement carries an extra marker: a plain install does not pull it in.
    assert all(r.replace('"', "'").split(";")[1].strip() in EXTRA_MARKERS for r in uvicorn)
    assert "demo" in (metadata.get_all("Provides-Extra") or [])
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    assert "consent = consent.cli:main" in wheel.read(entry_points).decode()
