"""tools/import_catalogue.py on small inputs shaped like its three sources, and the data it
wrote: facts kept, generic names and shared hosts left out, every entry with its source."""

from __future__ import annotations

import json
import tomllib
from collections import Counter
from typing import Any

import pytest

from consent.catalogue import (
    Catalogue,
    CookieSpec,
    Service,
    generic_first_party,
    sources,
)
from consent.names import ANALYTICS, MARKETING, NECESSARY
from tools import import_catalogue as importer

TARTEAUCITRON = """
tarteaucitron.services.examplechat = {
    "key": "examplechat",
    "type": "support",
    "name": "Example Chat (privacy by design)",
    "uri": "https://help.examplechat.example/privacy",
    "cookies": ['exchat_id'],
    "js": function () {
        tarteaucitron.addScript('https://widget.examplechat.example/loader.js');
        // https://docs.examplechat.example/ is where the snippet is documented
    }
};
tarteaucitron.services.examplesite = {
    "key": "examplesite",
    "type": "video",
    "name": "Example Site",
    "uri": "https://examplesite.example/privacy",
    "cookies": [],
    "js": function () {
        tarteaucitron.fallback(['examplesite'], 'https://www.examplesite.example/embed/');
    }
};
tarteaucitron.services.examplegtm = {
    "key": "examplegtm",
    "type": "api",
    "name": "Example tag manager of an unmapped group",
    "uri": "https://gtm.example/privacy",
    "cookies": [],
    "js": function () { tarteaucitron.addScript('https://tags.gtm-example.example/t.js'); }
};
"""

PREBID_MODULE = """
const ENDPOINT = 'https://hb.bidexample.example/openrtb';
const SYNC = 'https://sync.bidexample-cdn.example/usersync';
const RENDERER = 'https://cdn.jsdelivr.net/npm/renderer.js';
/* See https://github.com/bidexample/docs for the parameters. */
const storage = getStorageManager();
storage.setCookie('_bidex_uid', id);
"""

PREBID_METADATA = {
    "components": [{"componentType": "bidder", "componentName": "bidexample", "aliasOf": None}],
    "disclosures": {
        "https://bidexample.example/deviceStorage.json": {
            "disclosures": [
                {"identifier": "_bidex_uid", "type": "cookie", "maxAgeSeconds": 2592000},
                {"identifier": "bxsync", "type": "cookie", "maxAgeSeconds": 3600},
                {"identifier": "uid", "type": "cookie", "maxAgeSeconds": 86400},
                {"identifier": "bx_local", "type": "web", "maxAgeSeconds": None},
            ]
        }
    },
}

OCD = {
    "Example Analytics": [
        {
            "category": "Analytics",
            "cookie": "_exa_id",
            "domain": "",
            "retentionPeriod": "13 months",
            "dataController": "Example Analytics BV",
            "privacyLink": "https://example-analytics.example/privacy",
            "wildcardMatch": "0",
        },
        {
            "category": "Analytics",
            "cookie": "_exa_ses_",
            "domain": "",
            "retentionPeriod": "30 minutes",
            "dataController": "Example Analytics BV",
            "privacyLink": "https://example-analytics.example/privacy",
            "wildcardMatch": "1",
        },
        {
            "category": "Functional",
            "cookie": "_exa_consent",
            "domain": "",
            "retentionPeriod": "1 year",
            "dataController": "Example Analytics BV",
            "privacyLink": "https://example-analytics.example/privacy",
            "wildcardMatch": "0",
        },
        {
            "category": "Analytics",
            "cookie": "session",
            "domain": "",
            "retentionPeriod": "session",
            "dataController": "Example Analytics BV",
            "privacyLink": "https://example-analytics.example/privacy",
            "wildcardMatch": "0",
        },
        {
            "category": "Analytics",
            "cookie": "_exa_forever",
            "domain": "",
            "retentionPeriod": "Unknown",
            "dataController": "Example Analytics BV",
            "privacyLink": "https://example-analytics.example/privacy",
            "wildcardMatch": "0",
        },
    ],
    "Some Framework": [
        {
            "category": "Functional",
            "cookie": "PHPSESSID",
            "domain": "",
            "retentionPeriod": "session",
            "dataController": "Some Framework",
            "privacyLink": "https://framework.example/privacy",
            "wildcardMatch": "0",
        }
    ],
    "Google Analytics": [
        {
            "category": "Analytics",
            "cookie": "_ga_",
            "domain": "",
            "retentionPeriod": "2 years",
            "dataController": "Google",
            "privacyLink": "https://policies.google.com/privacy",
            "wildcardMatch": "1",
        },
        {
            "category": "Functional",
            "cookie": "_gafunctional",
            "domain": "",
            "retentionPeriod": "1 day",
            "dataController": "Google",
            "privacyLink": "https://policies.google.com/privacy",
            "wildcardMatch": "0",
        },
        {
            "category": "Functional",
            "cookie": "GAFUNC",
            "domain": "google-analytics.com (3rd party)",
            "retentionPeriod": "1 day",
            "dataController": "Google",
            "privacyLink": "https://policies.google.com/privacy",
            "wildcardMatch": "0",
        },
        {
            "category": "Analytics",
            "cookie": "_gaexample",
            "domain": "",
            "retentionPeriod": "1 day",
            "dataController": "Google",
            "privacyLink": "https://policies.google.com/privacy",
            "wildcardMatch": "0",
        },
    ],
}


def _known() -> Catalogue:
    analytics = Service(
        "google-analytics",
        "Google Analytics",
        "Google Ireland Limited",
        ANALYTICS,
        ("google-analytics.com",),
        (),
        (CookieSpec("_ga_*", True, 730, "first", "Visitor."),),
        "https://policies.google.com/privacy",
        source="vendor-docs",
    )
    return Catalogue([analytics])


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("sources")
    tac = root / "tac"
    tac.mkdir()
    (tac / "tarteaucitron.services.js").write_text(TARTEAUCITRON)
    prebid = root / "prebid"
    (prebid / "modules").mkdir(parents=True)
    (prebid / "metadata" / "modules").mkdir(parents=True)
    (prebid / "modules" / "bidexampleBidAdapter.js").write_text(PREBID_MODULE)
    (prebid / "modules" / "bidexampleBidAdapter.md").write_text(
        "# Overview\n\nModule Name: BidExample Bidder Adapter\n"
    )
    (prebid / "metadata" / "modules" / "bidexampleBidAdapter.json").write_text(
        json.dumps(PREBID_METADATA)
    )
    ocd = root / "ocd.json"
    ocd.write_text(json.dumps(OCD))
    state = importer.State(_known())
    outputs = [
        importer.import_tarteaucitron(tac, state),
        importer.import_prebid(prebid, state),
        importer.import_ocd(ocd, state),
    ]
    return {o.source: tomllib.loads(importer.render(o)) for o in outputs}


def test_tarteaucitron_services_keep_their_loader_hosts_only(imported: dict[str, Any]) -> None:
    (chat,) = imported["tarteaucitron"]["services"]
    assert chat["id"] == "example-chat"
    assert chat["name"] == "Example Chat"
    assert chat["category"] == "preferences"
    assert chat["hosts"] == ["widget.examplechat.example"]  # not the docs in a comment
    assert chat["source"] == "tarteaucitron"
    assert "cookies" not in chat  # the list gives no lifetimes
    # A whole site's own name is never claimed; an "api" service nobody mapped is left out.


def test_prebid_bidders_are_marketing_with_their_endpoints(imported: dict[str, Any]) -> None:
    (bidder,) = imported["prebid-js"]["services"]
    assert bidder["name"] == "BidExample"
    assert bidder["category"] == MARKETING
    # Its own domains for the name they carry; a library CDN and the docs' host are left out.
    assert bidder["hosts"] == ["bidexample-cdn.example", "bidexample.example"]
    cookies = {c["name"]: c for c in bidder["cookies"]}
    assert cookies["_bidex_uid"]["party"] == "first"  # its code writes it on the page's domain
    assert cookies["_bidex_uid"]["lifetime_days"] == 30
    assert cookies["bxsync"]["party"] == "third" and cookies["bxsync"]["lifetime_days"] == 1
    assert cookies["uid"]["party"] == "third"  # described only: a generic name
    assert "bx_local" not in cookies  # browser storage, not a cookie


def test_ocd_cookies_join_known_services_or_make_new_ones(imported: dict[str, Any]) -> None:
    data = imported["open-cookie-database"]
    by_id = {s["id"]: s for s in data["services"]}
    assert set(by_id) == {
        "example-analytics-analytics",
        "example-analytics-necessary",
        "google-analytics-necessary",
    }
    analytics = {c["name"]: c for c in by_id["example-analytics-analytics"]["cookies"]}
    assert analytics["_exa_id"]["lifetime_days"] == 396
    assert analytics["_exa_ses_*"]["pattern"] is True
    assert analytics["_exa_ses_*"]["lifetime_days"] == 1
    assert "session" not in analytics and "_exa_forever" not in analytics
    assert by_id["example-analytics-necessary"]["cookies"][0]["name"] == "_exa_consent"
    assert by_id["example-analytics-analytics"]["vendor"] == "Example Analytics BV"
    # A framework's session cookie is the site's own; Google's known pattern is not repeated.
    (extension,) = data["extends"]
    assert extension["id"] == "google-analytics"
    # A known tracker's functional cookie on its own domain is described under its purpose;
    # on the site's domain, where it would be enforced, it stays necessary.
    assert [c["name"] for c in extension["cookies"]] == ["GAFUNC", "_gaexample"]
    assert [c["name"] for c in by_id["google-analytics-necessary"]["cookies"]] == ["_gafunctional"]
    assert extension["source"] == "open-cookie-database"


def test_purposes_are_written_from_the_facts() -> None:
    assert importer.purpose(NECESSARY, "cmp_consent", "first", "X") == (
        "Keeps the visitor's consent choices for X."
    )
    assert "statistics" in importer.purpose(ANALYTICS, "_x_ses", "first", "X")
    assert "vendor's domain" in importer.purpose(MARKETING, "bx", "third", "X")


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("session", 0),
        ("Session", 0),
        ("End of session (browser)", 0),
        ("30 minutes", 1),
        ("1 day", 1),
        ("2 weeks", 14),
        ("13 months", 396),
        ("2 years", 730),
        ("Unknown", None),
        ("forever", None),
    ],
)
def test_retention_notes(text: str, days: int | None) -> None:
    assert importer.parse_retention(text) == days


def test_each_imported_file_names_its_own_source_on_every_entry() -> None:
    for name in importer.FILES.values():
        document = tomllib.loads((importer.OUT_DIR / name).read_text())
        ids = {s["source"] for s in document["services"]}
        ids |= {e["source"] for e in document.get("extends", [])}
        assert ids == {next(k for k, v in importer.FILES.items() if v == name)}, name
    assert set(importer.FILES) < set(sources())


def test_the_catalogue_is_large_and_every_entry_names_its_source() -> None:
    catalogue = Catalogue.builtin()
    assert len(catalogue) >= 1000
    cookies = [c for s in catalogue for c in s.cookies]
    assert len(cookies) >= 2300
    assert all(s.source for s in catalogue)
    by_source = Counter(s.source for s in catalogue)
    assert set(by_source) == {"vendor-docs", *importer.FILES}
    # No tracker's first-party cookie has a name any site might use for its own.
    assert not [
        (s.id, c.name)
        for s in catalogue
        if s.category != NECESSARY
        for c in s.cookies
        if generic_first_party(c)
    ]
