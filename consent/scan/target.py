"""What a scan looks at: an ASGI app served on a loopback port for the scan, or a URL."""

from __future__ import annotations

import importlib
import os
import socket
import sys
import threading
import time
from typing import Any

from consent.config import ConsentConfig
from consent.errors import ConsentError

STARTUP_LIMIT_S = 30.0


class ScanSetupError(ConsentError):
    """The scan cannot start: a target, a browser or a package is missing (exit status 2)."""


def is_url(target: str) -> bool:
    return target.startswith(("http://", "https://"))


def load_app(spec: str, *, factory: bool) -> Any:
    """``module:attribute`` imported from the current directory, as uvicorn does; with
    ``factory`` the attribute is called without arguments and its result is served."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ScanSetupError(f"{spec!r}: give an app as module:attribute, or an http(s) URL")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ScanSetupError(f"cannot import {module_name!r}: {exc}") from exc
    app: Any = module
    for name in attribute.split("."):
        if not hasattr(app, name):
            raise ScanSetupError(f"{module_name!r} has no attribute {attribute!r}")
        app = getattr(app, name)
    if factory:
        app = app()
    if not callable(app):
        raise ScanSetupError(f"{spec!r} is not an ASGI application (pass --factory for a factory)")
    return app


def config_of(app: Any) -> ConsentConfig | None:
    """The consent configuration an app is wrapped with, found without importing the
    middleware: a wrapper that keeps it as ``config``, or a Starlette ``Middleware`` entry."""
    seen: set[int] = set()
    current = app
    for _ in range(32):
        if current is None or id(current) in seen:
            return None
        seen.add(id(current))
        config = getattr(current, "config", None)
        if isinstance(config, ConsentConfig):
            return config
        for entry in getattr(current, "user_middleware", None) or ():
            config = getattr(entry, "kwargs", {}).get("config")
            if isinstance(config, ConsentConfig):
                return config
        current = getattr(current, "app", None)
    return None


class LoopbackServer:
    """The app served by uvicorn on 127.0.0.1, in a thread of this process, for the scan."""

    def __init__(self, app: Any) -> None:
        try:
            import uvicorn
        except ImportError as exc:
            raise ScanSetupError(
                "serving an app needs uvicorn: pip install 'asgi-consent[scan]'"
            ) from exc
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, name="consent-scan-server", daemon=True
        )

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        deadline = time.monotonic() + STARTUP_LIMIT_S
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise ScanSetupError("the app did not start; see the server's messages above")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
