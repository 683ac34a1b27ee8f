from consent.csrf import is_valid_nonce, new_nonce, token_for, verify_token

KEYS = ("k" * 32,)


def test_token_verifies_for_its_visitor() -> None:
    nonce = new_nonce()
    assert verify_token(token_for(nonce, KEYS), nonce, KEYS)


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
