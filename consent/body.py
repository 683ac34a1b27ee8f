"""Response bodies as the rewriter needs them: decompressed, and in a known charset."""

from __future__ import annotations

import codecs
import re
import zlib
from typing import Protocol

# A compressed chunk may expand a thousandfold; it is fed to the rewriter in slices this big.
_SLICE = 1 << 20

_META_CHARSET = re.compile(
    rb"<meta\b[^>]{0,256}?charset\s*=\s*[\"']?\s*([A-Za-z0-9._:-]{1,40})", re.IGNORECASE
)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]{1,40})", re.IGNORECASE)


class BodyDecoder(Protocol):
    def probe(self, first: bytes) -> bool: ...
    def peek(self, first: bytes) -> bytes: ...
    def decode(self, data: bytes) -> list[bytes]: ...
    def flush(self) -> bytes: ...


class _ZlibDecoder:
    """gzip, zlib-wrapped deflate and (as servers sometimes send) raw deflate."""

    def __init__(self) -> None:
        self._wbits = zlib.MAX_WBITS | 32  # detects gzip or zlib headers

    def probe(self, first: bytes) -> bool:
        for wbits in (zlib.MAX_WBITS | 32, -zlib.MAX_WBITS):
            try:
                zlib.decompressobj(wbits).decompress(first, 64)
            except zlib.error:
                continue
            self._wbits = wbits
            self._inflater = zlib.decompressobj(wbits)
            return True
        return False

    def peek(self, first: bytes) -> bytes:
        try:
            return zlib.decompressobj(self._wbits).decompress(first, 4096)
        except zlib.error:
            return b""

    def decode(self, data: bytes) -> list[bytes]:
        out = [self._inflater.decompress(data, _SLICE)]
        while self._inflater.unconsumed_tail:
            out.append(self._inflater.decompress(self._inflater.unconsumed_tail, _SLICE))
        return out

    def flush(self) -> bytes:
        return self._inflater.flush()


class _BrotliDecoder:
    def __init__(self) -> None:
        import brotli

        self._brotli = brotli
        self._inflater = brotli.Decompressor()

    def probe(self, first: bytes) -> bool:
        try:
            self._brotli.Decompressor().process(first)
        except self._brotli.error:
            return False
        return True

    def peek(self, first: bytes) -> bytes:
        try:
            return bytes(self._brotli.Decompressor().process(first))[:4096]
        except self._brotli.error:
            return b""

    def decode(self, data: bytes) -> list[bytes]:
        return [bytes(self._inflater.process(data))]

    def flush(self) -> bytes:
        return b""


def decoder_for(content_encoding: str) -> BodyDecoder | None:
    encoding = content_encoding.strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        return _ZlibDecoder()
    if encoding == "br":
        try:
            return _BrotliDecoder()
        except ImportError:
            return None
    return None


def sniff_charset(content_type: str, sample: bytes) -> str | None:
    """The page's charset if we can write it byte-compatibly, else None (pass the page through).

    The header wins, then a <meta> in the first bytes, then UTF-8, as browsers decide.
    """
    match = _HEADER_CHARSET.search(content_type) or None
    name = match.group(1) if match else None
    if name is None:
        meta = _META_CHARSET.search(sample)
        name = meta.group(1).decode("ascii") if meta else "utf-8"
    try:
        info = codecs.lookup(name)
    except LookupError:
        return "utf-8"  # browsers treat unknown labels as the default too
    # Tags are found as ASCII bytes; UTF-16 and UTF-32 pages would need another scanner.
    if "utf-16" in info.name or "utf-32" in info.name or "utf_16" in info.name:
        return None
    return info.name
