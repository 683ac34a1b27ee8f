"""Google Consent Mode states, read from the parameters Google tags add to their requests.

``gcs`` is ``G1`` followed by one digit for ``ad_storage`` and one for ``analytics_storage``
(1 granted, 0 denied). ``gcd`` carries four signals, each a letter between digits
(``11l1l1l1l5``): ``ad_storage``, ``analytics_storage``, ``ad_user_data``,
``ad_personalization``. Its letter says what the default and any update were; only the
resulting state matters here.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import parse_qs, urlsplit

GRANTED: Final = "granted"
DENIED: Final = "denied"

_GCS = re.compile(r"G1([01])([01])")
_GCD = re.compile(r"\d{2}([a-z])\d([a-z])\d([a-z])\d([a-z])\d.*")
_GCD_SIGNALS: Final = ("ad_storage", "analytics_storage", "ad_user_data", "ad_personalization")
# The state each letter ends in: granted by default or by update (t, r, n, v), denied by
# default or by update (p, q, m, u); l means the signal was never set, and is left out.
_GCD_LETTERS: Final = {
    "t": GRANTED,
    "r": GRANTED,
    "n": GRANTED,
    "v": GRANTED,
    "p": DENIED,
    "q": DENIED,
    "m": DENIED,
    "u": DENIED,
}


def parse_gcs(value: str) -> dict[str, str]:
    found = _GCS.fullmatch(value.strip())
    if found is None:
        return {}
    state = {"1": GRANTED, "0": DENIED}
    return {"ad_storage": state[found.group(1)], "analytics_storage": state[found.group(2)]}


def parse_gcd(value: str) -> dict[str, str]:
    found = _GCD.fullmatch(value.strip())
    if found is None:
        return {}
    signals: dict[str, str] = {}
    for name, letter in zip(_GCD_SIGNALS, found.groups(), strict=True):
        if letter in _GCD_LETTERS:
            signals[name] = _GCD_LETTERS[letter]
    return signals


def consent_mode_of(url: str) -> tuple[str, str, dict[str, str]] | None:
    """``(gcs, gcd, signals)`` of a request that carries either parameter; ``gcd`` wins where
    both name a signal, since it is the newer and says more."""
    query = urlsplit(url).query
    if "gcs=" not in query and "gcd=" not in query:
        return None
    params = parse_qs(query)
    gcs = params.get("gcs", [""])[0]
    gcd = params.get("gcd", [""])[0]
    signals = {**parse_gcs(gcs), **parse_gcd(gcd)}
    return gcs, gcd, signals
