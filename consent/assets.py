"""The browser files, served under content-hashed names so they can be cached for a year."""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from consent.names import BROWSER_NAMES

_STATIC_DIR = Path(__file__).resolve().parent / "static"
# Replaced in the scripts by every name they share with Python (see consent.names).
NAMES_PLACEHOLDER = b"__CONSENT_NAMES__"
_MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


@dataclass(frozen=True, slots=True)
class Asset:
    logical_name: str  # "consent.js"
    hashed_name: str  # "consent.3f2a9c1d.js"
    body: bytes
    gzipped: bytes
    media_type: str
    etag: str


@cache
def assets() -> dict[str, Asset]:
    """Every shipped asset, keyed by its hashed file name."""
    found: dict[str, Asset] = {}
    for path in sorted(_STATIC_DIR.iterdir()):
        if path.suffix not in _MEDIA_TYPES:
            continue
        body = path.read_bytes()
        if path.suffix == ".js":
            names = json.dumps(BROWSER_NAMES, separators=(",", ":"), sort_keys=True)
            body = body.replace(NAMES_PLACEHOLDER, names.encode())
        digest = hashlib.sha256(body).hexdigest()[:12]
        hashed = f"{path.stem}.{digest}{path.suffix}"
        found[hashed] = Asset(
            logical_name=path.name,
            hashed_name=hashed,
            body=body,
            gzipped=gzip.compress(body, compresslevel=9, mtime=0),
            media_type=_MEDIA_TYPES[path.suffix],
            etag=f'"{digest}"',
        )
    return found


@cache
def hashed_name(logical_name: str) -> str:
    for asset in assets().values():
        if asset.logical_name == logical_name:
            return asset.hashed_name
    raise KeyError(logical_name)
