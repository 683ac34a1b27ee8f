import base64
import hashlib
import hmac
import os
import threading
from collections.abc import Iterator

import pytest

from consent import csrf
from consent.csrf import (
    is_valid_nonce,
    new_nonce,
    new_nonce_and_marker,
    token_for,
    verify_token,
)
from consent.keyed import keyed_hex

KEYS = ("k" * 32,)


@pytest.fixture(autouse=True)
def fresh_pool() -> Iterator[None]:
    """No test starts with pairs drawn before it, nor leaves the ones it faked to others."""
    csrf._drawn.clear()
    yield
    csrf._drawn.clear()


def test_token_verifies_for_its_visitor() -> None:
    nonce = new_nonce()
    assert verify_token(token_for(nonce, KEYS), nonce, KEYS)


def test_one_draw_gives_a_nonce_and_a_marker_of_the_usual_shapes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import secrets

    drawn = [new_nonce_and_marker() for _ in range(500)]
    nonces = {n for n, _ in drawn}
    markers = {m for _, m in drawn}
    assert len(nonces) == len(markers) == 500
    assert all(is_valid_nonce(n) and len(n) == len(new_nonce()) for n in nonces)
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert all(len(m) == len(secrets.token_urlsafe(12)) and set(m) <= alphabet for m in markers)
    # Disjoint bytes of the draw: each part is what token_urlsafe makes of its own bytes.
    # The second draw is all the characters base64 writes as "+" and "/": URL-safe here too.
    for pair in (bytes(range(36)), b"\xfb\xef\xbe\xff\xff\xff" * 6):
        csrf._drawn.clear()  # drawn afresh from the faked bytes
        second = bytes(reversed(pair))
        monkeypatch.setattr(os, "urandom", lambda n, raw=pair + second: (raw * n)[:n])
        for raw in (pair, second, pair):
            nonce, marker = new_nonce_and_marker()
            assert nonce == base64.urlsafe_b64encode(raw[:24]).decode().rstrip("=")
            assert marker == base64.urlsafe_b64encode(raw[24:]).decode().rstrip("=")
            assert is_valid_nonce(nonce)


def test_pairs_are_drawn_many_at_once_and_each_handed_out_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    urandom = os.urandom

    def counted(n: int) -> bytes:
        calls.append(n)
        return urandom(n)

    monkeypatch.setattr(os, "urandom", counted)
    results: list[list[tuple[str, str]]] = [[] for _ in range(8)]

    def draw(into: list[tuple[str, str]]) -> None:
        into.extend(new_nonce_and_marker() for _ in range(400))

    threads = [threading.Thread(target=draw, args=(r,)) for r in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    drawn = [pair for r in results for pair in r]
    assert len(set(drawn)) == len({n for n, _ in drawn}) == len(drawn) == 3200
    assert 3200 // csrf._POOL <= len(calls) <= 3200 // csrf._POOL + len(threads)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_never_hands_out_its_parent_s_pairs() -> None:
    new_nonce_and_marker()
    ahead = set(csrf._drawn)
    assert ahead
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            os.write(write, "|".join(new_nonce_and_marker()).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = tuple(pipe.read().split("|"))
    os.waitpid(pid, 0)
    assert len(child) == 2 and is_valid_nonce(child[0])
    assert child not in ahead
    assert new_nonce_and_marker() in ahead  # the parent goes on with its own


def test_token_of_one_visitor_fails_for_another() -> None:
    mine, theirs = new_nonce(), new_nonce()
    assert not verify_token(token_for(theirs, KEYS), mine, KEYS)


def test_token_signed_with_previous_key_still_verifies_after_rotation() -> None:
    nonce = new_nonce()
    old = token_for(nonce, ("old" * 8,))
    assert verify_token(old, nonce, ("new" * 8, "old" * 8))
    assert not verify_token(old, nonce, ("new" * 8,))


def test_missing_or_malformed_inputs_fail() -> None:
    nonce = new_nonce()
    assert not verify_token(None, nonce, KEYS)
    assert not verify_token("", nonce, KEYS)
    assert not verify_token(token_for(nonce, KEYS), None, KEYS)
    assert not is_valid_nonce("short")
    assert not is_valid_nonce("x" * 30 + ";")


def test_a_token_is_a_keyed_blake2b_of_the_nonce_and_a_long_key_is_hashed_down() -> None:
    nonce = new_nonce()
    long_key = "L" * 100
    for key, mac_key in (
        ("k" * 32, b"k" * 32),
        (
            long_key,
            hashlib.blake2b(long_key.encode(), digest_size=64, person=b"consent key").digest(),
        ),
    ):
        mac = hashlib.blake2b(
            nonce.encode(), key=mac_key, digest_size=24, person=b"consent csrf v2"
        )
        assert token_for(nonce, (key,)) == mac.hexdigest()
    # Two long keys that share their first 64 bytes make different tokens.
    assert token_for(nonce, ("L" * 64 + "a",)) != token_for(nonce, ("L" * 64 + "b",))


def test_a_token_from_a_page_the_release_before_rendered_still_verifies() -> None:
    nonce = new_nonce()
    digest = hmac.digest(KEYS[0].encode(), b"consent csrf v1|" + nonce.encode(), "sha256")
    old = base64.urlsafe_b64encode(digest[:24]).decode()
    assert old != token_for(nonce, KEYS)
    assert verify_token(old, nonce, KEYS)
    assert not verify_token(old, new_nonce(), KEYS)
    assert not verify_token(old, nonce, ("other" * 8,))


def test_a_token_of_any_characters_is_refused_not_an_error() -> None:
    # The token comes from a form anyone can post: characters compare_digest refuses to compare
    # (anything not ASCII) must make a refusal, not an exception.
    nonce = new_nonce()
    token = token_for(nonce, KEYS)
    for forged in ("é" * 48, token[:-1] + "é", "\u0000" * 48, "ｆ" * 32, "😀"):
        assert not verify_token(forged, nonce, KEYS)


def test_a_token_cut_lengthened_or_recased_is_refused() -> None:
    nonce = new_nonce()
    token = token_for(nonce, KEYS)
    assert len(token) == 48
    for forged in (token[:-1], token + "0", token[:32], token.upper(), token * 2, " " + token):
        assert not verify_token(forged, nonce, KEYS)


@pytest.mark.parametrize("person", [b"consent etag", b"consent-held", b"consent csrf v1", b""])
@pytest.mark.parametrize("size", [8, 12, 24])
def test_a_digest_made_for_another_use_is_no_token(person: bytes, size: int) -> None:
    # The page's validator and the shared-mode marker are keyed digests of the same key, sent to
    # the visitor: one made over bytes that are a nonce must not pass for that nonce's token.
    nonce = new_nonce()
    other = keyed_hex(KEYS[0], nonce.encode(), person=person, size=size)
    assert not verify_token(other, nonce, KEYS)


def test_a_v1_token_verifies_under_rotated_keys_only_while_its_key_is_listed() -> None:
    nonce = new_nonce()
    old_key, new_key = "old" * 11, "new" * 11
    digest = hmac.digest(old_key.encode(), b"consent csrf v1|" + nonce.encode(), "sha256")
    old = base64.urlsafe_b64encode(digest[:24]).decode()
    assert verify_token(old, nonce, (new_key, old_key))
    assert not verify_token(old, nonce, (new_key,))
    # The v1 token is no v2 token of the same key, and the other way round.
    assert not verify_token(token_for(nonce, (old_key,)), nonce, (new_key,))
    assert token_for(nonce, (old_key,)) != old
