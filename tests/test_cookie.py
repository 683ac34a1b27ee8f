import base64
import json
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent.cookie import ConsentCookieCodec, CookiePayload, parse_cookie_header

KEY_A = "a" * 32
KEY_B = "b" * 32


def payload(**changes: object) -> CookiePayload:
    values: dict[str, object] = {
        "consent_id": "cid-123",
        "granted": frozenset({"necessary", "analytics"}),
        "policy_version": "7",
        "decided_at": int(time.time()),
        "receipt_id": "r-1",
    }
    values.update(changes)
    return CookiePayload(**values)  # type: ignore[arg-type]


def codec(*keys: str, max_age: int = 3600, version: str = "7") -> ConsentCookieCodec:
    return ConsentCookieCodec(keys or (KEY_A,), max_age=max_age, policy_version=version)


def test_round_trip_keeps_every_field() -> None:
    original = payload()
    assert codec().decode(codec().encode(original)) == original


def test_the_gpc_flag_round_trips_and_older_cookies_lack_it() -> None:
    flagged = payload(signal=True)
    decoded = codec().decode(codec().encode(flagged))
    assert decoded == flagged and decoded is not None and decoded.signal
    plain = codec().encode(payload())
    encoded = plain.split(".")[0]
    assert "s" not in json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    unflagged = codec().decode(plain)
    assert unflagged is not None and not unflagged.signal


def test_value_is_compact_and_cookie_safe() -> None:
    value = codec().encode(
        payload(granted=frozenset({"necessary", "preferences", "analytics", "marketing"}))
    )
    assert len(value) < 400
    assert set(value) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def test_payload_is_readable_by_the_browser_script() -> None:
    value = codec().encode(payload())
    encoded = value.split(".")[0]
    body = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    assert body["g"] == ["analytics", "necessary"]
    assert body["v"] == "7"


def test_rotation_first_key_signs_all_verify() -> None:
    old_value = codec(KEY_B).encode(payload())
    rotated = codec(KEY_A, KEY_B)
    assert rotated.decode(old_value) is not None
    new_value = rotated.encode(payload())
    assert codec(KEY_A).decode(new_value) is not None
    assert codec(KEY_B).decode(new_value) is None


def test_retired_key_no_longer_verifies() -> None:
    value = codec(KEY_B).encode(payload())
    assert codec(KEY_A).decode(value) is None


def test_expired_cookie_is_no_decision() -> None:
    value = codec(max_age=60).encode(payload())
    assert codec(max_age=60).decode(value, now=time.time() + 61) is None
    assert codec(max_age=60).decode(value, now=time.time() + 30) is not None


def test_decode_until_tells_when_the_answer_changes() -> None:
    now = time.time()
    value = codec(max_age=60).encode(payload())
    found, until = codec(max_age=60).decode_until(value, now)
    assert found is not None
    # Signed within this second: valid up to its lifetime's end, and no longer.
    assert now + 58 <= until <= now + 60
    assert codec(max_age=60).decode_until(value, until + 1) == (None, float("inf"))
    assert codec(max_age=60).decode_until("forged.value.sig", now) == (None, float("inf"))


def test_value_signed_ahead_of_our_clock_becomes_valid_in_time() -> None:
    value = codec(max_age=3600).encode(payload())
    early = time.time() - 400  # our clock 400 s behind the signer's
    found, until = codec(max_age=3600).decode_until(value, early)
    assert found is None
    assert early < until < early + 100
    assert codec(max_age=3600).decode_until(value, until + 1)[0] is not None


def test_older_policy_version_is_no_decision() -> None:
    value = codec(version="6").encode(payload(policy_version="6"))
    assert codec(version="7").decode(value) is None


@pytest.mark.parametrize("position", [0, 5, -1, -10])
def test_any_changed_byte_is_rejected(position: int) -> None:
    value = codec().encode(payload())
    changed = value[position]
    replacement = "A" if changed != "A" else "B"
    tampered = value[:position] + replacement + (value[position + 1 :] if position != -1 else "")
    assert codec().decode(tampered) is None


@given(st.text(max_size=600))
def test_garbage_never_raises(value: str) -> None:
    assert codec().decode(value) is None


def test_oversized_value_is_ignored() -> None:
    assert codec().decode("x" * 5000) is None


def test_parse_cookie_header_first_wins_and_ignores_others() -> None:
    found = parse_cookie_header(
        "a=1; consent=first; consent=second; other=3", ["consent", "missing"]
    )
    assert found == {"consent": "first"}
