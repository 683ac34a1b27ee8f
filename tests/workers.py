"""What each pytest worker keeps to itself when the suite runs in parallel (``pytest -n 2``):
its own loopback ports and its own PostgreSQL database.

A worker is named by pytest-xdist in ``PYTEST_XDIST_WORKER`` (``gw0``, ``gw1``, ...); a run
without workers behaves as before, on the database it is given.
"""

from __future__ import annotations

import itertools
import os
import socket
from urllib.parse import urlsplit, urlunsplit

# Ports are dealt from below Linux's ephemeral range (32768 and up), where neither the kernel's
# own choice for a new connection nor another worker's server can take a port between the
# moment it is found free and the moment a server listens on it.
_FIRST_PORT = 20000
_PORTS_PER_WORKER = 1000
_WORKER_SLOTS = 12


def worker_name() -> str:
    """``gw0``, ``gw1``, ... under pytest-xdist; empty in a run without workers."""
    return os.environ.get("PYTEST_XDIST_WORKER", "")


def _worker_index() -> int:
    name = worker_name()
    return int(name[2:]) if name.startswith("gw") and name[2:].isdigit() else 0


def _candidates() -> itertools.cycle[int]:
    first = _FIRST_PORT + (_worker_index() % _WORKER_SLOTS) * _PORTS_PER_WORKER
    # Started apart by process, so that two runs at once rarely try the same ports.
    start = os.getpid() % _PORTS_PER_WORKER
    ports = range(first, first + _PORTS_PER_WORKER)
    return itertools.cycle([*ports[start:], *ports[:start]])


_ports = _candidates()


def free_port() -> int:
    """A loopback port nothing listens on, from this worker's own range."""
    for _ in range(_PORTS_PER_WORKER):
        port = next(_ports)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port in this worker's range")


DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
POSTGRES_URL_VARIABLE = "CONSENT_TEST_POSTGRES_URL"


def worker_database_url(url: str, worker: str) -> str:
    """``url`` with its database name suffixed by the worker's: ``.../test`` -> ``.../test_gw0``."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "postgres"
    return urlunsplit(parts._replace(path=f"/{name}_{worker}"))


def _database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def create_worker_database(url: str) -> str | None:
    """Creates this worker's own empty database beside ``url``'s and returns its URL; None
    when PostgreSQL cannot be reached (its tests then skip, or fail where they must).

    A database left by an earlier run that stopped half-way is dropped first. One that another
    run is still using is not: dropping it would break that run, so this one stops instead.
    """
    import psycopg

    mine = worker_database_url(url, worker_name())
    name = _database_name(mine)
    try:
        admin = psycopg.connect(url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        return None
    with admin:
        try:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        except psycopg.errors.ObjectInUse as exc:
            raise RuntimeError(f"another test run is using the database {name}") from exc
        admin.execute(f'CREATE DATABASE "{name}"')
    return mine


def drop_worker_database(url: str, mine: str) -> None:
    """Drops the worker's database at the end of its run, with any connection left open."""
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=3) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{_database_name(mine)}" WITH (FORCE)')
