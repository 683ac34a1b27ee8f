"""A real deployment on loopback: Debian's nginx terminating TLS in front of uvicorn.

Both run as separate processes, as in production. nginx is started as the current user with
its configuration, pid file, logs and temporary files in a fresh directory, and a certificate
made for the test with the openssl command line. When nginx or openssl is missing the tests
skip, except where CONSENT_REQUIRE_NGINX=1 or CONSENT_REQUIRE_BROWSER=1 (CI), where they fail.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.browser.conftest import browser, chromium_path
from tests.conftest import require
from tests.deploy.app import ENV_DB, ENV_PUBLIC_ORIGIN
from tests.workers import free_port

__all__ = ["browser", "chromium_path"]

ROOT = Path(__file__).resolve().parents[2]


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}: {log.read_text()[-2000:]}")


def _tool(name: str, *candidates: str) -> str:
    path = shutil.which(name) or next((c for c in candidates if Path(c).is_file()), None)
    if path is None:
        reason = f"{name} is not installed (make test installs it as root)"
        if require("nginx") or require("browser"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@dataclass
class Upstream:
    """One uvicorn process serving tests/deploy/app.py."""

    port: int
    db: Path
    process: subprocess.Popen[bytes]


@dataclass
class Deployment:
    """The public https addresses and the stores behind them."""

    proxied: str  # https://127.0.0.1:PORT/news: forwarded headers trusted, mounted at /news
    proxied_db: Path
    direct: str  # https://127.0.0.1:PORT: no forwarded headers, public_origin configured
    direct_db: Path
    bare: str  # https://127.0.0.1:PORT: neither forwarded headers nor public_origin
    bare_db: Path


def _uvicorn(
    tmp: Path,
    started: list[subprocess.Popen[bytes]],
    name: str,
    *args: str,
    public_origin: str = "",
) -> Upstream:
    port = free_port()
    db = tmp / f"{name}.db"
    log = tmp / f"{name}.log"
    env = {**os.environ, ENV_DB: str(db), ENV_PUBLIC_ORIGIN: public_origin}
    env.pop("FORWARDED_ALLOW_IPS", None)
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "tests.deploy.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        *args,
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
    started.append(process)
    _wait_for_port(port, process, log)
    return Upstream(port, db, process)


def _certificate(tmp: Path) -> tuple[Path, Path]:
    openssl = _tool("openssl", "/usr/bin/openssl")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


_NGINX_CONF = """
{user}
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 128; }}
http {{
    access_log {tmp}/nginx-access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    ssl_certificate {cert};
    ssl_certificate_key {key};

    # The site mounted under /news: uvicorn trusts this proxy's X-Forwarded-* headers and
    # runs with --root-path /news; nginx strips the prefix before passing the request on.
    server {{
        listen 127.0.0.1:{proxied_port} ssl;
        location /news/ {{
            proxy_pass http://127.0.0.1:{proxied_upstream}/;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}

    # The site at the root, uvicorn told nothing about the proxy: public_origin says it all.
    server {{
        listen 127.0.0.1:{direct_port} ssl;
        location / {{
            proxy_pass http://127.0.0.1:{direct_upstream};
            proxy_set_header Host $http_host;
        }}
    }}

    # Nothing configured at all: only what the browser says about the request is left.
    server {{
        listen 127.0.0.1:{bare_port} ssl;
        location / {{
            proxy_pass http://127.0.0.1:{bare_upstream};
            proxy_set_header Host $http_host;
        }}
    }}
}}
"""


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    nginx = _tool("nginx", "/usr/sbin/nginx")
    tmp = tmp_path_factory.mktemp("deploy")
    cert, key = _certificate(tmp)
    proxied_port, direct_port, bare_port = free_port(), free_port(), free_port()
    direct_origin = f"https://127.0.0.1:{direct_port}"
    started: list[subprocess.Popen[bytes]] = []
    try:
        upstreams = [
            _uvicorn(
                tmp,
                started,
                "proxied",
                "--proxy-headers",
                "--forwarded-allow-ips",
                "127.0.0.1",
                "--root-path",
                "/news",
            ),
            _uvicorn(tmp, started, "direct", "--no-proxy-headers", public_origin=direct_origin),
            _uvicorn(tmp, started, "bare", "--no-proxy-headers"),
        ]
        # As root, nginx would hand its workers to "nobody", who cannot write in this directory.
        user = ""
        if os.geteuid() == 0:
            user = f"user {pwd.getpwuid(0).pw_name} {grp.getgrgid(0).gr_name};"
        conf = tmp / "nginx.conf"
        conf.write_text(
            _NGINX_CONF.format(
                user=user,
                tmp=tmp,
                cert=cert,
                key=key,
                proxied_port=proxied_port,
                proxied_upstream=upstreams[0].port,
                direct_port=direct_port,
                direct_upstream=upstreams[1].port,
                bare_port=bare_port,
                bare_upstream=upstreams[2].port,
            )
        )
        log = tmp / "nginx-error.log"
        log.touch()
        proxy = subprocess.Popen(
            [nginx, "-p", str(tmp), "-c", str(conf), "-e", str(log), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        started.append(proxy)
        _wait_for_port(proxied_port, proxy, log)
        _wait_for_port(direct_port, proxy, log)
        _wait_for_port(bare_port, proxy, log)
        yield Deployment(
            proxied=f"https://127.0.0.1:{proxied_port}/news",
            proxied_db=upstreams[0].db,
            direct=direct_origin,
            direct_db=upstreams[1].db,
            bare=f"https://127.0.0.1:{bare_port}",
            bare_db=upstreams[2].db,
        )
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
