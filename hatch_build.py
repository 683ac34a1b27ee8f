"""Build hook: compiles the rewriter's optional C extension, ``consent/_speedups.c``.

With a C compiler and Python's headers the wheel carries the extension (an editable install
builds it next to its source); without them, or when the compile fails, the build goes on
with a warning and the package runs its pure-Python rewriter, which gives the same output.
``CONSENT_NO_COMPILE=1`` skips the compile; ``CC`` names the compiler.
"""

import os
import shlex
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = Path("consent") / "_speedups.c"
FLAGS = ["-O2", "-fPIC", "-Wall", "-Wextra", "-std=c11"]


def _warn(message: str) -> None:
    print(f"WARNING: {message}; consent will use its pure-Python rewriter", file=sys.stderr)


def _link_command() -> list[str]:
    compiler = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    shared = sysconfig.get_config_var("LDSHARED") or ""
    # LDSHARED starts with the compiler Python was built with; keep only its linker flags.
    flags = [f for f in shlex.split(shared)[1:] if f.startswith(("-shared", "-bundle", "-undef"))]
    if sys.platform == "darwin" and "-bundle" not in flags:
        flags = ["-bundle", "-undefined", "dynamic_lookup"]
    return [*shlex.split(compiler), *(flags or ["-shared"])]


def compile_extension(root: Path, target: Path) -> bool:
    """Compiles the extension to ``target``; False, with a warning, when that cannot be done."""
    include = sysconfig.get_paths()["include"]
    command = [*_link_command(), *FLAGS, f"-I{include}", str(root / SOURCE), "-o", str(target)]
    try:
        # The compiler named by CC or by the Python build, as any extension build runs it.
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)  # noqa: S603
    except (OSError, subprocess.SubprocessError) as exc:
        _warn(f"the C extension could not be compiled ({exc})")
        return False
    if done.returncode != 0:
        _warn(f"the C extension did not compile:\n{done.stderr.strip()}")
        return False
    if done.stderr.strip():
        print(done.stderr, file=sys.stderr)
    return True


class SpeedupsHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or os.environ.get("CONSENT_NO_COMPILE"):
            return
        root = Path(self.root)
        name = "_speedups" + (sysconfig.get_config_var("EXT_SUFFIX") or ".so")
        if version == "editable":
            # The editable install imports the source tree: the extension goes beside it.
            compile_extension(root, root / "consent" / name)
            return
        built = Path(tempfile.mkdtemp(prefix="consent-build-")) / name
        if compile_extension(root, built):
            build_data["force_include"][str(built)] = f"consent/{name}"
            build_data["pure_python"] = False
            build_data["infer_tag"] = True
