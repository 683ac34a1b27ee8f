"""Regions over HTTP: the model each visitor gets, the opt-out link and choices page, GPC as
an opt-out recorded once, gpc.json, and the GPP string in pages and receipts."""

from __future__ import annotations

import gzip
import html
import json
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from consent import ConsentConfig, ConsentMiddleware
from consent import gpp as gpp_module
from consent.assets import assets
from consent.errors import ConfigError
from consent.regional import RegionalPolicy
from consent.regions import Region
from tests.conftest import page_app
from tests.reference import NodeReference

US_CA = {"cf-ipcountry": "US", "cf-region-code": "CA"}
GERMANY = {"cf-ipcountry": "DE"}
PAGE = {"accept": "text/html", "sec-fetch-dest": "document"}
LINK = "Do Not Sell or Share My Personal Information"
HONOURED = "Opt-Out Request Honored"


def regional(make_config: Callable[..., ConsentConfig], **overrides: Any) -> TestClient:
    values: dict[str, Any] = {"region_source": "cloudflare"}
    values.update(overrides)
    return TestClient(ConsentMiddleware(page_app(), config=make_config(**values)))


def receipts(audit_url: str) -> list[dict[str, Any]]:
    """The stored receipts; none when no decision ever opened the store."""
    path = Path(audit_url.removeprefix("sqlite:///"))
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM receipts ORDER BY seq")]


def banner_visible(page: str) -> bool:
    match = re.search(r"<div class=\"cst\"[^>]*>", page)
    assert match, "every page carries the banner element"
    return " hidden" not in match.group(0)


def page_gpp(page: str) -> dict[str, Any]:
    match = re.search(r'<script src="[^"]*/gpp\.[0-9a-f]+\.js" data-gpp="([^"]+)"', page)
    assert match, "the GPP API's script is in the page"
    data: dict[str, Any] = json.loads(html.unescape(match.group(1)))
    return data


# ----- configuration -----------------------------------------------------------------------


def test_regions_are_off_by_default_and_a_country_header_counts_for_nothing(
    make_config: Callable[..., ConsentConfig],
) -> None:
    client = TestClient(ConsentMiddleware(page_app(), config=make_config()))
    page = client.get("/", headers={**US_CA, **PAGE})
    assert banner_visible(page.text)
    assert LINK not in page.text
    assert "gpp." not in page.text
    assert "cf-ipcountry" not in page.headers["vary"].lower()
    assert client.get("/.well-known/gpc.json").status_code == 404


def test_forged_header_from_a_client_is_ignored_when_another_source_is_trusted(
    make_config: Callable[..., ConsentConfig],
) -> None:
    client = regional(make_config, region_source="cloudfront")
    page = client.get("/", headers={**US_CA, **PAGE})
    assert banner_visible(page.text)  # unknown: the strictest model, opt-in
    assert page_gpp(page.text)["applicableSections"] == [-1]


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("region_source", "akamai"),
        ("region_source", "header:bad name"),
        ("region_source", 42),
        ("regions", {"Germany": "opt_in"}),
        ("regions", {"DE": "opt_maybe"}),
        ("regions", {}),
        ("regions", ["DE"]),
        ("gpp_cmp_id", 0),
        ("gpp_cmp_id", True),
        ("google_ads_data_redaction", "yes"),
        ("google_url_passthrough", 1),
    ],
)
def test_bad_region_settings_are_named(
    make_config: Callable[..., ConsentConfig], setting: str, value: object
) -> None:
    with pytest.raises(ConfigError) as caught:
        make_config(**{"region_source": "cloudflare", setting: value})
    assert caught.value.setting == setting
    assert setting in str(caught.value)


def test_toml_takes_the_rules_and_the_source(tmp_path: Path) -> None:
    path = tmp_path / "consent.toml"
    path.write_text(
        'secret_key = "a-secret-key-of-enough-length"\n'
        'region_source = "header:x-country,x-region"\n'
        "gpp_cmp_id = 300\n"
        "[regions]\n"
        '"*" = "notice_only"\n'
        'EEA = "opt_in"\n'
        '"US-CA" = "opt_out"\n'
    )
    config = ConsentConfig.from_toml(path)
    assert config.region_source == "header:x-country,x-region"
    assert config.regions == {"*": "notice_only", "EEA": "opt_in", "US-CA": "opt_out"}
    assert config.gpp_cmp_id == 300
    path.write_text('secret_key = "a-secret-key-of-enough-length"\n[regions]\nXX1 = "opt_in"\n')
    with pytest.raises(ConfigError, match="key 'regions'"):
        ConsentConfig.from_toml(path)


# ----- each model ----------------------------------------------------------------------------


def test_a_us_visitor_gets_the_opt_out_model(
    make_config: Callable[..., ConsentConfig], audit_url: str
) -> None:
    client = regional(make_config)
    page = client.get("/", headers={**US_CA, **PAGE})
    assert not banner_visible(page.text)
    assert LINK in page.text and "data-consent-open" in page.text
    assert HONOURED not in page.text
    assert page.headers["x-consent-decided"] == "False"
    vary = page.headers["vary"].lower()
    assert "cf-ipcountry" in vary and "cf-region-code" in vary
    state = client.get("/_consent/state", headers=US_CA).json()
    assert state["model"] == "opt_out" and state["region"] == "US-CA"
    assert "marketing" in state["granted"]  # on until the visitor opts out
    values = gpp_module.decode(state["gpp"]["gppString"]).sections["usca"]
    assert values["SaleOptOut"] == values["SharingOptOut"] == gpp_module.NO
    assert values["Gpc"] is False
    assert receipts(audit_url) == []  # nothing decided, nothing recorded


def test_scope_tells_the_app_which_model_applied(
    make_config: Callable[..., ConsentConfig],
) -> None:
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["consent"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    config = make_config(region_source="cloudflare")
    client = TestClient(ConsentMiddleware(app, config=config))
    client.get("/", headers={"cf-ipcountry": "US", "cf-region-code": "VA"})
    client.get("/", headers=GERMANY)
    client.get("/", headers={"cf-ipcountry": "XX"})
    us, de, unknown = seen
    assert (us.model, us.region, us.rule) == ("opt_out", "US-VA", "US-STATES-WITH-PRIVACY-LAWS")
    assert us.allows("marketing") and not us.decided
    assert us.gpp_sid == (9,) and us.gpp.startswith("DBAB")
    assert (de.model, de.region, de.rule) == ("opt_in", "DE", "EEA")
    assert not de.allows("marketing")
    assert (unknown.model, unknown.region) == ("opt_in", "unknown")
    assert [us.asks, de.asks, unknown.asks] == [False, True, True]


def test_an_eu_visitor_and_an_unknown_one_get_the_banner(
    make_config: Callable[..., ConsentConfig],
) -> None:
    client = regional(make_config)
    for headers in (GERMANY, {}, {"cf-ipcountry": "T1"}):
        page = client.get("/", headers={**headers, **PAGE})
        assert banner_visible(page.text), headers
        assert LINK not in page.text


def test_notice_only_and_none(make_config: Callable[..., ConsentConfig]) -> None:
    client = regional(make_config, regions={"JP": "notice_only", "BR": "none", "*": "opt_in"})
    notice = client.get("/", headers={"cf-ipcountry": "JP", **PAGE}).text
    assert not banner_visible(notice)
    assert "This site uses cookies and similar technologies" in notice
    assert "Your Privacy Choices" in notice
    quiet = client.get("/", headers={"cf-ipcountry": "BR", **PAGE}).text
    assert not banner_visible(quiet)
    assert LINK not in quiet and "data-consent-open" in quiet
    choices = client.get("/_consent/preferences", headers={"cf-ipcountry": "BR"})
    assert choices.status_code == 200 and 'name="category"' in choices.text


def test_a_resolver_decides_and_a_failing_one_means_unknown(
    make_config: Callable[..., ConsentConfig],
) -> None:
    def resolver(scope: Any) -> str | None:
        if scope["path"].endswith("/boom"):
            raise RuntimeError("geo database missing")
        return "US-CO"

    client = regional(make_config, region_source=resolver)
    page = client.get("/", headers={**PAGE, "cf-ipcountry": "DE"})
    assert not banner_visible(page.text)  # the resolver, not the header, decides
    assert "cf-ipcountry" not in page.headers["vary"].lower()
    assert banner_visible(client.get("/news/boom", headers=PAGE).text)  # unknown: opt-in
    answer = client.get("/_consent/state").json()
    assert answer["region"] == "US-CO"


def test_the_page_cache_keeps_each_region_its_own_page(
    make_config: Callable[..., ConsentConfig],
) -> None:
    client = regional(make_config)
    for _ in range(2):
        assert not banner_visible(client.get("/", headers={**US_CA, **PAGE}).text)
        assert banner_visible(client.get("/", headers={**GERMANY, **PAGE}).text)


def test_shared_cache_mode_varies_on_the_location(
    make_config: Callable[..., ConsentConfig],
) -> None:
    client = regional(make_config, shared_cache_mode=True)
    page = client.get("/", headers={**US_CA, **PAGE})
    assert "cf-ipcountry" in page.headers["vary"].lower()
    ours = ("consent=", "consent_csrf=")
    assert not any(c.startswith(ours) for c in page.headers.get_list("set-cookie"))
    assert LINK in page.text


# ----- opting out ------------------------------------------------------------------------------


def test_opting_out_on_the_choices_page_is_a_receipt(
    make_config: Callable[..., ConsentConfig], audit_url: str
) -> None:
    client = regional(make_config)
    choices = client.get("/_consent/preferences?next=/news/a", headers=US_CA)
    assert "Your Privacy Choices" in choices.text
    form = re.search(r'<form class="[^"]*cst-optout-form.*?</form>', choices.text, re.S)
    assert form
    fields = re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(0))
    assert ("category", "marketing") not in fields
    answer = client.post(
        "/_consent/decision",
        content=urlencode(fields),
        headers={**US_CA, "content-type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/news/a"
    (stored,) = receipts(audit_url)
    assert stored["method"] == "optout" and stored["action"] == "custom"
    assert (stored["region"], stored["privacy_model"]) == ("US-CA", "opt_out")
    assert "marketing" in stored["refused"]
    values = gpp_module.decode(stored["gpp"]).sections["usca"]
    assert values["SaleOptOut"] == values["SharingOptOut"] == gpp_module.YES
    state = client.get("/_consent/state", headers=US_CA).json()
    assert state["decided"] and "marketing" not in state["granted"]
    shown = client.get("/_consent/receipt").json()["receipts"][0]
    assert shown["region"] == "US-CA" and shown["gpp"] == stored["gpp"]


def test_receipts_of_a_site_without_regions_stay_as_they_were(
    make_config: Callable[..., ConsentConfig], audit_url: str
) -> None:
    client = TestClient(ConsentMiddleware(page_app(), config=make_config()))
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text)
    assert token
    client.post("/_consent/decision", data={"action": "reject_all", "csrf_token": token.group(1)})
    (stored,) = receipts(audit_url)
    assert stored["region"] is None and stored["privacy_model"] is None and stored["gpp"] is None


# ----- GPC -------------------------------------------------------------------------------------


def test_gpc_in_an_opt_out_region_is_recorded_once_and_shown(
    make_config: Callable[..., ConsentConfig], audit_url: str
) -> None:
    client = regional(make_config)
    signal = {**US_CA, **PAGE, "sec-gpc": "1"}
    first = client.get("/", headers=signal)
    assert HONOURED in first.text and not banner_visible(first.text)
    assert any(c.startswith("consent=") for c in first.headers.get_list("set-cookie"))
    (stored,) = receipts(audit_url)
    assert (stored["method"], stored["action"], stored["rule"]) == ("gpc", "gpc", "gpc")
    assert "marketing" in stored["refused"] and stored["privacy_model"] == "opt_out"
    assert gpp_module.decode(stored["gpp"]).sections["usca"]["Gpc"] is True
    for _ in range(3):
        again = client.get("/", headers=signal)
        assert HONOURED in again.text
        assert not any(c.startswith("consent=") for c in again.headers.get_list("set-cookie"))
    client.get("/news/b", headers=signal)
    assert len(receipts(audit_url)) == 1  # once per consent id, not per request
    assert client.get("/_consent/state", headers=signal).json()["gpc"] is True


def test_gpc_in_an_opt_in_region_refuses_marketing_without_a_receipt(
    make_config: Callable[..., ConsentConfig], audit_url: str
) -> None:
    client = regional(make_config)
    page = client.get("/", headers={**GERMANY, **PAGE, "sec-gpc": "1"})
    assert banner_visible(page.text)
    assert "cst-gpc-honoured" not in page.text  # no opt-out block: the banner's note says it
    assert "Global Privacy Control" in page.text
    # The switch the signal locks off says why, never "Always active".
    label = re.search(r'<label for="cst-marketing">(.*?)</label>', page.text)
    assert label and HONOURED in label.group(1) and "Always active" not in label.group(1)
    assert receipts(audit_url) == []


def test_gpc_from_a_script_fetch_records_nothing(
    make_config: Callable[..., ConsentConfig], audit_url: str
) -> None:
    client = regional(make_config)
    client.get("/state", headers={**US_CA, "sec-gpc": "1", "accept": "application/json"})
    assert receipts(audit_url) == []


def test_gpc_json_is_served(make_config: Callable[..., ConsentConfig]) -> None:
    client = regional(make_config)
    answer = client.get("/.well-known/gpc.json")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert body["gpc"] is True
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", body["lastUpdate"])


# ----- GPP -----------------------------------------------------------------------------------


def test_the_page_carries_the_gpp_api_first_in_its_head(
    make_config: Callable[..., ConsentConfig],
) -> None:
    client = regional(make_config)
    page = client.get("/", headers={**US_CA, **PAGE}).text
    head = page[page.index("<head>") : page.index("</head>")]
    assert head.index("/gpp.") < head.index("<script", 0) + 40
    data = page_gpp(page)
    assert data["cmpId"] == 1 and data["applicableSections"] == [8]
    assert data["parsedSections"]["usca"]["SaleOptOut"] == gpp_module.NO


def test_the_gpp_script_stays_small() -> None:
    (script,) = [a for a in assets().values() if a.logical_name == "gpp.js"]
    assert len(gzip.compress(script.body, 9)) <= 2048


STATES = st.sampled_from(["CA", "VA", "CO", "UT", "CT", "TX", "OR", None])


@settings(max_examples=40, deadline=None)
@given(state=STATES, opted_out=st.booleans(), gpc=st.booleans())
def test_gpp_strings_of_every_choice_decode_in_iabs_library(
    gpp_reference: NodeReference, state: str | None, opted_out: bool, gpc: bool
) -> None:
    config = ConsentConfig(secret_key="k" * 32, region_source="cloudflare")
    policy = RegionalPolicy(config, frozenset(config.category_ids))
    string, sids, parsed = policy.gpp_for(Region("US", state), opted_out=opted_out, gpc=gpc)
    sections = json.loads(parsed)
    (name,) = sections
    answer = gpp_reference.ask({"decode": string, "fields": {name: list(sections[name])}})
    assert "error" not in answer, answer
    assert answer["sectionIds"] == list(sids)
    assert answer["sections"][name] == sections[name]
    # The reverse: IAB's library, given the same values, writes the very same string.
    given_values = {k: v for k, v in sections[name].items() if k != "Version"}
    assert gpp_reference.ask({"encode": {name: given_values}}) == {"string": string}
    expected = gpp_module.YES if opted_out else gpp_module.NO
    assert sections[name]["SaleOptOut"] == expected
    if "Gpc" in sections[name]:
        assert sections[name]["Gpc"] is gpc


def test_the_admin_lookup_shows_the_region_fields(
    make_config: Callable[..., ConsentConfig], audit_url: str
) -> None:
    import base64

    client = regional(make_config, admin_user="dpo", admin_password="a-long-admin-password")
    client.get("/", headers={**US_CA, **PAGE, "sec-gpc": "1"})
    (stored,) = receipts(audit_url)
    auth = {"authorization": "Basic " + base64.b64encode(b"dpo:a-long-admin-password").decode()}
    page = client.get(
        "/_consent/admin/lookup", params={"consent_id": stored["consent_id"]}, headers=auth
    ).text
    for name, value in (("region", "US-CA"), ("privacy_model", "opt_out"), ("method", "gpc")):
        assert f'<th scope="row">{name}</th><td>{value}</td>' in page
    assert html.escape(stored["gpp"]) in page


# ----- Google Consent Mode -------------------------------------------------------------------


def gcm_attribute(page: str, name: str) -> Any:
    match = re.search(r'<script src="[^"]*/gcm\.[0-9a-f]+\.js"[^>]*>', page)
    assert match, "the Consent Mode script is in the page"
    value = re.search(rf'{name}="([^"]*)"', match.group(0))
    return None if value is None else json.loads(html.unescape(value.group(1)))


def test_consent_mode_defaults_follow_the_regions(
    make_config: Callable[..., ConsentConfig],
) -> None:
    client = regional(
        make_config,
        regions={"US": "opt_out", "US-TX": "opt_in", "EEA": "opt_in", "*": "opt_in"},
        google_ads_data_redaction=True,
        google_url_passthrough=True,
    )
    page = client.get("/", headers={**US_CA, **PAGE}).text
    assert gcm_attribute(page, "data-regions") == {
        "other": "denied",
        "granted": ["US"],
        "denied": ["US-TX"],
        "gpc": ["marketing"],
    }
    assert gcm_attribute(page, "data-options") == {
        "ads_data_redaction": True,
        "url_passthrough": True,
    }
    # The visitor's own state follows at once: an opt-out region grants until an opt-out.
    assert "marketing" in gcm_attribute(page, "data-granted")


def test_consent_mode_without_regions_is_as_before(
    make_config: Callable[..., ConsentConfig],
) -> None:
    client = TestClient(ConsentMiddleware(page_app(), config=make_config()))
    page = client.get("/", headers=PAGE).text
    assert gcm_attribute(page, "data-regions") is None
    assert gcm_attribute(page, "data-options") is None
    assert gcm_attribute(page, "data-granted") is None


def test_a_shared_page_carries_an_undecided_string_marked_pending(
    make_config: Callable[..., ConsentConfig],
) -> None:
    client = regional(make_config, shared_cache_mode=True)
    fresh = page_gpp(client.get("/", headers={**US_CA, **PAGE}).text)
    assert fresh["pending"] is True
    assert fresh["parsedSections"]["usca"]["SaleOptOut"] == gpp_module.NO
    # An opted-out visitor gets the very same page; the state endpoint has their string.
    client.post(
        "/_consent/decision",
        data={"action": "reject_all"},
        headers={**US_CA, "sec-fetch-site": "same-origin"},
    )
    assert client.get("/_consent/state", headers=US_CA).json()["decided"]
    again = page_gpp(client.get("/", headers={**US_CA, **PAGE}).text)
    assert again == fresh
    mine = client.get("/_consent/state", headers=US_CA).json()["gpp"]
    assert mine["parsedSections"]["usca"]["SaleOptOut"] == gpp_module.YES


def test_a_page_of_its_own_carries_the_visitors_string_ready(
    make_config: Callable[..., ConsentConfig],
) -> None:
    client = regional(make_config)
    data = page_gpp(client.get("/", headers={**US_CA, **PAGE, "sec-gpc": "1"}).text)
    assert data["pending"] is False
    assert data["parsedSections"]["usca"]["SaleOptOut"] == gpp_module.YES
    assert data["parsedSections"]["usca"]["Gpc"] is True


def test_consent_cookie_decode_says_the_signal_is_recorded(
    make_config: Callable[..., ConsentConfig], tmp_path: Path
) -> None:
    from tests.conftest import SECRET
    from tests.test_cli import _consent, _environment

    client = regional(make_config)
    first = client.get("/", headers={**US_CA, **PAGE, "sec-gpc": "1"})
    (cookie,) = [c for c in first.headers.get_list("set-cookie") if c.startswith("consent=")]
    value = cookie.split(";")[0].removeprefix("consent=")
    shown = _consent(
        ["cookie", "decode", value], cwd=tmp_path, env=_environment(CONSENT_SECRET_KEY=SECRET)
    )
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert document["gpc_recorded"] is True and "marketing" not in document["granted"]


def test_a_click_after_the_signal_does_not_record_the_signal_again(
    make_config: Callable[..., ConsentConfig], audit_url: str
) -> None:
    client = regional(make_config)
    signal = {**US_CA, **PAGE, "sec-gpc": "1"}
    client.get("/", headers=signal)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/", headers=signal).text)
    assert token
    answer = client.post(
        "/_consent/decision",
        data={"action": "accept_all", "csrf_token": token.group(1)},
        headers={**signal, "accept": "application/json"},
    )
    assert answer.status_code == 200
    assert "marketing" not in answer.json()["granted"]  # GPC still refuses it
    client.get("/news/c", headers=signal)
    assert [r["method"] for r in receipts(audit_url)] == ["gpc", "form"]


def test_gpc_is_honoured_when_the_store_cannot_record_it(
    make_config: Callable[..., ConsentConfig], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the store's directory should be")
    client = regional(make_config, audit_url=f"sqlite:///{blocked}/audit.db")
    page = client.get("/", headers={**US_CA, **PAGE, "sec-gpc": "1"})
    assert page.status_code == 200
    assert HONOURED in page.text and page.headers["x-consent-decided"] == "False"
    assert not any(c.startswith("consent=") for c in page.headers.get_list("set-cookie"))
    assert "could not record a GPC signal" in caplog.text


def test_a_failure_in_the_region_code_asks_the_visitor(
    make_config: Callable[..., ConsentConfig],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("a bug in the region code")

    monkeypatch.setattr(RegionalPolicy, "_state", broken)
    client = regional(make_config)
    page = client.get("/", headers={**US_CA, **PAGE})
    assert page.status_code == 200 and banner_visible(page.text)  # the strictest model
    assert "the region could not be applied" in caplog.text


def test_on_shared_pages_the_state_endpoint_records_the_signal_once(
    make_config: Callable[..., ConsentConfig], audit_url: str
) -> None:
    client = regional(make_config, shared_cache_mode=True)
    signal = {**US_CA, "sec-gpc": "1"}
    page = client.get("/news/d", headers={**signal, **PAGE})
    assert HONOURED in page.text
    assert not any(c.startswith("consent=") for c in page.headers.get_list("set-cookie"))
    assert receipts(audit_url) == []  # a shared page records nothing
    referer = {"referer": "http://testserver/news/d?utm_source=x"}
    first = client.get("/_consent/state", headers={**signal, **referer})
    assert first.json()["decided"] and "marketing" not in first.json()["granted"]
    assert any(c.startswith("consent=") for c in first.headers.get_list("set-cookie"))
    for _ in range(2):
        again = client.get("/_consent/state", headers={**signal, **referer})
        assert "set-cookie" not in again.headers
    (stored,) = receipts(audit_url)
    assert (stored["method"], stored["path"], stored["privacy_model"]) == (
        "gpc",
        "/news/d",
        "opt_out",
    )


def test_the_gpp_scripts_state_request_records_nothing(
    make_config: Callable[..., ConsentConfig], audit_url: str
) -> None:
    client = regional(make_config, shared_cache_mode=True)
    answer = client.get("/_consent/state?for=gpp", headers={**US_CA, "sec-gpc": "1"})
    assert answer.json()["gpp"]["parsedSections"]["usca"]["Gpc"] is True
    assert "set-cookie" not in answer.headers
    assert receipts(audit_url) == []
