"""What a decision post means: validation of its fields and the categories it grants.

Pure functions, no I/O: the HTTP layer turns a `DecisionError` into its status code.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from consent.names import (
    ACTION_ACCEPT_ALL,
    ACTION_CLOSE,
    ACTION_CUSTOM,
    ACTION_CUSTOMIZE,
    ACTION_REJECT_ALL,
    DECISION_ACTIONS,
)

KNOWN_SOURCES = frozenset(
    {"banner", "banner_preferences", "preferences_page", "script", "placeholder", "optout"}
)
_MAX_NEXT = 2048
_UNSAFE_NEXT = re.compile(r"[\x00-\x20\x7f\\]")


class DecisionError(ValueError):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Choice:
    action: str
    granted: frozenset[str]
    refused: frozenset[str]
    source: str


def parse_choice(
    fields: Sequence[tuple[str, str]],
    *,
    categories: Sequence[str],
    required: frozenset[str],
    refused_by_signal: frozenset[str] = frozenset(),
) -> Choice:
    """Interpret the posted fields; refuses anything ambiguous rather than guessing."""
    actions = [value for key, value in fields if key == "action"]
    if len(actions) != 1:
        raise DecisionError(400, "exactly one action is required")
    action = actions[0]
    if action == ACTION_CUSTOMIZE:
        # Not a decision: the no-script path to the preferences page.
        return Choice(action, frozenset(), frozenset(), "banner")
    if action not in DECISION_ACTIONS:
        raise DecisionError(400, "unknown action")
    known = set(categories)
    chosen: list[str] = []
    if action == ACTION_CUSTOM:
        chosen = [value for key, value in fields if key == "category"]
        if any(c not in known for c in chosen):
            raise DecisionError(400, "unknown category")
    # Otherwise the button decides: a form submits its ticked boxes with every button, and
    # "Reject all" must work without unticking them first.
    optional = known - required
    if action == ACTION_ACCEPT_ALL:
        granted = set(optional)
    elif action in (ACTION_REJECT_ALL, ACTION_CLOSE):
        granted = set()
    else:
        granted = set(chosen) & optional
    granted -= refused_by_signal
    granted |= required
    sources = [value for key, value in fields if key == "source"]
    source = sources[0] if sources and sources[0] in KNOWN_SOURCES else "form"
    return Choice(action, frozenset(granted), frozenset(known - granted), source)


def safe_next(candidate: str | None, home: str = "/") -> str:
    """A same-site path to return to, or `home` for anything that could leave the site.

    The answer is always a path without scheme or host, so a redirect to it stays on the
    origin the browser used (https behind a proxy). `home` is "/" under the mount point.
    """
    if not candidate or len(candidate) > _MAX_NEXT or _UNSAFE_NEXT.search(candidate):
        return home
    if not candidate.startswith("/") or candidate.startswith("//"):
        return home
    parts = urlsplit(candidate)
    if parts.scheme or parts.netloc:
        return home
    return candidate
