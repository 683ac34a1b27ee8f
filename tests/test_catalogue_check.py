"""`consent catalogue check`: every problem of the data files is named, the shipped data has none."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from consent.catalogue import check_data
from consent.cli import main

GOOD = {
    "id": "example-stats",
    "name": "Example Stats",
    "vendor": "Example Stats GmbH",
    "category": "analytics",
    "hosts": ["stats.example-stats.net"],
    "privacy_policy": "https://example-stats.net/privacy",
    "cookies": [{"name": "_exs", "lifetime_days": 30, "party": "first", "purpose": "Visitor."}],
}


def test_the_shipped_catalogue_has_no_problem(capsys: pytest.CaptureFixture[str]) -> None:
    assert check_data() == []
    assert main(["catalogue", "check"]) == 0
    out = capsys.readouterr().out
    assert "no problems" in out and "services" in out


def one_file(*services: dict[str, Any], source: str | None = "Vendor documentation.") -> Any:
    document: dict[str, Any] = {"services": list(services)}
    if source is not None:
        document["source"] = source
    return [("test.toml", document)]


def test_a_good_file_passes() -> None:
    assert check_data(one_file(GOOD)) == []


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (one_file(GOOD, source=None), "needs a 'source' note"),
        (one_file(GOOD, {**GOOD, "hosts": ["other.example-stats.net"]}), "already defined"),
        (one_file(GOOD, {**GOOD, "id": "copy"}), "already claimed by 'example-stats'"),
        (one_file({**GOOD, "hosts": ["Stats.Example.NET"]}), "lower-case host name"),
        (one_file({**GOOD, "hosts": ["https://stats.example.net/x"]}), "lower-case host name"),
        (one_file({**GOOD, "urls": ["nohost"]}), "must look like 'host/path'"),
        (one_file({**GOOD, "hosts": ["code.jquery.com"]}), "listed as no tracker"),
        (one_file({**GOOD, "hosts": ["jquery.com"]}), "listed as no tracker"),
        (one_file({**GOOD, "inline": ["abc"]}), "inline signature 'abc'"),
        (
            one_file(GOOD, {**GOOD, "id": "b", "hosts": ["b.example"], "inline": []})
            + one_file({**GOOD, "id": "c", "hosts": ["c.example"], "inline": ["exs.track("]})
            + one_file({**GOOD, "id": "d", "hosts": ["d.example"], "inline": ["exs.track("]}),
            "inline signature 'exs.track(' is already 'c'",
        ),
        (one_file({**GOOD, "privacy_policy": "http://x.example"}), "https://"),
        (one_file({**GOOD, "category": "ads"}), "category 'ads'"),
        (one_file({**GOOD, "cookies": [GOOD["cookies"][0], GOOD["cookies"][0]]}), "twice"),
        (one_file({**GOOD, "cookies": [{"name": "x", "lifetime_days": 1}]}), "cookie"),
        ([("test.toml", {"source": "x", "services": [GOOD], "extra": 1})], "unknown top-level"),
    ],
)
def test_each_problem_is_named(files: Any, expected: str) -> None:
    problems = check_data(files)
    assert any(expected in problem for problem in problems), problems
    assert all(problem.startswith("test.toml") for problem in problems)


def test_every_problem_is_listed_not_only_the_first() -> None:
    bad = one_file(
        {**GOOD, "hosts": ["code.jquery.com"]},
        {**GOOD, "id": "two", "privacy_policy": "http://x.example", "hosts": ["two.example"]},
        source=None,
    )
    assert len(check_data(bad)) == 3


def test_operator_services_are_checked_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "consent.toml"
    path.write_text(
        '[[services]]\nid = "own"\nname = "Own"\nvendor = "Own Ltd"\ncategory = "analytics"\n'
        'hosts = ["stats.own.example"]\nprivacy_policy = "http://own.example/privacy"\n'
    )
    assert main(["--config", str(path), "catalogue", "check"]) == 1
    err = capsys.readouterr().err
    assert "own" in err and "https://" in err
