"""What a non-editable install gets: the wheel built from this checkout, read file by file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from email.parser import HeaderParser
from pathlib import Path

import pytest

from tests.conftest import require, speedups_compiled

ROOT = Path(__file__).resolve().parent.parent
EXTRA_MARKERS = {"extra == 'demo'", "extra == 'dev'", "extra == 'scan'"}


def build(out: Path, *targets: str, **env: str) -> str:
    """Builds the checkout's ``targets`` into ``out``; returns what the build wrote to stderr."""
    pytest.importorskip("hatchling", reason="the dev extra installs the build backend")
    command = [sys.executable, "-m", "hatchling", "build", "-d", str(out)]
    for target in targets:
        command += ["-t", target]
    done = subprocess.run(
        command,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )
    return done.stderr


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("dist")
    build(out, "wheel")
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


def test_the_wheel_carries_the_compiled_scan_and_its_source(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    assert {"consent/_speedups.c", "consent/_speedups.pyi"} <= names
    if shutil.which(sysconfig.get_config_var("CC").split()[0]) is None and not require("speedups"):
        pytest.skip("no C compiler here: the wheel is pure Python")
    extension = "consent/_speedups" + sysconfig.get_config_var("EXT_SUFFIX")
    assert extension in names
    (wheel_info,) = [n for n in names if n.endswith(".dist-info/WHEEL")]
    assert "Root-Is-Purelib: false" in wheel.read(wheel_info).decode()


def test_without_a_compiler_the_build_warns_and_ships_pure_python(tmp_path: Path) -> None:
    stderr = build(tmp_path, "wheel", "sdist", CC="false")
    assert "consent will use its pure-Python rewriter" in stderr
    (built,) = tmp_path.glob("asgi_consent-*-py3-none-any.whl")
    names = zipfile.ZipFile(built).namelist()
    assert "consent/_speedups.c" in names
    assert not [
        n for n in names if n.startswith("consent/_speedups.") and n.endswith((".so", ".pyd"))
    ]
    (sdist,) = tmp_path.glob("asgi_consent-*.tar.gz")
    with tarfile.open(sdist) as archive:
        inside = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    # The sdist builds the extension again where it is installed.
    assert {"consent/_speedups.c", "hatch_build.py", "pyproject.toml"} <= inside
    assert not [n for n in inside if n.endswith((".so", ".pyd"))]


def test_the_extension_compiles_without_a_warning(tmp_path: Path) -> None:
    speedups_compiled(tmp_path)  # with -Werror
    sys.path.insert(0, str(ROOT))
    try:
        import hatch_build
    finally:
        sys.path.remove(str(ROOT))
    assert "-Wall" in hatch_build.FLAGS and "-Wextra" in hatch_build.FLAGS
