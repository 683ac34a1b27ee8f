"""A circuit breaker around store writes, so an outage costs visitors one timeout, not a queue.

Without it, decisions arriving while the database is down each wait out the full lock or
connection timeout, and they wait one after another (one SQLite thread, one PostgreSQL setup
lock): the N-th visitor hears "503" after N timeouts. The breaker opens at the first failure
and refuses at once the calls that were queued behind the failing one. Then it lets a single
probe through (half-open) while refusing everything else: the first probe right away, since
one failure may be a passing lock timeout, later ones after a back-off that doubles with each
failed probe (1, 2, 4 ... 30 s). A probe's success closes the circuit.

The state is read from the event loop and from the SQLite store's thread, hence the lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

from consent.audit.model import AuditUnavailable

State = Literal["closed", "open", "half-open"]


class CircuitOpen(AuditUnavailable):
    """Refused without trying: the store failed recently and its back-off has not run out."""


class CircuitBreaker:
    def __init__(
        self,
        *,
        base_delay: float = 1.0,
        max_delay: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._clock = clock
        self._lock = threading.Lock()
        self._state: State = "closed"
        self._delay = base_delay
        self._retry_at = 0.0
        # Bumped at every opening: a call admitted before it knows the store failed since.
        self._generation = 0
        self._probe: int | None = None  # generation of the probe in flight, if any

    @property
    def state(self) -> State:
        return self._state

    def retry_after(self) -> float:
        """Seconds until a probe may go through (0 when closed)."""
        with self._lock:
            if self._state == "closed":
                return 0.0
            return max(0.0, self._retry_at - self._clock())

    def admit(self) -> int:
        """Let a call through, or raise :class:`CircuitOpen`; returns the call's ticket."""
        with self._lock:
            if self._state == "closed":
                return self._generation
            if self._state == "open" and self._clock() >= self._retry_at:
                self._state = "half-open"
                self._probe = self._generation
                return self._generation
            raise CircuitOpen(
                f"the audit store failed recently; next attempt in "
                f"{max(0.0, self._retry_at - self._clock()):.1f} s"
            )

    def check(self, ticket: int) -> None:
        """Raise :class:`CircuitOpen` if the store failed after ``ticket`` was admitted.

        Called right before the slow part (taking the lock, connecting): a call that queued
        behind the failing one gives up at once instead of waiting out its own timeout.
        """
        with self._lock:
            if self._state == "closed" or ticket == self._generation:
                return
        raise CircuitOpen("the audit store failed while this call was waiting")

    def succeeded(self) -> None:
        with self._lock:
            self._state = "closed"
            self._delay = self._base_delay
            self._probe = None

    def failed(self, ticket: int) -> None:
        with self._lock:
            if ticket != self._generation:
                return  # a call admitted before the last opening: that outage is counted
            now = self._clock()
            if self._state == "half-open":
                self._retry_at = now + self._delay
                self._delay = min(self._delay * 2, self._max_delay)
            else:
                # One failure may be a passing lock timeout: the next call probes at once
                # (alone; calls already queued are refused). Failed probes back off.
                self._retry_at = now
            self._state = "open"
            self._generation += 1
            self._probe = None

    def abandoned(self, ticket: int) -> None:
        """A call ended without an answer from the store (cancelled): free the probe slot."""
        with self._lock:
            if self._state == "half-open" and self._probe == ticket:
                self._state = "open"
                self._probe = None
                self._retry_at = self._clock()
