"""Response bodies as the rewriter needs them, and back as the browser expects them.

The rewriter reads bytes in an ASCII-compatible encoding. This module gets a body there and
back: it inflates a compressed body in bounded slices and compresses the rewritten output again
with the same ``Content-Encoding``, and it reads a page's encoding as browsers do (the WHATWG
encoding sniffing rules) so that a body the rewriter cannot read as bytes (UTF-16, ISO-2022-JP)
is decoded for it and encoded back, instead of being passed through unprotected.
"""

from __future__ import annotations

import codecs
import functools
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

# Inflated output reaches the rewriter in slices of at most this size, so one small compressed
# chunk never becomes one huge buffer.
SLICE = 1 << 16
_INPUT_SLICE = 1 << 14
# A body may inflate this much whatever its compressed size; beyond it, every compressed byte
# may stand for at most RATIO bytes of page. Real HTML compresses far less than a thousandfold;
# a decompression bomb (a few hundred bytes of brotli for 100 MB of page) does not.
INFLATE_FLOOR = 8 << 20
INFLATE_RATIO = 1000
# Streamed re-compression favours speed and a small window over the last percent of size.
_GZIP_LEVEL = 6
_BROTLI_QUALITY = 5
_BROTLI_WINDOW = 18  # 256 KiB

PRESCAN_BYTES = 1024


class BodyTooLarge(Exception):
    """The inflated body outgrew what its compressed size can honestly stand for."""


# ----- content encodings ---------------------------------------------------------------------


class _Inflater(Protocol):
    def inflate(self, data: bytes, limit: int) -> bytes:
        """At most ``limit`` bytes; input not yet inflated stays inside."""

    def pending(self) -> bool:
        """Whether inflated output is waiting to be read without new input."""


class _Deflater(Protocol):
    def compress(self, data: bytes) -> bytes: ...
    def flush(self) -> bytes: ...
    def finish(self) -> bytes: ...


class _ZlibInflater:
    def __init__(self, wbits: int) -> None:
        self._z = zlib.decompressobj(wbits)
        self._full = False

    def inflate(self, data: bytes, limit: int) -> bytes:
        if self._z.eof:
            return b""  # browsers ignore what follows the end of the stream
        if not data:
            data = self._z.unconsumed_tail
        out = self._z.decompress(data, limit)
        # A full slice may leave output inside zlib even when all input was taken.
        self._full = len(out) == limit
        return out

    def pending(self) -> bool:
        return not self._z.eof and (self._full or bool(self._z.unconsumed_tail))


class _ZlibDeflater:
    def __init__(self, wbits: int) -> None:
        self._z = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, wbits)

    def compress(self, data: bytes) -> bytes:
        return self._z.compress(data)

    def flush(self) -> bytes:
        return self._z.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        return self._z.flush(zlib.Z_FINISH)


class _BrotliInflater:
    def __init__(self, brotli: Any) -> None:
        self._d = brotli.Decompressor()
        self._full = False

    def inflate(self, data: bytes, limit: int) -> bytes:
        if self._d.is_finished():
            return b""
        out = bytes(self._d.process(data, output_buffer_limit=limit))
        # can_accept_more_data() may say yes while output still waits: a full slice means more.
        self._full = len(out) >= limit
        return out

    def pending(self) -> bool:
        if self._d.is_finished():
            return False
        return self._full or not self._d.can_accept_more_data()


class _BrotliDeflater:
    def __init__(self, brotli: Any) -> None:
        self._c = brotli.Compressor(
            mode=brotli.MODE_TEXT, quality=_BROTLI_QUALITY, lgwin=_BROTLI_WINDOW
        )

    def compress(self, data: bytes) -> bytes:
        return bytes(self._c.process(data)) if data else b""

    def flush(self) -> bytes:
        return bytes(self._c.flush())

    def finish(self) -> bytes:
        return bytes(self._c.finish())


def _brotli() -> Any:
    try:
        import brotli
    except ImportError:
        return None
    return brotli


class BodyDecoder:
    """Inflates one response body in slices and compresses the rewritten body the same way.

    ``probe`` settles the format on the first bytes; a body that is not what its
    ``Content-Encoding`` says is not touched at all.
    """

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._wbits = zlib.MAX_WBITS | 16 if encoding == "gzip" else zlib.MAX_WBITS
        self._inflater: _Inflater | None = None
        self._deflater: _Deflater | None = None
        self._read = 0
        self._written = 0

    def _new_inflater(self) -> _Inflater:
        if self.encoding == "br":
            return _BrotliInflater(_brotli())
        return _ZlibInflater(self._wbits)

    def probe(self, first: bytes) -> bool:
        if self.encoding == "br":
            return _inflates(_BrotliInflater(_brotli()), first)
        # Servers send "deflate" both zlib-wrapped (as specified) and raw; browsers take both.
        candidates = [self._wbits, -zlib.MAX_WBITS] if self.encoding == "deflate" else [self._wbits]
        for wbits in candidates:
            if _inflates(_ZlibInflater(wbits), first):
                self._wbits = wbits
                return True
        return False

    def peek(self, first: bytes) -> bytes:
        """The first inflated bytes, for sniffing; the body itself is read by ``decode``."""
        try:
            return self._new_inflater().inflate(first, 4096)
        except Exception:  # any codec error means: nothing to sniff
            return b""

    def decode(self, data: bytes) -> Iterator[bytes]:
        """Inflated slices of at most SLICE bytes; raises BodyTooLarge past the ratio limit."""
        if self._inflater is None:
            self._inflater = self._new_inflater()
        # Input goes in by the slice too: when the stream breaks, what came before still counts.
        for start in range(0, len(data), _INPUT_SLICE):
            chunk = data[start : start + _INPUT_SLICE]
            self._read += len(chunk)
            piece = self._inflater.inflate(chunk, SLICE)
            while True:
                if piece:
                    self._written += len(piece)
                    if self._written > max(INFLATE_FLOOR, INFLATE_RATIO * self._read):
                        raise BodyTooLarge(self._written)
                    yield piece
                if not self._inflater.pending():
                    break
                piece = self._inflater.inflate(b"", SLICE)

    def compress(self, data: bytes) -> bytes:
        if self._deflater is None:
            if self.encoding == "br":
                self._deflater = _BrotliDeflater(_brotli())
            else:
                self._deflater = _ZlibDeflater(self._wbits)
        return self._deflater.compress(data)

    def end(self, final: bool) -> bytes:
        """Everything compressed so far, decodable by the browser now; the stream's end if final."""
        self.compress(b"")
        assert self._deflater is not None
        return self._deflater.finish() if final else self._deflater.flush()


def _inflates(inflater: _Inflater, first: bytes) -> bool:
    try:
        inflater.inflate(first, 64)
    except Exception:  # zlib.error, brotli.error: not this format
        return False
    return True


@functools.lru_cache(maxsize=64)  # a handful of browser strings cover nearly every request
def readable_accept_encoding(value: bytes) -> bytes:
    """The request's ``Accept-Encoding`` without the codings we could not read back.

    An app that answers in a coding we cannot decode (zstd, or brotli without the extra) would
    have its page sent unread; asking it only for codings we read keeps every page protected.
    ``*`` stands for the codings we read. Quality values are kept as the browser sent them.
    """
    readable = {"gzip", "x-gzip", "deflate", "identity"}
    if _brotli() is not None:
        readable.add("br")
    kept: list[bytes] = []
    for item in value.split(b","):
        coding = item.split(b";", 1)[0].strip().lower()
        if coding == b"*":
            params = item[item.index(b";") :] if b";" in item else b""
            kept.extend(c.encode() + params for c in sorted(readable - {"x-gzip", "identity"}))
        elif coding.decode("latin-1") in readable:
            kept.append(item.strip())
    return b", ".join(kept) if kept else b"identity"


def decoder_for(content_encoding: str) -> BodyDecoder | None:
    """A decoder for the encodings we can read and write again, else None (pass through)."""
    encoding = content_encoding.strip().lower()
    if encoding == "x-gzip":
        encoding = "gzip"
    if encoding in ("gzip", "deflate"):
        return BodyDecoder(encoding)
    if encoding == "br" and _brotli() is not None:
        return BodyDecoder(encoding)
    return None


# ----- character encodings -------------------------------------------------------------------

# The WHATWG Encoding Standard's labels, by the name document.characterSet reports.
_LABELS = {
    "UTF-8": "unicode-1-1-utf-8 unicode11utf8 unicode20utf8 utf-8 utf8 x-unicode20utf8",
    "IBM866": "866 cp866 csibm866 ibm866",
    "ISO-8859-2": "csisolatin2 iso-8859-2 iso-ir-101 iso8859-2 iso88592 iso_8859-2 "
    "iso_8859-2:1987 l2 latin2",
    "ISO-8859-3": "csisolatin3 iso-8859-3 iso-ir-109 iso8859-3 iso88593 iso_8859-3 "
    "iso_8859-3:1988 l3 latin3",
    "ISO-8859-4": "csisolatin4 iso-8859-4 iso-ir-110 iso8859-4 iso88594 iso_8859-4 "
    "iso_8859-4:1988 l4 latin4",
    "ISO-8859-5": "csisolatincyrillic cyrillic iso-8859-5 iso-ir-144 iso8859-5 iso88595 "
    "iso_8859-5 iso_8859-5:1988",
    "ISO-8859-6": "arabic asmo-708 csiso88596e csiso88596i csisolatinarabic ecma-114 iso-8859-6 "
    "iso-8859-6-e iso-8859-6-i iso-ir-127 iso8859-6 iso88596 iso_8859-6 iso_8859-6:1987",
    "ISO-8859-7": "csisolatingreek ecma-118 elot_928 greek greek8 iso-8859-7 iso-ir-126 "
    "iso8859-7 iso88597 iso_8859-7 iso_8859-7:1987 sun_eu_greek",
    "ISO-8859-8": "csiso88598e csisolatinhebrew hebrew iso-8859-8 iso-8859-8-e iso-ir-138 "
    "iso8859-8 iso88598 iso_8859-8 iso_8859-8:1988 visual",
    "ISO-8859-8-I": "csiso88598i iso-8859-8-i logical",
    "ISO-8859-10": "csisolatin6 iso-8859-10 iso-ir-157 iso8859-10 iso885910 l6 latin6",
    "ISO-8859-13": "iso-8859-13 iso8859-13 iso885913",
    "ISO-8859-14": "iso-8859-14 iso8859-14 iso885914",
    "ISO-8859-15": "csisolatin9 iso-8859-15 iso8859-15 iso885915 iso_8859-15 l9",
    "ISO-8859-16": "iso-8859-16",
    "KOI8-R": "cskoi8r koi koi8 koi8-r koi8_r",
    "KOI8-U": "koi8-ru koi8-u",
    "macintosh": "csmacintosh mac macintosh x-mac-roman",
    "windows-874": "dos-874 iso-8859-11 iso8859-11 iso885911 tis-620 windows-874",
    "windows-1250": "cp1250 windows-1250 x-cp1250",
    "windows-1251": "cp1251 windows-1251 x-cp1251",
    "windows-1252": "ansi_x3.4-1968 ascii cp1252 cp819 csisolatin1 ibm819 iso-8859-1 iso-ir-100 "
    "iso8859-1 iso88591 iso_8859-1 iso_8859-1:1987 l1 latin1 us-ascii windows-1252 x-cp1252",
    "windows-1253": "cp1253 windows-1253 x-cp1253",
    "windows-1254": "cp1254 csisolatin5 iso-8859-9 iso-ir-148 iso8859-9 iso88599 iso_8859-9 "
    "iso_8859-9:1989 l5 latin5 windows-1254 x-cp1254",
    "windows-1255": "cp1255 windows-1255 x-cp1255",
    "windows-1256": "cp1256 windows-1256 x-cp1256",
    "windows-1257": "cp1257 windows-1257 x-cp1257",
    "windows-1258": "cp1258 windows-1258 x-cp1258",
    "x-mac-cyrillic": "x-mac-cyrillic x-mac-ukrainian",
    "GBK": "chinese csgb2312 csiso58gb231280 gb2312 gb_2312 gb_2312-80 gbk iso-ir-58 x-gbk",
    "gb18030": "gb18030",
    "Big5": "big5 big5-hkscs cn-big5 csbig5 x-x-big5",
    "EUC-JP": "cseucpkdfmtjapanese euc-jp x-euc-jp",
    "ISO-2022-JP": "csiso2022jp iso-2022-jp",
    "Shift_JIS": "csshiftjis ms932 ms_kanji shift-jis shift_jis sjis windows-31j x-sjis",
    "EUC-KR": "cseuckr csksc56011987 euc-kr iso-ir-149 korean ks_c_5601-1987 ks_c_5601-1989 "
    "ksc5601 ksc_5601 windows-949",
    "replacement": "csiso2022kr hz-gb-2312 iso-2022-cn iso-2022-cn-ext iso-2022-kr replacement",
    "UTF-16BE": "unicodefffe utf-16be",
    "UTF-16LE": "csunicode iso-10646-ucs-2 ucs-2 unicode unicodefeff utf-16 utf-16le",
    "x-user-defined": "x-user-defined",
}
LABELS: dict[str, str] = {
    label: name for name, labels in _LABELS.items() for label in labels.split()
}

# Python's codec for each encoding, where the two agree on what injected markup becomes.
# Without one, injected markup is written in ASCII with character references, which every
# ASCII-compatible encoding reads the same.
_PYTHON_CODECS = {
    "UTF-8": "utf-8",
    "IBM866": "cp866",
    "ISO-8859-8-I": "iso8859_8",
    "KOI8-R": "koi8_r",
    "KOI8-U": "koi8_u",
    "macintosh": "mac_roman",
    "windows-874": "cp874",
    "x-mac-cyrillic": "mac_cyrillic",
    "GBK": "gbk",
    "gb18030": "gb18030",
    "Big5": "big5hkscs",
    "EUC-JP": "euc_jp",
    "ISO-2022-JP": "iso2022_jp",
    "Shift_JIS": "cp932",
    "EUC-KR": "cp949",
    "UTF-16BE": "utf-16-be",
    "UTF-16LE": "utf-16-le",
    **{f"ISO-8859-{n}": f"iso8859_{n}" for n in (2, 3, 4, 5, 6, 7, 8, 10, 13, 14, 15, 16)},
    **{f"windows-125{n}": f"cp125{n}" for n in range(9)},
}
# Encodings in which a browser does not read markup byte for byte as ASCII: a "<" may be half
# of a character, or an escape sequence between two letters decodes to nothing. Bodies in these
# are decoded for the rewriter and encoded again.
_TRANSCODED = frozenset({"UTF-16BE", "UTF-16LE", "ISO-2022-JP"})

_WHITESPACE = b"\t\n\x0c\r "
_CONTENT_TYPE_CHARSET = re.compile(r""";\s*charset\s*=\s*(?:"([^"]*)"|([^;\s"]*))""", re.IGNORECASE)


def encoding_for_label(label: str) -> str | None:
    """The WHATWG "get an encoding": the encoding's name, or None for an unknown label."""
    return LABELS.get(label.strip("\t\n\x0c\r ").lower())


@dataclass(frozen=True, slots=True)
class Charset:
    """A page's encoding as the browser will read it, and how we write into it."""

    name: str  # as ``document.characterSet`` reports it
    source: str  # "bom", "http", "meta" or "default"

    @property
    def transcoded(self) -> bool:
        return self.name in _TRANSCODED

    @property
    def markup(self) -> str:
        """The codec for markup we inject (the rewriter's side, so UTF-8 when transcoding)."""
        if self.transcoded:
            return "utf-8"
        if self.source == "default":
            # Browsers guess an undeclared page's encoding from its content and locale; ASCII
            # with character references reads the same under every guess.
            return "ascii"
        return _PYTHON_CODECS.get(self.name, "ascii")

    def transcoder(self) -> Transcoder | None:
        return Transcoder(_PYTHON_CODECS[self.name]) if self.transcoded else None

    def readable(self, sample: bytes) -> bytes:
        """The first bytes as the rewriter will see them (for ``<html lang>``)."""
        if not self.transcoded:
            return sample
        return sample.decode(_PYTHON_CODECS[self.name], "replace").encode("utf-8")


DEFAULT_CHARSET = Charset("windows-1252", "default")


def sniff_charset(content_type: str, sample: bytes) -> Charset:
    """The page's encoding, decided as browsers do: BOM, HTTP charset, meta prescan, default.

    Every answer is one the body can be rewritten in; no encoding turns protection off.
    """
    if sample.startswith(b"\xef\xbb\xbf"):
        return Charset("UTF-8", "bom")
    if sample.startswith(b"\xfe\xff"):
        return Charset("UTF-16BE", "bom")
    if sample.startswith(b"\xff\xfe"):
        return Charset("UTF-16LE", "bom")
    declared = _http_charset(content_type)
    if declared is not None:
        return declared
    found = prescan(sample[:PRESCAN_BYTES])
    if found is not None:
        return Charset(found, "meta")
    return DEFAULT_CHARSET


# An app sends a handful of Content-Types, read again for each of its pages.
@functools.lru_cache(maxsize=64)
def _http_charset(content_type: str) -> Charset | None:
    match = _CONTENT_TYPE_CHARSET.search(content_type)
    if match is None:
        return None
    label = match.group(1) if match.group(1) is not None else match.group(2)
    name = encoding_for_label(label)
    return None if name is None else Charset(name, "http")


def prescan(data: bytes) -> str | None:
    """The WHATWG "prescan a byte stream to determine its encoding" over ``data``.

    Where Chromium reads differently (raw text elements, duplicate attributes), it follows
    Chromium, whose answers the browser tests compare with ours.
    """
    pos = 0
    end = len(data)
    while pos < end:
        if data.startswith(b"<!--", pos):
            close = data.find(b"-->", pos + 2)
            if close < 0:
                return None
            pos = close + 3
            continue
        if data[pos : pos + 5].lower() == b"<meta" and data[pos + 5 : pos + 6] in (
            *(bytes([b]) for b in _WHITESPACE),
            b"/",
        ):
            pos += 5
            found, pos = _meta(data, pos)
            if found is not None:
                return found
            pos += 1
            continue
        if data[pos : pos + 1] == b"<" and (
            _is_letter(data, pos + 1)
            or (data[pos + 1 : pos + 2] == b"/" and _is_letter(data, pos + 2))
        ):
            start = pos + 1
            while pos < end and data[pos] not in b"\t\n\x0c\r >":
                pos += 1
            while True:
                attribute, pos = _attribute(data, pos)
                if attribute is None:
                    break
            pos += 1
            # Chromium reads this with its tokenizer: a meta inside raw text is no meta.
            name = _TAG_NAME.match(data, start).group().lower()  # type: ignore[union-attr]
            if name in _RAW_TEXT:
                close = data.lower().find(b"</" + name, pos)
                if close < 0 or name == b"plaintext":
                    return None
                pos = close
            continue
        if data[pos : pos + 2] in (b"<!", b"</", b"<?"):
            close = data.find(b">", pos + 1)
            if close < 0:
                return None
            pos = close + 1
            continue
        pos += 1
    return None


_TAG_NAME = re.compile(rb"[^\t\n\x0c\r />]*")
_RAW_TEXT = frozenset(
    b"title textarea script style xmp iframe noembed noframes noscript plaintext".split()
)


def _is_letter(data: bytes, pos: int) -> bool:
    return data[pos : pos + 1].isalpha()


def _meta(data: bytes, pos: int) -> tuple[str | None, int]:
    # Chromium departs from the prescan's "first of duplicates" here: every attribute counts,
    # a later charset replaces an earlier one, and content= does not replace charset=.
    got_pragma = False
    mode: str | None = None
    label = b""
    while True:
        attribute, pos = _attribute(data, pos)
        if attribute is None:
            break
        name, value = attribute
        if name == b"http-equiv":
            got_pragma = got_pragma or value == b"content-type"
        elif name == b"charset":
            label, mode = value, "charset"
        elif name == b"content" and mode != "charset":
            label = _charset_from_content(value) or b""
            if label:
                mode = "pragma"
    # A meta whose attributes run to the end of the bytes never ended: the prescan stops
    # without an answer, as it does for an unterminated quote.
    if pos >= len(data) or mode is None or (mode == "pragma" and not got_pragma):
        return None, pos
    charset = encoding_for_label(label.decode("latin-1"))
    if charset in ("UTF-16BE", "UTF-16LE"):
        return "UTF-8", pos
    if charset == "x-user-defined":
        return "windows-1252", pos
    return charset, pos


def _attribute(data: bytes, pos: int) -> tuple[tuple[bytes, bytes] | None, int]:
    """The WHATWG "get an attribute"; None at ``>`` or at the end of the bytes."""
    end = len(data)
    while pos < end and data[pos] in b"\t\n\x0c\r /":
        pos += 1
    if pos >= end or data[pos] == 0x3E:
        return None, pos
    name = bytearray()
    value = bytearray()
    while True:
        if pos >= end:
            return None, pos
        byte = data[pos]
        if byte == 0x3D and name:
            pos += 1
            break
        if byte in _WHITESPACE:
            while pos < end and data[pos] in _WHITESPACE:
                pos += 1
            if pos >= end:
                return None, pos
            if data[pos] != 0x3D:
                return (bytes(name), b""), pos
            pos += 1
            break
        if byte in b"/>":
            return (bytes(name), b""), pos
        name.append(_lower(byte))
        pos += 1
    while pos < end and data[pos] in _WHITESPACE:
        pos += 1
    if pos >= end:
        return None, pos
    byte = data[pos]
    if byte in b"\"'":
        quote = byte
        pos += 1
        while pos < end:
            if data[pos] == quote:
                return (bytes(name), bytes(value)), pos + 1
            value.append(_lower(data[pos]))
            pos += 1
        return None, pos
    if byte == 0x3E:
        return (bytes(name), b""), pos
    while pos < end:
        byte = data[pos]
        if byte in _WHITESPACE or byte == 0x3E:
            return (bytes(name), bytes(value)), pos
        value.append(_lower(byte))
        pos += 1
    return None, pos


def _lower(byte: int) -> int:
    return byte + 0x20 if 0x41 <= byte <= 0x5A else byte


def _charset_from_content(value: bytes) -> bytes | None:
    """The WHATWG "extract a character encoding from a meta element"."""
    pos = 0
    while True:
        pos = value.find(b"charset", pos)
        if pos < 0:
            return None
        pos += 7
        while pos < len(value) and value[pos] in _WHITESPACE:
            pos += 1
        if pos < len(value) and value[pos] == 0x3D:
            break
    pos += 1
    while pos < len(value) and value[pos] in _WHITESPACE:
        pos += 1
    if pos >= len(value):
        return None
    quote = value[pos]
    if quote in b"\"'":
        close = value.find(bytes([quote]), pos + 1)
        return value[pos + 1 : close] if close >= 0 else None
    stop = pos
    while stop < len(value) and value[stop] not in b"\t\n\x0c\r ;":
        stop += 1
    return value[pos:stop]


class Transcoder:
    """Between a body's own encoding and the UTF-8 the rewriter reads, in both directions.

    Both sides are incremental: a character cut between two chunks is completed by the next.
    Bytes that do not decode become U+FFFD, and the page the browser gets is the one we read.
    """

    def __init__(self, codec: str) -> None:
        self._in = codecs.getincrementaldecoder(codec)("replace")
        self._back = codecs.getincrementaldecoder("utf-8")("replace")
        self._out = codecs.getincrementalencoder(codec)("xmlcharrefreplace")

    def to_utf8(self, data: bytes, final: bool = False) -> bytes:
        return self._in.decode(data, final).encode("utf-8", "surrogatepass")

    def from_utf8(self, data: bytes, final: bool = False) -> bytes:
        return self._out.encode(self._back.decode(data, final), final)


class BodyCodec:
    """The way in (inflate, then decode) and out (encode, then compress) of one body."""

    def __init__(self, decoder: BodyDecoder | None, transcoder: Transcoder | None) -> None:
        self.decoder = decoder
        self.transcoder = transcoder

    def read(self, data: bytes, final: bool) -> Iterator[bytes]:
        """The body's next bytes as the rewriter reads them, in bounded pieces."""
        pieces = self.decoder.decode(data) if self.decoder is not None else (data,)
        for piece in pieces:
            yield self.transcoder.to_utf8(piece) if self.transcoder is not None else piece
        if final and self.transcoder is not None:
            yield self.transcoder.to_utf8(b"", final=True)

    def write(self, data: bytes, final: bool = False) -> bytes:
        """Rewritten bytes as the browser expects them (``final`` ends the text, not the stream)."""
        if self.transcoder is not None:
            data = self.transcoder.from_utf8(data, final)
        return self.decoder.compress(data) if self.decoder is not None else data

    def end(self, final: bool) -> bytes:
        """What the compressor still holds: all of it now, and the stream's end when final."""
        return self.decoder.end(final) if self.decoder is not None else b""
