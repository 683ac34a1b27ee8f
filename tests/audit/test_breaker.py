"""The circuit breaker around appends: an outage costs one timeout, not one per visitor."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import suppress
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from consent import ConsentConfig, ConsentMiddleware
from consent.audit.breaker import CircuitBreaker, CircuitOpen
from tests.audit.conftest import Backend
from tests.conftest import SECRET, page_app

CONCURRENT = 50
TIMEOUT = 2.0  # the store's lock or connection timeout in these tests


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def state(breaker: CircuitBreaker) -> str:
    """Read afresh each time (a plain attribute read would be narrowed by the checker)."""
    return breaker.state


def test_the_first_failure_opens_and_one_probe_goes_through_alone() -> None:
    clock = Clock()
    breaker = CircuitBreaker(base_delay=1.0, max_delay=4.0, clock=clock)
    queued = breaker.admit()
    failing = breaker.admit()
    breaker.failed(failing)
    assert state(breaker) == "open"
    with pytest.raises(CircuitOpen):
        breaker.check(queued)  # waited behind the failing call: refused without trying
    breaker.failed(queued)  # a late failure of the same outage changes nothing
    probe = breaker.admit()  # the first probe right away
    assert state(breaker) == "half-open"
    with pytest.raises(CircuitOpen):
        breaker.admit()  # only one probe at a time
    breaker.check(probe)
    breaker.failed(probe)
    for delay in (1.0, 2.0, 4.0, 4.0):  # failed probes back off, doubling up to the maximum
        with pytest.raises(CircuitOpen):
            breaker.admit()
        assert breaker.retry_after() == pytest.approx(delay)
        clock.now += delay
        breaker.failed(breaker.admit())
    clock.now += 4.0
    breaker.admit()
    breaker.succeeded()
    assert state(breaker) == "closed" and breaker.retry_after() == 0
    breaker.check(breaker.admit())


def test_an_abandoned_probe_frees_its_slot() -> None:
    clock = Clock()
    breaker = CircuitBreaker(clock=clock)
    breaker.failed(breaker.admit())
    probe = breaker.admit()
    breaker.abandoned(probe)  # e.g. the visitor went away while the probe waited
    assert state(breaker) == "open"
    breaker.admit()
    assert state(breaker) == "half-open"


# -- a whole site while its store is down -----------------------------------------------------


class Outage:
    """Takes the backend's store down and brings it back, as an operator would see it."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.url = backend.url
        self._holder: sqlite3.Connection | None = None
        self._server: asyncio.Server | None = None
        self._up = True
        self._links: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        if self.backend.kind == "postgres":
            # A relay in front of the real server: "down" closes every connection at once
            # and drops new ones, as a server that stopped accepting does.
            parts = urlsplit(self.backend.url)
            self._target = (parts.hostname or "127.0.0.1", parts.port or 5432)
            self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
            port = self._server.sockets[0].getsockname()[1]
            netloc = f"{parts.username}@127.0.0.1:{port}" if parts.username else f"127.0.0.1:{port}"
            self.url = urlunsplit(parts._replace(netloc=netloc))

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._up:
            writer.close()
            return
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        self._links.update({writer, upstream_writer})

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with suppress(OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pump(reader, upstream_writer), pump(upstream_reader, writer))

    def down(self) -> None:
        if self.backend.kind == "sqlite":
            assert self.backend.path is not None
            # Another process holding the write lock (a stuck job, a backup tool).
            self._holder = sqlite3.connect(self.backend.path, isolation_level=None)
            self._holder.execute("BEGIN EXCLUSIVE")
        else:
            self._up = False
            for link in self._links:
                link.close()
            self._links.clear()

    def up(self) -> None:
        if self._holder is not None:
            self._holder.execute("ROLLBACK")
            self._holder.close()
            self._holder = None
        self._up = True

    async def stop(self) -> None:
        self.up()
        if self._server is not None:
            self._server.close()
            for link in self._links:
                link.close()


@pytest.fixture
async def outage(backend: Backend) -> AsyncIterator[Outage]:
    created = Outage(backend)
    await created.start()
    yield created
    await created.stop()


async def test_fifty_decisions_during_an_outage_all_fail_fast_and_the_site_recovers(
    outage: Outage,
) -> None:
    config = ConsentConfig(
        secret_key=SECRET,
        audit_url=outage.url,
        audit_key="audit-key-for-tests-0123456789",
        audit_timeout=TIMEOUT,
    )
    app = ConsentMiddleware(page_app(), config=config)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        page = await client.get("/")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        form = {"action": "accept_all", "csrf_token": token.group(1)}
        json_accept = {"accept": "application/json"}

        outage.down()
        started = time.monotonic()
        answers = await asyncio.wait_for(
            asyncio.gather(
                *(client.post("/_consent/decision", data=form) for _ in range(CONCURRENT))
            ),
            timeout=60,
        )
        elapsed = time.monotonic() - started
        assert [answer.status_code for answer in answers] == [503] * CONCURRENT
        assert not any(
            value.startswith("consent=")
            for answer in answers
            for value in answer.headers.get_list("set-cookie")
        )
        # Before the breaker these queued: the N-th answer came after N timeouts (100 s here).
        assert elapsed < 10, f"{CONCURRENT} decisions took {elapsed:.1f} s to be refused"

        during = await client.get("/")
        assert during.status_code == 200 and during.headers["x-consent-decided"] == "False"

        outage.up()
        deadline = time.monotonic() + 15
        while True:
            answer = await client.post("/_consent/decision", data=form, headers=json_accept)
            if answer.status_code == 200 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert answer.status_code == 200, answer.text
        assert answer.json()["receipt_id"]
        after = await client.get("/")
        assert after.headers["x-consent-decided"] == "True"
    await app.runtime.close()
