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
    "source": "vendor-docs",
    "cookies": [{"name": "_exs", "lifetime_days": 30, "party": "first", "purpose": "Visitor."}],
}
COOKIE = {"lifetime_days": 30, "party": "first", "purpose": "Visitor."}


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
        (one_file({k: v for k, v in GOOD.items() if k != "source"}), "needs a 'source'"),
        (one_file({**GOOD, "source": "somewhere"}), "source 'somewhere' is neither"),
        (one_file({**GOOD, "source": "http://docs.example"}), "source 'http://docs.example'"),
        (
            one_file({**GOOD, "cookies": [{**COOKIE, "name": "_exs", "source": "a list"}]}),
            "unknown source 'a list'",
        ),
        (one_file({**GOOD, "hosts": ["cloudfront.net"]}), "shared by many sites"),
        (one_file({**GOOD, "cookies": [{**COOKIE, "name": "uid"}]}), "'uid' is a generic name"),
        (one_file({**GOOD, "cookies": [{**COOKIE, "name": "C"}]}), "'C' is a generic name"),
        (
            one_file({**GOOD, "cookies": [{**COOKIE, "name": "session*", "pattern": True}]}),
            "'session*' is a generic name",
        ),
        (
            one_file({**GOOD, "cookies": [{**COOKIE, "name": "x*", "pattern": True}]}),
            "'x*' is a generic name",
        ),
        (
            one_file({**GOOD, "cookies": [{**COOKIE, "name": "PHPSESSID"}]}),
            "'PHPSESSID' is a web framework's session or CSRF cookie",
        ),
        (
            [("test.toml", {"source": "x", "extends": [{"id": "nobody", "source": "prebid-js"}]})],
            "extends 'nobody', which no file defines",
        ),
        (
            [
                *one_file(GOOD),
                (
                    "test.toml",
                    {
                        "source": "x",
                        "extends": [
                            {
                                "id": "example-stats",
                                "source": "open-cookie-database",
                                "cookies": [{**COOKIE, "name": "_exs"}],
                            }
                        ],
                    },
                ),
            ],
            "cookie '_exs' twice",
        ),
        (
            [("test.toml", {"source": "x", "extends": [{"id": "example-stats", "source": "?"}]})],
            "unknown source '?'",
        ),
    ],
)
def test_each_problem_is_named(files: Any, expected: str) -> None:
    problems = check_data(files)
    assert any(expected in problem for problem in problems), problems
    assert all(problem.startswith("test.toml") for problem in problems)


def test_a_source_may_be_an_address_and_a_cookie_may_name_its_own() -> None:
    cookies = [{**COOKIE, "name": "_exs", "source": "open-cookie-database"}]
    good = {**GOOD, "source": "https://example-stats.net/docs/tag", "cookies": cookies}
    assert check_data(one_file(good)) == []


@pytest.mark.parametrize(
    "cookie",
    [
        {**COOKIE, "name": "uid", "party": "third"},  # described, never enforced
        {**COOKIE, "name": "visitor_id*-hash", "pattern": True},  # telling by its ending
        {**COOKIE, "name": "_exs_*", "pattern": True},
    ],
)
def test_telling_or_third_party_names_pass(cookie: dict[str, Any]) -> None:
    assert check_data(one_file({**GOOD, "cookies": [cookie]})) == []


def test_generic_and_framework_names_are_fine_in_a_necessary_service() -> None:
    cookies = [{**COOKIE, "name": "session"}, {**COOKIE, "name": "PHPSESSID"}]
    assert check_data(one_file({**GOOD, "category": "necessary", "cookies": cookies})) == []


def test_an_extension_adds_cookies_and_hosts_with_its_source() -> None:
    addition = {
        "id": "example-stats",
        "source": "open-cookie-database",
        "hosts": ["cdn.example-stats.org"],
        "cookies": [{**COOKIE, "name": "_exs_v"}],
    }
    files = [*one_file(GOOD), ("more.toml", {"source": "OCD.", "extends": [addition]})]
    assert check_data(files) == []
    clash = {**addition, "hosts": ["stats.example-stats.net"], "cookies": []}
    problems = check_data([*one_file(GOOD), ("more.toml", {"source": "x", "extends": [clash]})])
    assert problems == [
        "more.toml: service 'example-stats': 'stats.example-stats.net' is already claimed by "
        "'example-stats'"
    ]


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
