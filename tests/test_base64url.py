"""Bits to base64url and back: the carrier of the TCF and GPP strings."""

from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from consent import base64url


@given(st.binary(max_size=60).filter(lambda data: len(data) % 3 == 0))
def test_characters_are_those_of_the_standard_library(data: bytes) -> None:
    bits = "".join(format(byte, "08b") for byte in data)
    expected = base64.urlsafe_b64encode(data).decode()
    assert base64url.from_bits(bits) == expected
    assert base64url.to_bits(expected) == bits


@given(st.text(alphabet="01", max_size=100), st.sampled_from([(8, 6), (24,), (6,)]))
def test_padding_reaches_each_multiple_and_keeps_the_bits(
    bits: str, multiples: tuple[int, ...]
) -> None:
    padded = base64url.pad(bits, *multiples)
    assert padded.startswith(bits)
    assert set(padded[len(bits) :]) <= {"0"}
    assert len(padded) % multiples[-1] == 0
    assert len(padded) - len(bits) < sum(multiples)


def test_text_outside_the_alphabet_is_reported() -> None:
    assert base64url.to_bits("AB+C") is None
    assert base64url.to_bits("AB=") is None
    assert base64url.to_bits("") == ""
