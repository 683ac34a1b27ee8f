"""Decisions, receipts and their JSON form."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent.audit import AuditError, Decision, Receipt, hash_texts, migrations
from consent.audit.model import (
    RECEIPT_FIELDS,
    FieldSpec,
    format_time,
    new_receipt_id,
    parse_time,
    receipt_path,
)
from tests.audit.conftest import decision

texts_strategy = st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=40), max_size=6)


@given(texts_strategy)
def test_texts_hash_ignores_order_and_matches_a_plain_sha256(texts: dict[str, str]) -> None:
    reordered = dict(reversed(list(texts.items())))
    assert hash_texts(reordered) == hash_texts(texts)
    expected = hashlib.sha256(
        json.dumps(sorted(texts.items()), ensure_ascii=False, separators=(",", ":")).encode()
    ).hexdigest()
    assert hash_texts(texts) == expected


@given(texts_strategy, st.text(min_size=1, max_size=20), st.text(max_size=10))
def test_texts_hash_changes_with_any_text(texts: dict[str, str], key: str, extra: str) -> None:
    changed = dict(texts)
    changed[key] = changed.get(key, "") + extra + "!"
    assert hash_texts(changed) != hash_texts(texts)


def test_receipt_ids_are_unique_sortable_and_readable() -> None:
    earlier = new_receipt_id(1_700_000_000.0)
    later = new_receipt_id(1_700_000_001.0)
    ids = {new_receipt_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert earlier < later
    assert len(earlier) == 26
    assert set(earlier) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def test_receipt_id_starts_with_the_current_time() -> None:
    before = new_receipt_id(time.time() - 1)
    now = new_receipt_id()
    assert before[:10] < now[:10]


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC),
        datetime(2025, 3, 1, 13, 0, 0, 5, tzinfo=timezone(timedelta(hours=1))),
    ],
)
def test_time_format_round_trips_in_utc(moment: datetime) -> None:
    text = format_time(moment)
    assert text.endswith("Z")
    assert parse_time(text) == moment
    assert parse_time(text).utcoffset() == timedelta(0)


def test_naive_times_are_refused() -> None:
    with pytest.raises(AuditError):
        format_time(datetime(2025, 1, 1))  # naive on purpose


def test_a_well_formed_decision_validates() -> None:
    made = decision()
    made.validate()
    assert made.texts_hash == hash_texts(made.texts)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"consent_id": ""}, "consent_id"),
        ({"action": ""}, "action"),
        ({"texts_hash": "abc"}, "texts_hash"),
        ({"texts_hash": "0" * 64}, "does not match"),
        ({"granted": frozenset({"a b"})}, "category"),
        ({"granted": frozenset({"analytics"}), "refused": frozenset({"analytics"})}, "both"),
        ({"client": 5}, "client"),
    ],
)
def test_malformed_decisions_are_refused(change: dict[str, object], message: str) -> None:
    values = {name: getattr(decision(), name) for name in Decision.__dataclass_fields__}
    values.update(change)
    with pytest.raises(AuditError, match=message):
        Decision(**values).validate()


def _receipt(**overrides: object) -> Receipt:
    values: dict[str, object] = {
        "receipt_id": new_receipt_id(),
        "seq": 7,
        "recorded_at": datetime(2025, 5, 4, 3, 2, 1, 999, tzinfo=UTC),
        "previous_receipt_id": None,
        "consent_id": "c",
        "action": "custom",
        "method": "preferences_page",
        "granted": frozenset({"necessary", "analytics"}),
        "refused": frozenset({"marketing"}),
        "policy_version": "3",
        "locale": "fr",
        "texts_hash": "a" * 64,
        "path": "/",
        "rule": "gdpr",
        "client": None,
        "key_id": "k",
        "mac": "b" * 64,
    }
    values.update(overrides)
    return Receipt(**values)  # type: ignore[arg-type]


@given(
    st.frozensets(st.sampled_from(["necessary", "analytics", "marketing", "x_1"])),
    st.one_of(st.none(), st.text(max_size=12)),
    st.text(max_size=30),
)
def test_receipt_json_round_trips(granted: frozenset[str], client: str | None, path: str) -> None:
    receipt = _receipt(granted=granted, refused=frozenset(), client=client, path=path)
    data = json.loads(json.dumps(receipt.to_json()))
    assert Receipt.from_json(data) == receipt
    assert data["granted"] == sorted(granted)
    assert "v" not in data


def test_receipt_json_holds_every_required_field() -> None:
    data = _receipt(previous_receipt_id="X").to_json()
    for name in (
        "receipt_id",
        "seq",
        "recorded_at",
        "previous_receipt_id",
        "consent_id",
        "action",
        "method",
        "granted",
        "refused",
        "policy_version",
        "locale",
        "texts_hash",
        "rule",
        "mac",
    ):
        assert name in data
    assert data["recorded_at"] == "2025-05-04T03:02:01.000999Z"


def test_from_json_refuses_incomplete_data() -> None:
    data = _receipt().to_json()
    del data["mac"]
    with pytest.raises(AuditError):
        Receipt.from_json(data)


@pytest.mark.parametrize(
    ("target", "keep", "stored"),
    [
        ("/search?q=my+illness&page=2", (), "/search"),
        ("/news/1?utm_source=x&session=abc#comments", (), "/news/1"),
        ("/search?q=secret&page=2&lang=de", ("page", "lang"), "/search?page=2&lang=de"),
        ("/search?q=secret", ("page",), "/search"),
        ("/", ("page",), "/"),
    ],
)
def test_a_receipt_keeps_the_path_and_only_allowed_query_parameters(
    target: str, keep: tuple[str, ...], stored: str
) -> None:
    assert receipt_path(target, keep) == stored


def test_a_later_field_is_added_by_one_migration_step() -> None:
    """What `add_column` writes for a field that defaults to None, and what it refuses."""
    later = FieldSpec("region", "text", nullable=True, later=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(migrations, "RECEIPT_FIELDS", (*RECEIPT_FIELDS, later))
        step = migrations.add_column(5, "region")
    assert step.statements("sqlite") == ("ALTER TABLE receipts ADD COLUMN region TEXT",)
    assert step.statements("postgres") == ("ALTER TABLE receipts ADD COLUMN region text",)
    with pytest.raises(ValueError, match="default to None"):
        migrations.add_column(5, "locale")
    with pytest.raises(ValueError, match="no field"):
        migrations.add_column(5, "nowhere")


def test_the_columns_follow_the_receipt_dataclass() -> None:
    names = [spec.name for spec in RECEIPT_FIELDS]
    assert names[0] == "seq"
    assert sorted(names) == sorted(Receipt.__dataclass_fields__)
    kinds = {spec.name: (spec.kind, spec.nullable) for spec in RECEIPT_FIELDS}
    assert kinds["recorded_at"] == ("time", False)
    assert kinds["granted"] == ("list", False)
    assert kinds["client"] == ("text", True)
    assert kinds["seq"] == ("int", False)
    # Added since the first format: the TCF strings (migrations 9 and 10), then the regions
    # fields (11 to 13).
    later = [spec.name for spec in RECEIPT_FIELDS if spec.later]
    assert later == ["tc_string", "ac_string", "region", "privacy_model", "gpp"]
    assert kinds["tc_string"] == kinds["ac_string"] == ("text", True)
    assert kinds["region"] == kinds["privacy_model"] == kinds["gpp"] == ("text", True)
