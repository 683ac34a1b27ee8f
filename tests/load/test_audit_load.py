"""Load test of the receipt store behind real worker processes (bounded, loopback only).

Four ``uvicorn --workers 4`` processes serve a small site wrapped by the middleware; concurrent
clients on keep-alive connections each fetch a page (for the CSRF cookie and token) and post a
decision as the banner's script does. Then the store must hold exactly one receipt per
acknowledged decision and the chain must verify. A second run kills a worker with SIGKILL
half-way: every decision whose ``200`` reached a client must still be stored.

It takes minutes, so it runs only when asked for: ``pytest -m load -s tests/load`` (``-s``
shows the figures) or ``CONSENT_LOAD=1``. ``CONSENT_LOAD_DECISIONS`` (default 20 000),
``CONSENT_LOAD_KILL_DECISIONS`` (the kill run; default the same), ``CONSENT_LOAD_CLIENTS``
(default 64) and ``CONSENT_LOAD_WORKERS`` (default 4) size the runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import pytest

from consent.audit import open_store
from tests.audit.conftest import Backend, new_backend

pytestmark = pytest.mark.load


@pytest.fixture(autouse=True)
def _asked_for(request: pytest.FixtureRequest) -> None:
    expression = str(request.config.getoption("markexpr", ""))
    selected = "load" in expression and "not load" not in expression
    if not selected and os.environ.get("CONSENT_LOAD") != "1":
        pytest.skip("load test: select it with -m load (or set CONSENT_LOAD=1)")


DECISIONS = int(os.environ.get("CONSENT_LOAD_DECISIONS", "20000"))
KILL_DECISIONS = int(os.environ.get("CONSENT_LOAD_KILL_DECISIONS", str(DECISIONS)))
RECYCLE = 8
CLIENTS = int(os.environ.get("CONSENT_LOAD_CLIENTS", "64"))
WORKERS = int(os.environ.get("CONSENT_LOAD_WORKERS", "4"))
AUDIT_KEY = "load-test-audit-key-0123456789abcdef"
SECRET_KEY = "load-test-cookie-secret-0123456789abcdef"
REQUEST_TIMEOUT = 30.0
ROOT = Path(__file__).resolve().parents[2]

APP_MODULE = textwrap.dedent(
    '''
    """The site under load: one HTML page wrapped by the middleware; every response names
    the worker process that answered it."""

    import os

    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, PlainTextResponse
    from starlette.routing import Route

    from consent import ConsentConfig, ConsentMiddleware

    PAGE = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>News</title>"
        "</head><body><h1>Headline</h1><p>Article text.</p></body></html>"
    )


    async def page(request):
        return HTMLResponse(PAGE)


    async def pid(request):
        return PlainTextResponse(str(os.getpid()))


    site = ConsentMiddleware(
        Starlette(routes=[Route("/", page), Route("/pid", pid)]),
        config=ConsentConfig(policy_version="load-test"),  # keys and store from the environment
    )


    async def app(scope, receive, send):
        async def send_naming_the_worker(message):
            if message["type"] == "http.response.start":
                worker = (b"x-worker", str(os.getpid()).encode())
                message = {**message, "headers": [*message.get("headers", []), worker]}
            await send(message)

        await site(scope, receive, send_naming_the_worker)
    '''
)

_TOKEN = re.compile(rb'name="csrf_token" value="([^"]+)"')
_WORKER = re.compile(rb"\r\nx-worker:\s*(\d+)", re.I)
_COOKIE = re.compile(rb"^set-cookie:\s*([^=;\s]+)=([^;\r\n]*)", re.I | re.M)
_ACTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("accept_all", ()),
    ("reject_all", ()),
    ("custom", ("analytics",)),
    ("custom", ("preferences", "marketing")),
    ("close", ()),
)


# ----- the server --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.update(int(p) for p in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def _is_worker(pid: int) -> bool:
    # multiprocessing may add a resource tracker beside the workers; it is not one of them.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"resource_tracker" not in cmdline


class Site:
    """``uvicorn --workers N`` in a subprocess, on a free loopback port."""

    def __init__(
        self, tmp: Path, audit_url: str, *, workers: int = WORKERS, module: str = APP_MODULE
    ) -> None:
        (tmp / "loadsite.py").write_text(module)
        self.port = _free_port()
        self.expected_workers = workers
        env = {
            **os.environ,
            "CONSENT_AUDIT_URL": audit_url,
            "CONSENT_AUDIT_KEY": AUDIT_KEY,
            "CONSENT_SECRET_KEY": SECRET_KEY,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        self.log = (tmp / "uvicorn.log").open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "loadsite:app",
                "--app-dir",
                str(tmp),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=tmp,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def workers(self) -> set[int]:
        return {pid for pid in _children(self.process.pid) if _is_worker(pid)}

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Until every worker has answered at least once."""
        deadline = time.monotonic() + timeout
        seen: set[int] = set()
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {self.process.returncode}")
            try:
                seen.add(int(await _get_text(self.port, "/pid")))
            except (OSError, asyncio.IncompleteReadError, ValueError):
                await asyncio.sleep(0.1)
                continue
            workers = self.workers()
            if len(workers) == self.expected_workers and workers <= seen:
                return
        raise RuntimeError(f"only workers {sorted(seen)} answered within {timeout} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()


async def _get_text(port: int, path: str) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        )
        status, _, body = await asyncio.wait_for(_read_response(reader), 5)
        if status != 200:
            raise ValueError(f"status {status}")
        return body.decode()
    finally:
        writer.close()


# ----- the clients -------------------------------------------------------------------------


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bytes]:
    """Status, raw headers and body of one HTTP/1.1 response (length-delimited or chunked)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    lowered = head.lower()
    match = re.search(rb"\r\ncontent-length:\s*(\d+)", lowered)
    if match is not None:
        return status, head, await reader.readexactly(int(match.group(1)))
    if b"\r\ntransfer-encoding: chunked" in lowered:
        body = bytearray()
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return status, head, bytes(body)
            body += chunk[:-2]
    return status, head, b""


@dataclass
class Tally:
    """What the clients saw."""

    total: int
    next_index: int = 0
    acknowledged: dict[str, str] = field(default_factory=dict)  # receipt_id -> consent_id
    by_worker: Counter[int] = field(default_factory=Counter)  # acknowledgements per process
    unknown: int = 0  # posts cut off by a connection error: stored or not, no one knows
    refused: int = 0  # 503s (nothing stored, by contract) that were retried
    reconnects: int = 0
    failures: list[str] = field(default_factory=list)

    def take(self) -> int | None:
        if self.next_index >= self.total:
            return None
        self.next_index += 1
        return self.next_index - 1


class Client:
    """Every decision by a new visitor, on a keep-alive connection.

    The connection is replaced every ``RECYCLE`` visitors: connections opened all at once
    mostly land on whichever worker wakes first, and fresh ones spread the load over all.
    """

    def __init__(self, port: int, tally: Tally) -> None:
        self.port = port
        self.tally = tally
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.visitors = 0

    async def _exchange(self, request: bytes) -> tuple[int, bytes, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(request)
        return await asyncio.wait_for(_read_response(self.reader), REQUEST_TIMEOUT)

    def _drop(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None
        self.tally.reconnects += 1

    async def _visit(self) -> tuple[str, str]:
        """A page view by a new visitor: their CSRF cookie and the banner's token."""
        self.visitors += 1
        if self.visitors % RECYCLE == 0 and self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None
        for _ in range(100):
            try:
                status, head, body = await self._exchange(
                    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/html\r\n\r\n"
                )
            except (OSError, asyncio.IncompleteReadError, TimeoutError):
                self._drop()  # a page view changes nothing: simply try again
                await asyncio.sleep(0.05)
                continue
            cookies = dict(_COOKIE.findall(head))
            token = _TOKEN.search(body)
            if status != 200 or token is None or b"consent_csrf" not in cookies:
                raise AssertionError(f"page view answered {status} without a CSRF token")
            return cookies[b"consent_csrf"].decode(), token.group(1).decode()
        raise AssertionError("the site stopped answering page views")

    async def run(self) -> None:
        try:
            while (index := self.tally.take()) is not None:
                await self._decide(index)
        finally:
            if self.writer is not None:
                self.writer.close()

    async def _decide(self, index: int) -> None:
        action, chosen = _ACTIONS[index % len(_ACTIONS)]
        fields = [("action", action), ("source", "script"), ("next", f"/news/{index}")]
        fields += [("category", category) for category in chosen]
        for _ in range(50):
            nonce, token = await self._visit()
            body = urlencode([*fields, ("csrf_token", token)]).encode()
            request = (
                b"POST /_consent/decision HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Accept: application/json\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n"
                + f"Cookie: consent_csrf={nonce}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            try:
                status, head, answer = await self._exchange(request)
            except (OSError, asyncio.IncompleteReadError, TimeoutError):
                self._drop()
                self.tally.unknown += 1
                return
            if status == 503:
                self.tally.refused += 1
                await asyncio.sleep(0.05)
                continue
            if status != 200:
                self.tally.failures.append(f"decision {index}: {status} {answer[:200]!r}")
                return
            receipt = json.loads(answer)
            self.tally.acknowledged[receipt["receipt_id"]] = receipt["consent_id"]
            worker = _WORKER.search(head)
            if worker is not None:
                self.tally.by_worker[int(worker.group(1))] += 1
            return
        self.tally.failures.append(f"decision {index}: the store stayed unavailable")


@dataclass
class Run:
    tally: Tally
    clients: int
    workers: int
    seconds: float = 0.0
    killed: int | None = None
    respawned: set[int] = field(default_factory=set)

    @property
    def rate(self) -> float:
        return len(self.tally.acknowledged) / self.seconds


async def drive(
    site: Site, total: int, *, clients: int = CLIENTS, kill_after: int | None = None
) -> Run:
    """Post ``total`` decisions from ``clients`` concurrent clients; optionally SIGKILL one
    worker once ``kill_after`` decisions were acknowledged."""
    tally = Tally(total)
    connections = [Client(site.port, tally) for _ in range(clients)]
    run = Run(tally, clients, site.expected_workers)
    started = time.monotonic()
    tasks = [asyncio.create_task(client.run()) for client in connections]
    if kill_after is not None:
        before = site.workers()
        while len(tally.acknowledged) < kill_after and not all(t.done() for t in tasks):
            await asyncio.sleep(0.01)
        # The busiest worker: the one most likely to be in the middle of writing a receipt.
        run.killed = max(before, key=lambda pid: tally.by_worker[pid])
        os.kill(run.killed, signal.SIGKILL)
    await asyncio.gather(*tasks)
    run.seconds = time.monotonic() - started
    if kill_after is not None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            run.respawned = site.workers() - before
            if run.respawned and len(site.workers()) == site.expected_workers:
                break
            await asyncio.sleep(0.2)
    return run


# ----- the checks --------------------------------------------------------------------------


@dataclass
class Stored:
    receipt_ids: set[str]
    count: int
    verified: bool
    problem: str | None
    verify_seconds: float


async def inspect_store(url: str) -> Stored:
    """What the store holds once the server is stopped: count, ids, and verification."""
    store = open_store(url, AUDIT_KEY)
    try:
        count = await store.count()
        started = time.monotonic()
        report = await store.verify()
        seconds = time.monotonic() - started
        ids = {receipt.receipt_id async for receipt in store.iter_receipts()}
    finally:
        await store.close()
    return Stored(
        ids, count, report.ok, report.problem.describe() if report.problem else None, seconds
    )


def _report(kind: str, label: str, run: Run, stored: Stored) -> None:
    tally = run.tally
    print(
        f"\n[load] {kind} {label}: {run.workers} workers, {run.clients} clients, "
        f"{len(tally.acknowledged)} acknowledged of {tally.total} in {run.seconds:.1f} s "
        f"({run.rate:.0f} decisions/s); {tally.unknown} cut off, {tally.refused} 503s retried, "
        f"{tally.reconnects} reconnects; stored {stored.count}; verify "
        f"{'ok' if stored.verified else 'FAILED'} in {stored.verify_seconds:.2f} s"
        + f"; acknowledged per worker {dict(sorted(tally.by_worker.items()))}"
        + (f"; killed worker {run.killed}, respawned {sorted(run.respawned)}" if run.killed else "")
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    created = new_backend(request.param, tmp_path)
    yield created
    created.drop()


@pytest.fixture
def site(backend: Backend, tmp_path: Path) -> Iterator[Site]:
    served = Site(tmp_path, backend.url)
    try:
        asyncio.run(served.wait_ready())
        yield served
    finally:
        served.stop()


def test_every_decision_gets_exactly_one_receipt(site: Site, backend: Backend) -> None:
    run = asyncio.run(drive(site, DECISIONS))
    site.stop()  # nothing is written after this point
    stored = asyncio.run(inspect_store(backend.url))
    _report(backend.kind, "clean run", run, stored)

    assert run.tally.failures == []
    assert run.tally.unknown == 0
    assert len(run.tally.acknowledged) == DECISIONS
    assert len(run.tally.by_worker) == run.workers, "every worker process wrote receipts"
    assert stored.count == DECISIONS
    assert stored.receipt_ids == set(run.tally.acknowledged)
    assert stored.verified, stored.problem


def test_a_worker_killed_mid_run_loses_no_acknowledged_decision(
    site: Site, backend: Backend
) -> None:
    run = asyncio.run(drive(site, KILL_DECISIONS, kill_after=KILL_DECISIONS // 3))
    respawned = run.respawned
    site.stop()
    stored = asyncio.run(inspect_store(backend.url))
    _report(backend.kind, "SIGKILL run", run, stored)

    assert run.killed is not None
    assert run.tally.by_worker[run.killed] > 0, "the killed worker was serving decisions"
    assert respawned, "the uvicorn supervisor should have started a new worker"
    assert run.tally.failures == []
    acknowledged = set(run.tally.acknowledged)
    assert acknowledged <= stored.receipt_ids, "an acknowledged decision is missing"
    # Only a post cut off by the kill may have left a receipt nobody saw.
    assert stored.count - len(acknowledged) <= run.tally.unknown
    assert len(acknowledged) + run.tally.unknown == KILL_DECISIONS
    assert stored.verified, stored.problem
