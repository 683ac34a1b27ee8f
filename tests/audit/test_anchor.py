"""Anchors outside the database: truncation and rollback that the chain alone cannot show."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from consent import ConsentConfig, ConsentMiddleware
from consent.audit import Receipt, open_store, register_cli
from consent.audit.anchor import read_anchors
from consent.audit.chain import Keyring
from consent.audit.commands import anchor, purge, verify
from tests.audit.conftest import KEY, Backend, decision, fill
from tests.conftest import SECRET, csrf_token, page_app


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="consent")
    register_cli(parser.add_subparsers())
    args = parser.parse_args(list(argv))
    code: int = args.handler(args)
    return code


def head_row(backend: Backend) -> tuple[object, ...]:
    return backend.query("SELECT seq, mac, key_id, signature FROM chain_head WHERE id = 1")[0]


def put_back_head(backend: Backend, row: tuple[object, ...]) -> None:
    backend.execute(
        "UPDATE chain_head SET seq = ?, mac = ?, key_id = ?, signature = ? WHERE id = 1", row
    )


def truncate_to_earlier_head(backend: Backend, saved: tuple[object, ...]) -> None:
    """The attack: no DDL, only DELETE and UPDATE on rows (triggers are bypassed like DDL
    would, which only makes the attacker stronger). The verified head would give the cut away
    (see the next test), so it goes too: the next verification then walks everything."""
    backend.execute("DELETE FROM receipts WHERE seq > ?", (saved[0],))
    put_back_head(backend, saved)
    backend.execute("DELETE FROM verified_head")


def test_truncation_below_the_verified_head_fails_plain_verify(backend: Backend) -> None:
    fill(backend, [decision(f"v{i}") for i in range(4)])
    saved = head_row(backend)
    fill(backend, [decision(f"w{i}") for i in range(3)])
    assert verify(backend.url, KEY, io.StringIO()) == 0  # leaves a verified head at seq 7
    backend.execute("DELETE FROM receipts WHERE seq > ?", (saved[0],))
    put_back_head(backend, saved)
    out = io.StringIO()
    assert verify(backend.url, KEY, out) == 1
    assert out.getvalue().startswith("FAILED: first bad receipt seq 7: the verified receipt")


def test_truncation_with_an_earlier_head_passes_plain_verify_but_not_the_anchor(
    backend: Backend, tmp_path: Path
) -> None:
    fill(backend, [decision(f"v{i}") for i in range(4)])
    saved = head_row(backend)  # the attacker keeps a copy of a genuine, signed head row
    fill(backend, [decision(f"w{i}") for i in range(3)])
    anchors = tmp_path / "anchors.jsonl"
    out = io.StringIO()
    assert anchor(backend.url, KEY, str(anchors), out) == 0
    assert "anchored seq 7 (7 receipts)" in out.getvalue()

    truncate_to_earlier_head(backend, saved)

    plain = io.StringIO()
    assert verify(backend.url, KEY, plain) == 0  # the documented limit of the chain alone
    assert plain.getvalue().startswith("OK: 4 receipts verified")
    checked = io.StringIO()
    assert verify(backend.url, KEY, checked, anchor=str(anchors)) == 1
    report = checked.getvalue()
    assert report.startswith("FAILED")
    assert f"{anchors} line 1" in report and "seq 7" in report
    assert "behind" in report and "chain ends at seq 4" in report


def test_an_untouched_store_passes_with_its_anchors(backend: Backend, tmp_path: Path) -> None:
    anchors = tmp_path / "anchors.jsonl"
    for index in range(3):
        fill(backend, [decision(f"v{index}")])
        assert anchor(backend.url, KEY, str(anchors), io.StringIO()) == 0
    fill(backend, [decision("later")])
    out = io.StringIO()
    assert verify(backend.url, KEY, out, anchor=str(anchors), full=True) == 0
    assert out.getvalue().startswith("OK: 4 receipts verified")
    assert "anchors: 3" in out.getvalue() and "all matched, newest at seq 3" in out.getvalue()


def test_a_forged_anchor_line_is_named(backend: Backend, tmp_path: Path) -> None:
    fill(backend, [decision(f"v{i}") for i in range(2)])
    anchors = tmp_path / "anchors.jsonl"
    assert anchor(backend.url, KEY, str(anchors), io.StringIO()) == 0
    line = json.loads(anchors.read_text())
    line["seq"] = 1  # an attacker lowering the anchor to match a truncated database
    with anchors.open("a") as handle:
        handle.write(json.dumps(line) + "\n")
    out = io.StringIO()
    assert verify(backend.url, KEY, out, anchor=str(anchors)) == 1
    assert f"FAILED: anchor {anchors} line 2 has a bad MAC" in out.getvalue()


def test_history_rewritten_past_an_anchor_is_found(backend: Backend, tmp_path: Path) -> None:
    """A rollback followed by new decisions: the chain is long enough again but differs."""
    fill(backend, [decision(f"v{i}") for i in range(2)])
    saved = head_row(backend)
    fill(backend, [decision("kept-by-the-anchor")])
    anchors = tmp_path / "anchors.jsonl"
    assert anchor(backend.url, KEY, str(anchors), io.StringIO()) == 0
    truncate_to_earlier_head(backend, saved)
    replacement = fill(backend, [decision("written-after-the-rollback")])[0]
    assert verify(backend.url, KEY, io.StringIO()) == 0
    out = io.StringIO()
    assert verify(backend.url, KEY, out, anchor=str(anchors)) == 1
    assert f"seq 3 (receipt_id {replacement.receipt_id})" in out.getvalue()
    assert "differs from anchor" in out.getvalue()


def test_anchors_survive_a_purge(backend: Backend, tmp_path: Path) -> None:
    """An anchor on a purged receipt cannot be checked any more; one on the purge's
    checkpoint still is, and the chain must still reach the newest."""
    anchors = tmp_path / "anchors.jsonl"
    for name in ("old", "older"):
        fill(backend, [decision(name)])
        assert anchor(backend.url, KEY, str(anchors), io.StringIO()) == 0
    assert purge(backend.url, KEY, timedelta(0), io.StringIO()) == 0
    fill(backend, [decision("after-the-purge")])
    out = io.StringIO()
    assert verify(backend.url, KEY, out, anchor=str(anchors)) == 0
    assert "anchors: 2" in out.getvalue() and "1 matched" in out.getvalue()


def test_anchor_refuses_a_chain_that_does_not_verify(backend: Backend, tmp_path: Path) -> None:
    fill(backend, [decision(f"v{i}") for i in range(3)])
    backend.execute("UPDATE receipts SET action = 'reject_all' WHERE seq = 2")
    anchors = tmp_path / "anchors.jsonl"
    out = io.StringIO()
    assert anchor(backend.url, KEY, str(anchors), out) == 1
    assert out.getvalue().startswith("REFUSED") and not anchors.exists()


def test_anchor_and_verify_from_the_command_line(backend: Backend, tmp_path: Path) -> None:
    fill(backend, [decision(f"v{i}") for i in range(2)])
    anchors = tmp_path / "sub" / "anchors.jsonl"
    assert cli("audit", "--db", backend.url, "--key", KEY, "anchor", "--to", str(anchors)) == 0
    assert stat.S_IMODE(anchors.stat().st_mode) == 0o600
    assert cli("audit", "--db", backend.url, "--key", KEY, "verify", "--anchor", str(anchors)) == 0
    backend.execute("DELETE FROM receipts WHERE seq = 2")
    backend.execute("UPDATE chain_head SET seq = 1, mac = (SELECT mac FROM receipts WHERE seq = 1)")
    assert cli("audit", "--db", backend.url, "--key", KEY, "verify", "--anchor", str(anchors)) == 1


async def test_the_store_anchors_in_the_background_every_n_receipts(
    backend: Backend, tmp_path: Path
) -> None:
    anchors = tmp_path / "anchors.jsonl"
    store = open_store(backend.url, KEY, anchor_file=str(anchors), anchor_every=2)
    recorded: list[Receipt] = [await store.record(decision(f"v{i}")) for i in range(5)]
    await store.close()
    written = read_anchors(anchors, Keyring.parse(KEY))
    # Written in the background, so not necessarily in order; the last on close.
    assert sorted((a.seq, a.head_mac) for a in written) == [
        (recorded[1].seq, recorded[1].mac),
        (recorded[3].seq, recorded[3].mac),
        (recorded[4].seq, recorded[4].mac),
    ]
    assert all(a.count >= a.seq for a in written)
    assert (
        await asyncio.to_thread(verify, backend.url, KEY, io.StringIO(), anchor=str(anchors)) == 0
    )


async def test_a_quiet_store_anchors_its_newest_receipts_after_the_interval(
    backend: Backend, tmp_path: Path
) -> None:
    anchors = tmp_path / "anchors.jsonl"
    store = open_store(backend.url, KEY, anchor_file=str(anchors), anchor_interval=0.2)
    try:
        last = [await store.record(decision(f"v{i}")) for i in range(3)][-1]
        deadline = asyncio.get_running_loop().time() + 10
        while not anchors.exists() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)  # no further decision comes: the timer alone anchors
        await asyncio.sleep(0.1)
        assert [(a.seq, a.head_mac) for a in read_anchors(anchors, KEY)] == [(3, last.mac)]
    finally:
        await store.close()


async def test_a_failing_anchor_never_blocks_a_decision(
    backend: Backend, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the anchor directory should be")
    store = open_store(backend.url, KEY, anchor_file=str(blocker / "anchors.jsonl"), anchor_every=1)
    with caplog.at_level(logging.ERROR, logger="consent"):
        receipts = [await store.record(decision(f"v{i}")) for i in range(3)]
        await store.close()
    assert [r.seq for r in receipts] == [1, 2, 3]
    assert "could not write an audit anchor" in caplog.text


def test_the_middleware_anchors_when_configured(backend: Backend, tmp_path: Path) -> None:
    anchors = tmp_path / "anchors.jsonl"
    config = ConsentConfig(
        secret_key=SECRET,
        audit_url=backend.url,
        audit_key=KEY,
        audit_anchor_file=str(anchors),
        audit_anchor_every=2,
    )
    app = ConsentMiddleware(page_app(), config=config)
    with TestClient(app) as client:
        for _ in range(4):
            token = csrf_token(client)
            answer = client.post(
                "/_consent/decision",
                data={"action": "accept_all", "csrf_token": token},
                headers={"accept": "application/json"},
            )
            assert answer.status_code == 200
        client.portal.call(app.runtime.close)  # type: ignore[union-attr]
    assert sorted(a.seq for a in read_anchors(anchors, KEY)) == [2, 4]
