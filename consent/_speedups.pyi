from consent.rewriter import Known

SEARCHED: tuple[str, ...]
PLAIN: tuple[str, ...]
FOREIGN: tuple[str, ...]

def scan(
    buf: bytes | bytearray, pos: int, known: Known | None, base: str | None, /
) -> tuple[int, int]: ...
def attrs_end(buf: bytes | bytearray, pos: int, inert: bool = False, /) -> int: ...
def is_inert(buf: bytes | bytearray, pos: int, name: str, /) -> bool: ...
