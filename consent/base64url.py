"""Bit strings as base64url text, the way IAB's privacy strings (TCF, GPP) carry them.

Both formats write a sequence of bit fields, pad it with zero bits and write every six bits as
one character of the URL-safe base64 alphabet, without ``=`` padding. They differ only in how
far they pad, which the caller says.
"""

from __future__ import annotations

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_INDEX = {character: index for index, character in enumerate(ALPHABET)}


def from_bits(bits: str) -> str:
    """``bits`` ('0'/'1' text whose length is a multiple of six) as base64url characters."""
    return "".join(ALPHABET[int(bits[i : i + 6], 2)] for i in range(0, len(bits), 6))


def to_bits(text: str) -> str | None:
    """The bits ``text`` carries, or ``None`` when it holds a character outside base64url."""
    try:
        return "".join(format(_INDEX[character], "06b") for character in text)
    except KeyError:
        return None


def pad(bits: str, *multiples: int) -> str:
    """``bits`` padded with zeros to each multiple in turn."""
    for multiple in multiples:
        bits += "0" * (-len(bits) % multiple)
    return bits
