from collections.abc import Sequence
from types import NotImplementedType
from typing import Literal, overload

from consent.rewriter import HeldTags, Known

SEARCHED: tuple[str, ...]
PLAIN: tuple[str, ...]
FOREIGN: tuple[str, ...]
RAW_TEXT: tuple[str, ...]
FETCH_ATTR: tuple[str, ...]

@overload
def scan(
    buf: bytes | bytearray, pos: int, known: Known | Literal[True] | None, base: str | None, /
) -> tuple[int, int]: ...
@overload
def scan(
    buf: bytes | bytearray,
    pos: int,
    known: Known | Literal[True] | None,
    base: str | None,
    out: list[bytes | bytearray],
    emit: int,
    held_attr: bytes,
    held_tags: HeldTags,
    cap: int,
    body_due: bool,
    raw_noscript: bool,
    body_injection: bytes | None = None,
    settle: bool = False,
    /,
) -> tuple[int, int, int, int, bool]: ...
def attrs_end(buf: bytes | bytearray, pos: int, inert: bool = False, /) -> int: ...
def is_inert(buf: bytes | bytearray, pos: int, name: str, /) -> bool: ...
def index_info() -> tuple[int, int, int, int]: ...
def index_clear() -> None: ...
def parse_attrs(buf: bytes | bytearray, start: int, end: int, /) -> dict[str, str | None]: ...

class Literals:
    def __init__(self, words: Sequence[str], follow: str | None = None, /) -> None: ...
    def search(
        self, text: str, pos: int, endpos: int = ..., /
    ) -> tuple[int, int, int] | NotImplementedType | None: ...
