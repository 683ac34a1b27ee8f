"""The TCF layer on the server: settings, the TC string of each decision, its cookie, the
receipt, the AC string, and re-prompting when the vendor list changes."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from consent import ConsentConfig, ConsentMiddleware
from consent.config import ConfigError
from consent.tcf import TCString, decode, encode
from consent.tcfconfig import THIRTEEN_MONTHS, TcfSettings
from tests.conftest import csrf_token, page_app, without_held_marker
from tests.reference import NodeReference

FIXTURES = Path(__file__).parent / "fixtures"
GVL = FIXTURES / "vendor-list.json"
VENDORS = (1, 2, 3, 6, 8, 755)
DECISION = "/_consent/decision"


def settings(**overrides: Any) -> TcfSettings:
    values: dict[str, Any] = {
        "cmp_id": 300,
        "cmp_version": 2,
        "vendor_list_file": GVL,
        "language_dir": FIXTURES,
        "vendors": VENDORS,
        "publisher_country_code": "de",
    }
    values.update(overrides)
    return TcfSettings(**values)


@pytest.fixture
def tcf_client(make_config: Callable[..., ConsentConfig]) -> TestClient:
    config = make_config(tcf=settings(google_atp_providers=[89, 2822]))
    return TestClient(ConsentMiddleware(page_app(), config=config))


def decide(client: TestClient, data: dict[str, Any]) -> Any:
    token = csrf_token(client)
    return client.post(
        DECISION,
        data={"csrf_token": token, **data},
        headers={"accept": "application/json"},
    )


def tc_cookie(response: Any) -> str:
    found = [h for h in response.headers.get_list("set-cookie") if h.startswith("euconsent-v2=")]
    assert len(found) == 1, found
    assert "HttpOnly" not in found[0] and "Path=/" in found[0] and "Max-Age=15811200" in found[0]
    return str(found[0].split(";")[0].split("=", 1)[1])


# -- settings ------------------------------------------------------------------------------


def test_tcf_is_off_by_default(make_config: Callable[..., ConsentConfig]) -> None:
    config = make_config()
    assert config.tcf is None and "+tcf." not in config.policy_version
    client = TestClient(ConsentMiddleware(page_app(), config=config))
    response = decide(client, {"action": "accept_all"})
    assert "tc_string" not in response.json()
    assert not any(h.startswith("euconsent-v2=") for h in response.headers.get_list("set-cookie"))
    assert b"__tcfapi" not in client.get("/").content


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"cmp_id": 1}, "tcf.cmp_id"),
        ({"cmp_id": 4096}, "tcf.cmp_id"),
        ({"cmp_version": True}, "tcf.cmp_version"),
        ({"publisher_country_code": "DEU"}, "tcf.publisher_country_code"),
        ({"vendors": [1, 99]}, "tcf.vendor_list_file"),
        ({"vendors": [5]}, "tcf.vendor_list_file"),  # deleted from the list
        ({"vendors": "1,2"}, "tcf.vendors"),
        ({"vendor_list_file": FIXTURES / "missing.json"}, "tcf.vendor_list_file"),
        ({"language_dir": FIXTURES / "missing"}, "tcf.language_dir"),
        ({"category_purposes": {"marketing": [12]}}, "tcf.category_purposes.marketing"),
        (
            {"category_special_features": {"marketing": [3]}},
            "tcf.category_special_features.marketing",
        ),
        ({"google_atp_providers": [0]}, "tcf.google_atp_providers"),
        ({"purpose_one_treatment": "yes"}, "tcf.purpose_one_treatment"),
    ],
)
def test_bad_settings_are_refused_naming_them(overrides: dict[str, Any], setting: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(**overrides)
    assert caught.value.setting == setting
    assert setting in str(caught.value)


def test_a_broken_vendor_list_stops_the_start(tmp_path: Path) -> None:
    broken = tmp_path / "vendor-list.json"
    broken.write_text('{"gvlSpecificationVersion": 3, "vendors": ')
    with pytest.raises(ConfigError, match=r"tcf\.vendor_list_file") as caught:
        settings(vendor_list_file=broken)
    assert str(broken) in str(caught.value)


def test_categories_named_must_exist(make_config: Callable[..., ConsentConfig]) -> None:
    with pytest.raises(ConfigError, match="unknown category 'ads'") as caught:
        make_config(tcf=settings(category_purposes={"ads": [1]}))
    assert caught.value.setting == "tcf.category_purposes"


def test_shared_cache_mode_pages_are_the_same_for_everyone(
    make_config: Callable[..., ConsentConfig],
) -> None:
    client = TestClient(
        ConsentMiddleware(page_app(), config=make_config(tcf=settings(), shared_cache_mode=True))
    )
    before = client.get("/").content
    assert b"tcfstub." in before
    response = client.post(
        DECISION,
        data={"action": "accept_all"},
        headers={"accept": "application/json", "sec-fetch-site": "same-origin"},
    )
    assert response.status_code == 200 and tc_cookie(response) == response.json()["tc_string"]
    # The decided visitor gets the same page; the script asks the state endpoint.
    assert without_held_marker(client.get("/").content) == without_held_marker(before)


def test_toml_table(tmp_path: Path) -> None:
    shutil.copy(GVL, tmp_path / "gvl.json")
    (tmp_path / "lang").mkdir()
    shutil.copy(FIXTURES / "purposes-de.json", tmp_path / "lang" / "purposes-de.json")
    path = tmp_path / "consent.toml"
    path.write_text(
        'secret_key = "test-secret-key-0123456789abcdef"\n'
        f'audit_url = "sqlite:///{tmp_path / "a.db"}"\n'
        '[tcf]\nenabled = true\ncmp_id = 300\nvendor_list_file = "gvl.json"\n'
        'language_dir = "lang"\nvendors = [1, 755]\npublisher_country_code = "FR"\n'
        "[tcf.category_purposes]\nmarketing = [1, 2, 3, 4]\n"
    )
    config = ConsentConfig.from_toml(path)
    assert config.tcf is not None
    assert set(config.tcf.vendor_list.vendors) == {1, 755}
    assert config.tcf.publisher_country_code == "FR"
    assert config.tcf.category_purposes["marketing"] == (1, 2, 3, 4)
    assert config.tcf.list_for("de").purposes[1].name == "Zweck 1"
    path.write_text(path.read_text().replace("cmp_id = 300", "cmp_id = 'x'"))
    with pytest.raises(ConfigError, match=r"key 'tcf\.cmp_id'"):
        ConsentConfig.from_toml(path)
    path.write_text(path.read_text().replace("enabled = true", "enabled = true\ncolour = 1"))
    with pytest.raises(ConfigError, match=r"key 'tcf\.colour'"):
        ConsentConfig.from_toml(path)
    disabled = path.read_text().replace("enabled = true\ncolour = 1", "enabled = false")
    path.write_text(disabled)
    assert ConsentConfig.from_toml(path).tcf is None


def test_vendor_list_changes_that_need_a_new_choice_make_decisions_stale(
    make_config: Callable[..., ConsentConfig], tmp_path: Path
) -> None:
    before = make_config(tcf=settings()).policy_version
    assert before.startswith("1+tcf.")
    document = json.loads(GVL.read_text())
    # A new version number, a renamed vendor, a longer retention: nothing to ask again.
    document["vendorListVersion"] += 1
    document["vendors"]["755"]["name"] = "Vendor 755 Ltd"
    document["vendors"]["755"]["dataRetention"] = {"stdRetention": 900}
    changed = tmp_path / "vendor-list.json"
    changed.write_text(json.dumps(document))
    assert make_config(tcf=settings(vendor_list_file=changed)).policy_version == before
    # A vendor declaring a new purpose: asked again.
    document["vendors"]["755"]["purposes"].append(5)
    changed.write_text(json.dumps(document))
    assert make_config(tcf=settings(vendor_list_file=changed)).policy_version != before
    # A vendor more in the configuration: asked again.
    assert make_config(tcf=settings(vendors=(*VENDORS, 9))).policy_version != before
    # A new TCF policy version: asked again, so that no string of the old version stays in use.
    document["vendors"]["755"]["purposes"].remove(5)
    document["tcfPolicyVersion"] += 1
    changed.write_text(json.dumps(document))
    assert make_config(tcf=settings(vendor_list_file=changed)).policy_version != before


def test_a_decision_before_a_vendor_change_counts_as_none(
    make_config: Callable[..., ConsentConfig], tmp_path: Path
) -> None:
    config = make_config(tcf=settings())
    client = TestClient(ConsentMiddleware(page_app(), config=config))
    assert decide(client, {"action": "accept_all"}).status_code == 200
    assert client.get("/state").json()["decided"] is True
    widened = make_config(tcf=settings(vendors=(*VENDORS, 9)))
    later = TestClient(ConsentMiddleware(page_app(), config=widened), cookies=client.cookies)
    assert later.get("/state").json()["decided"] is False


# -- strings -------------------------------------------------------------------------------


def test_accept_all(tcf_client: TestClient, tcf_reference: NodeReference) -> None:
    response = decide(tcf_client, {"action": "accept_all", "locale": "de"})
    body = response.json()
    assert tc_cookie(response) == body["tc_string"]
    read = tcf_reference.ask({"decode": body["tc_string"]})
    assert read["cmpId"] == 300 and read["cmpVersion"] == 2
    assert read["consentLanguage"] == "DE" and read["publisherCountryCode"] == "DE"
    assert read["vendorListVersion"] == 150 and read["policyVersion"] == 5
    assert read["purposeConsents"] == [1, 2, 3, 4, 7, 8, 9, 10]  # what the vendors use
    assert read["purposeLegitimateInterests"] == [2, 7, 8, 9, 10]
    # Vendors 2 declares no purpose on consent: it keeps only its legitimate interest.
    assert read["vendorConsents"] == [1, 3, 6, 8, 755]
    # Vendors 1 and 755 keep it for their special purposes, as IAB's rules have it.
    assert read["vendorLegitimateInterests"] == [1, 2, 3, 6, 755]
    assert read["disclosedVendors"] == list(VENDORS)
    assert read["createdMs"] % 86_400_000 == 0  # the day only
    assert body["ac_string"] == "2~89.2822~dv.89.2822"


def test_reject_all_refuses_everything(
    tcf_client: TestClient, tcf_reference: NodeReference
) -> None:
    response = decide(tcf_client, {"action": "reject_all"})
    read = tcf_reference.ask({"decode": tc_cookie(response)})
    assert read["purposeConsents"] == [] and read["purposeLegitimateInterests"] == []
    assert read["vendorConsents"] == [] and read["vendorLegitimateInterests"] == []
    assert read["specialFeatureOptIns"] == []
    assert read["disclosedVendors"] == list(VENDORS)
    assert response.json()["ac_string"] == "2~~dv.89.2822"


def test_a_choice_of_categories_maps_to_purposes(
    tcf_client: TestClient, tcf_reference: NodeReference
) -> None:
    response = decide(tcf_client, {"action": "custom", "category": "analytics"})
    read = tcf_reference.ask({"decode": tc_cookie(response)})
    assert read["purposeConsents"] == [1, 8, 9, 10]
    assert read["purposeLegitimateInterests"] == [8, 9, 10]
    # Vendors using purpose 1 on consent; vendor 6 also by legitimate interest for 8-10.
    assert read["vendorConsents"] == [1, 3, 6, 8, 755]
    assert read["vendorLegitimateInterests"] == [3, 6]


def test_the_tcf_layer_posts_its_own_choice(
    tcf_client: TestClient, tcf_reference: NodeReference
) -> None:
    response = decide(
        tcf_client,
        {
            "action": "custom",
            "category": "marketing",
            "tcf": "1",
            "tcf_purpose": ["1", "2"],
            "tcf_vendor": ["1", "755"],
            "tcf_purpose_objection": ["7"],
            "tcf_vendor_objection": ["6"],
        },
    )
    assert response.status_code == 200
    read = tcf_reference.ask({"decode": tc_cookie(response)})
    assert read["purposeConsents"] == [1, 2]
    assert read["purposeLegitimateInterests"] == [2, 8, 9, 10]
    assert read["vendorConsents"] == [1, 755]
    assert read["vendorLegitimateInterests"] == [1, 2, 3, 755]  # 6 objected to
    assert decode(response.json()["tc_string"]).vendor_consents == frozenset({1, 755})


@pytest.mark.parametrize(
    "field",
    [
        {"tcf_purpose": "12"},
        {"tcf_vendor": "9"},  # not among the site's vendors
        {"tcf_vendor": "x"},
        {"tcf_purpose_objection": "1"},  # purpose 1 never rests on legitimate interest
        {"tcf_special_feature": "2"},  # no listed vendor uses it
        {"tcf_vendor": "1" * 4400},  # more digits than int() reads
        {"tcf_vendor": "0" * 4400 + "1"},
    ],
)
def test_bad_tcf_fields_store_nothing(tcf_client: TestClient, field: dict[str, str]) -> None:
    response = decide(tcf_client, {"action": "custom", "tcf": "1", **field})
    assert response.status_code == 400
    assert "set-cookie" not in response.headers
    assert tcf_client.get("/_consent/receipt").status_code == 404


def test_the_receipt_keeps_both_strings(tcf_client: TestClient) -> None:
    response = decide(tcf_client, {"action": "accept_all"})
    receipts = tcf_client.get("/_consent/receipt").json()
    text = json.dumps(receipts)
    assert response.json()["tc_string"] in text
    assert "2~89.2822~dv.89.2822" in text


# -- command line --------------------------------------------------------------------------


def test_gvl_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from consent.cli import main

    in_use = tmp_path / "vendor-list.json"
    shutil.copy(GVL, in_use)
    config = tmp_path / "consent.toml"
    config.write_text(
        'secret_key = "test-secret-key-0123456789abcdef"\n'
        f'audit_url = "sqlite:///{tmp_path / "a.db"}"\n'
        '[tcf]\nenabled = true\ncmp_id = 300\nvendor_list_file = "vendor-list.json"\n'
        "vendors = [1, 755]\n"
    )
    document = json.loads(GVL.read_text())
    document["vendorListVersion"] = 151
    downloaded = tmp_path / "download.json"
    downloaded.write_text(json.dumps(document))
    assert main(["--config", str(config), "tcf", "check-gvl", str(downloaded)]) == 0
    said = capsys.readouterr().out
    assert "vendor list 151" in said and "in use: 150" in said and "no change" in said
    document["vendors"]["755"]["specialFeatures"] = [1, 2]
    downloaded.write_text(json.dumps(document))
    assert main(["--config", str(config), "tcf", "install-gvl", str(downloaded)]) == 0
    assert "asked again" in capsys.readouterr().out
    assert json.loads(in_use.read_text())["vendorListVersion"] == 151
    # A list without a configured vendor is refused and the file in use stays.
    del document["vendors"]["755"]
    document["vendorListVersion"] = 152
    downloaded.write_text(json.dumps(document))
    assert main(["--config", str(config), "tcf", "install-gvl", str(downloaded)]) == 1
    assert "755" in capsys.readouterr().err
    assert json.loads(in_use.read_text())["vendorListVersion"] == 151
    downloaded.write_text("{")
    assert main(["--config", str(config), "tcf", "check-gvl", str(downloaded)]) == 1


def test_an_installed_vendor_list_keeps_the_permissions_of_the_one_it_replaces(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The workers may run as another user than the operator who installs the list: the
    file they read stays readable to them, as it was."""
    from consent.cli import main

    in_use = tmp_path / "vendor-list.json"
    shutil.copy(GVL, in_use)
    in_use.chmod(0o644)
    config = tmp_path / "consent.toml"
    config.write_text(
        'secret_key = "test-secret-key-0123456789abcdef"\n'
        f'audit_url = "sqlite:///{tmp_path / "a.db"}"\n'
        '[tcf]\nenabled = true\ncmp_id = 300\nvendor_list_file = "vendor-list.json"\n'
    )
    downloaded = tmp_path / "download.json"
    shutil.copy(GVL, downloaded)
    downloaded.chmod(0o600)
    assert main(["--config", str(config), "tcf", "install-gvl", str(downloaded)]) == 0
    capsys.readouterr()
    assert in_use.stat().st_mode & 0o777 == 0o644


# -- pages ---------------------------------------------------------------------------------


def test_the_stub_comes_first_in_head_and_the_files_only_with_tcf(
    tcf_client: TestClient, make_config: Callable[..., ConsentConfig]
) -> None:
    page = tcf_client.get("/").text
    head = page[page.index("<head>") + len("<head>") :]
    assert head.startswith('<script src="/_consent/static/tcfstub.')
    assert "defer" not in head[: head.index(">")]  # runs before any ad script
    assert head.index("/tcf.") > head.index("tcfstub.")
    assert "cst-tcf-first" in page
    # Pages carry a link to the vendor list, which the second layer fetches when opened.
    assert 'name="tcf_vendor"' not in page
    assert 'href="/_consent/preferences?lang=en#cst-tcf-vendors">Partners (6)</a>' in page
    listed = tcf_client.get("/_consent/preferences?lang=en").text
    assert listed.count('name="tcf_vendor"') == len(VENDORS) and 'id="cst-tcf-vendors"' in listed
    plain = TestClient(ConsentMiddleware(page_app(), config=make_config())).get("/").text
    assert "tcfstub" not in plain and "/tcf." not in plain and "cst-tcf" not in plain


def test_the_policy_page_lists_the_tc_cookie(tcf_client: TestClient) -> None:
    page = tcf_client.get("/_consent/policy?lang=de").text
    assert "euconsent-v2" in page
    assert "TC-String" in page


def test_purpose_names_follow_the_language(tcf_client: TestClient) -> None:
    german = tcf_client.get("/_consent/preferences?lang=de").text
    assert "Zweck 1" in german and "Widerspruch gegen: Vendor 6" in german
    english = tcf_client.get("/_consent/preferences?lang=fr").text
    assert "Purpose 1" in english  # no purposes-fr.json: the list's English names


def test_no_decision_outlives_thirteen_months(make_config: Callable[..., ConsentConfig]) -> None:
    longest = 2 * 15_811_200
    assert make_config(tcf=settings(), cookie_max_age=longest).cookie_max_age < THIRTEEN_MONTHS
    with pytest.raises(ConfigError):
        make_config(tcf=settings(), cookie_max_age=longest + 1)


def test_gpc_keeps_marketing_purposes_out_of_accept_all(
    tcf_client: TestClient, tcf_reference: NodeReference
) -> None:
    token = csrf_token(tcf_client)
    response = tcf_client.post(
        DECISION,
        data={"csrf_token": token, "action": "accept_all"},
        headers={"accept": "application/json", "sec-gpc": "1"},
    )
    assert "marketing" not in response.json()["granted"]
    read = tcf_reference.ask({"decode": tc_cookie(response)})
    assert read["purposeConsents"] == [1, 8, 9, 10]  # no 2, 3, 4, 7
    assert read["purposeLegitimateInterests"] == [8, 9, 10]
    assert response.json()["ac_string"] == "2~~dv.89.2822"


def test_purpose_one_treatment_leaves_purpose_one_unasked(
    make_config: Callable[..., ConsentConfig], tcf_reference: NodeReference
) -> None:
    """docs/configuration.md: set where the operator chose not to ask for purpose 1; the TC
    string then says purpose 1 was not disclosed, so it cannot carry a consent to it."""
    config = make_config(tcf=settings(purpose_one_treatment=True))
    client = TestClient(ConsentMiddleware(page_app(), config=config))
    assert 'id="cst-tcf-p1"' not in client.get("/_consent/preferences").text
    assert 'id="cst-tcf-p2"' in client.get("/_consent/preferences").text
    for fields in ({"action": "accept_all"}, {"action": "custom", "category": "marketing"}):
        read = tcf_reference.ask({"decode": tc_cookie(decide(client, fields))})
        assert read["purposeOneTreatment"] is True
        assert 1 not in read["purposeConsents"] and 2 in read["purposeConsents"]
    posted = decide(client, {"action": "custom", "tcf": "1", "tcf_purpose": ["1", "2"]})
    assert posted.status_code == 400


def test_gpc_keeps_marketing_purposes_out_of_the_tcf_layers_choice(
    tcf_client: TestClient, tcf_reference: NodeReference
) -> None:
    """docs/tcf.md: a decision taken with the signal gives marketing's purposes no consent,
    whichever layer it comes from."""
    token = csrf_token(tcf_client)
    response = tcf_client.post(
        DECISION,
        data={
            "csrf_token": token,
            "action": "custom",
            "category": ["analytics", "marketing"],
            "tcf": "1",
            "tcf_purpose": ["1", "2", "3", "4", "8"],
            "tcf_vendor": ["1", "755"],
        },
        headers={"accept": "application/json", "sec-gpc": "1"},
    )
    assert response.status_code == 200
    assert "marketing" not in response.json()["granted"]
    read = tcf_reference.ask({"decode": tc_cookie(response)})
    assert read["purposeConsents"] == [1, 8]  # 1 stays with analytics
    assert read["purposeLegitimateInterests"] == [8, 9, 10]  # no 2 or 7


def test_the_page_without_script_shows_the_stored_choice(tcf_client: TestClient) -> None:
    def ticked(page: str) -> set[str]:
        return set(re.findall(r'id="(cst-tcf-[a-z]+\d+)"[^>]*\bchecked\b', page))

    assert ticked(tcf_client.get("/_consent/preferences").text) == set()
    decide(
        tcf_client,
        {
            "action": "custom",
            "tcf": "1",
            "tcf_purpose": ["1", "2"],
            "tcf_vendor": "755",
            "tcf_purpose_objection": "7",
            "tcf_vendor_objection": "6",
        },
    )
    page = tcf_client.get("/_consent/preferences").text
    # Vendors 1 and 755 keep legitimate interest for their special purposes: no objection.
    assert ticked(page) == {"cst-tcf-p1", "cst-tcf-p2", "cst-tcf-v755", "cst-tcf-o7", "cst-tcf-vo6"}
    # A string that cannot be read ticks nothing and breaks nothing.
    tcf_client.cookies.set("euconsent-v2", "not*a*string")
    assert ticked(tcf_client.get("/_consent/preferences").text) == set()


def test_every_locale_renders_the_tcf_layers(
    tcf_client: TestClient, make_config: Callable[..., ConsentConfig]
) -> None:
    import html

    from consent.runtime import UNDECIDED, ConsentRuntime

    runtime = ConsentRuntime(make_config(tcf=settings()))
    english = runtime.locales.get("en").texts
    for locale in runtime.locales:
        texts = locale.texts
        banner = html.unescape(runtime.banner(locale, UNDECIDED, csrf_token="t", next_path="/"))
        assert texts["tcf.intro"].replace("{vendors}", "6") in banner, locale.tag
        page = html.unescape(tcf_client.get(f"/_consent/preferences?lang={locale.tag}").text)
        assert f'lang="{locale.tag}"' in page
        assert texts["tcf.object"].replace("{name}", "Vendor 6") in page, locale.tag
        assert texts["tcf.retention"].replace("{days}", "365") in page, locale.tag
        if locale.tag != "en":
            assert texts["tcf.intro"] != english["tcf.intro"], locale.tag


def test_a_tcf_choice_over_a_long_vendor_list_is_taken(
    make_config: Callable[..., ConsentConfig], tmp_path: Path
) -> None:
    # A site working with a few hundred vendors: ticking every one of them in the second
    # layer posts far more fields, and bytes, than a decision of categories.
    document = json.loads(GVL.read_text())
    template = document["vendors"]["755"]
    many = list(range(1000, 1300))
    for number in many:
        document["vendors"][str(number)] = {**template, "id": number, "name": f"V{number}"}
    listed = tmp_path / "vendor-list.json"
    listed.write_text(json.dumps(document))
    config = make_config(tcf=settings(vendor_list_file=listed, vendors=(*VENDORS, *many)))
    client = TestClient(ConsentMiddleware(page_app(), config=config))
    chosen = [*VENDORS, *many]
    response = decide(
        client,
        {
            "action": "custom",
            "tcf": "1",
            "tcf_purpose": ["1", "2"],
            "tcf_vendor": [str(i) for i in chosen],
            "tcf_vendor_objection": [str(i) for i in chosen],
        },
    )
    assert response.status_code == 200, response.text
    # Vendor 2 declares no purpose on consent: the vendor list's rules leave it out.
    assert decode(tc_cookie(response)).vendor_consents == frozenset(chosen) - {2}


def test_fields_past_what_the_tcf_layer_can_post_are_still_refused(tcf_client: TestClient) -> None:
    response = decide(tcf_client, {"action": "custom", "tcf": "1", "tcf_vendor": ["1"] * 400})
    assert response.status_code in (400, 413)
    assert "set-cookie" not in response.headers


def another_cmps_string() -> str:
    """What the CMP of another part of the site (cmp id 10) writes as ``euconsent-v2``."""
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    return encode(
        TCString(
            created=moment,
            last_updated=moment,
            cmp_id=10,
            cmp_version=1,
            vendor_list_version=150,
            purpose_consents=frozenset(range(1, 11)),
            vendor_consents=frozenset({2, 9, 755}),
        )
    )


def test_the_page_without_script_ignores_a_string_of_another_cmp(tcf_client: TestClient) -> None:
    foreign = another_cmps_string()
    decide(tcf_client, {"action": "reject_all"})
    tcf_client.cookies.set("euconsent-v2", foreign)
    page = tcf_client.get("/_consent/preferences").text
    assert re.findall(r'id="(cst-tcf-[a-z]+\d+)"[^>]*\bchecked\b', page) == []
    # The string this site wrote for the same choices does tick what it says.
    mine = decide(tcf_client, {"action": "custom", "tcf": "1", "tcf_purpose": "2"})
    tcf_client.cookies.set("euconsent-v2", tc_cookie(mine))
    page = tcf_client.get("/_consent/preferences").text
    assert "cst-tcf-p2" in re.findall(r'id="(cst-tcf-[a-z]+\d+)"[^>]*\bchecked\b', page)
