"""Regions: trusted location headers, rule precedence, the strictest model for the unknown."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent.errors import ConfigError
from consent.regions import (
    DEFAULT_RULES,
    EEA,
    EU,
    HEADER_PRESETS,
    STRICTNESS,
    US_GPC_STATES,
    US_OPT_OUT_STATES,
    PrivacyModel,
    Region,
    RegionRules,
    gpp_section,
    header_source,
    region_from_headers,
)

OPT_IN, OPT_OUT, NOTICE, NONE = STRICTNESS


@pytest.mark.parametrize(
    ("country", "subdivision", "code"),
    [
        ("DE", None, "DE"),
        ("de", None, "DE"),
        (" us ", "ca", "US-CA"),
        ("US", "US-CA", "US-CA"),
        ("US-TX", None, "US-TX"),
        ("US", "", "US"),
        ("US", "not a code", "US"),
        ("XX", None, "unknown"),  # Cloudflare: no country known
        ("T1", None, "unknown"),  # Cloudflare: Tor
        ("A1", "CA", "unknown"),  # anonymous proxy
        ("", None, "unknown"),
        (None, None, "unknown"),
        ("DEU", None, "unknown"),
        ("D1", None, "unknown"),
        ("<script>", None, "unknown"),
    ],
)
def test_header_values_are_read_strictly(
    country: str | None, subdivision: str | None, code: str
) -> None:
    assert Region.parse(country, subdivision).code == code


@given(st.text(max_size=30), st.one_of(st.none(), st.text(max_size=30)))
def test_any_header_value_gives_a_region_and_never_an_error(
    country: str, subdivision: str | None
) -> None:
    region = Region.parse(country, subdivision)
    assert region.code == "unknown" or (
        region.country is not None and len(region.country) == 2 and region.country.isupper()
    )


def test_the_default_rules_are_opt_in_for_europe_and_opt_out_for_us_states() -> None:
    rules = RegionRules()
    for country in sorted(EEA | {"GB", "CH"}):
        assert rules.apply(Region(country)).model is OPT_IN, country
    for state in sorted(US_OPT_OUT_STATES):
        applied = rules.apply(Region("US", state))
        assert applied.model is OPT_OUT, state
        assert applied.rule == "US-STATES-WITH-PRIVACY-LAWS"
    assert rules.apply(Region("US", "WY")).rule == "US"
    assert rules.apply(Region("JP")).model is OPT_IN
    assert rules.apply(Region("JP")).rule == "*"


def test_the_most_specific_rule_wins() -> None:
    rules = RegionRules(
        {"*": "notice_only", "EEA": "opt_in", "FR": "none", "US": "opt_out", "US-CA": "opt_in"}
    )
    assert rules.apply(Region("FR")).model is NONE  # country before its group
    assert rules.apply(Region("DE")).model is OPT_IN  # group
    assert rules.apply(Region("US", "CA")).model is OPT_IN  # subdivision before country
    assert rules.apply(Region("US", "NY")).model is OPT_OUT
    assert rules.apply(Region("BR")).model is NOTICE
    assert rules.apply(Region("BR")).rule == "*"


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ({"*": "none", "US": "opt_out"}, OPT_OUT),
        ({"*": "none", "EEA": "opt_in"}, OPT_IN),
        ({"*": "notice_only"}, NOTICE),
        ({"*": "none"}, NONE),
    ],
)
def test_an_unknown_region_gets_the_strictest_model_configured(
    rules: dict[str, str], expected: PrivacyModel
) -> None:
    applied = RegionRules(rules).apply(Region())
    assert applied.model is expected
    assert applied.rule == "unknown"
    assert applied.region.code == "unknown"


def test_a_region_no_rule_matches_gets_the_strictest_model() -> None:
    rules = RegionRules({"US": "opt_out", "FR": "none"})
    assert rules.apply(Region("JP")).model is OPT_OUT
    assert rules.apply(Region("JP")).rule == "unmatched"


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"EEA": "opt-in"}, "models are opt_in, opt_out, notice_only, none"),
        ({"Europe": "opt_in"}, "'Europe' is not a region"),
        ({"de": "opt_in"}, "'de' is not a region"),
        ({"US-": "opt_out"}, "is not a region"),
        ({"ASIA": "opt_in"}, "'ASIA' is not a region"),
        ({}, "at least one rule"),
    ],
)
def test_mistakes_in_the_rules_name_the_setting(rules: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        RegionRules(rules)
    assert raised.value.setting == "regions"


def test_header_sources() -> None:
    assert header_source("cloudflare") == ("cf-ipcountry", "cf-region-code")
    assert header_source("cloudfront") == (
        "cloudfront-viewer-country",
        "cloudfront-viewer-country-region",
    )
    assert header_source("header:X-Geo-Country, X-Geo-Region") == ("x-geo-country", "x-geo-region")
    assert header_source("header:X-Country") == ("x-country", None)
    for bad in ("akamai", "header:", "header:a b", "header:a,b,c", "X-Country"):
        with pytest.raises(ConfigError, match="region_source"):
            header_source(bad)
    assert set(HEADER_PRESETS) == {"cloudflare", "cloudfront", "vercel", "fastly"}


def test_region_from_the_trusted_headers_only() -> None:
    country, subdivision = header_source("vercel")
    headers = {
        "x-vercel-ip-country": "US",
        "x-vercel-ip-country-region": "CO",
        "cf-ipcountry": "DE",
    }
    assert region_from_headers(headers, country, subdivision).code == "US-CO"
    # Another CDN's header, which any client can send, is not read.
    assert region_from_headers({"cf-ipcountry": "DE"}, country, subdivision).code == "unknown"


def test_gpp_sections_by_state() -> None:
    assert gpp_section(Region("US", "CA")) == "usca"
    assert gpp_section(Region("US", "CT")) == "usct"
    assert gpp_section(Region("US", "TX")) == "usnat"
    assert gpp_section(Region("US")) == "usnat"
    assert gpp_section(Region("DE")) is None
    assert gpp_section(Region()) is None


def test_the_lists_hold_what_they_name() -> None:
    assert len(EU) == 27
    assert {"IS", "LI", "NO"} == EEA - EU
    assert US_GPC_STATES <= US_OPT_OUT_STATES
    assert len(US_OPT_OUT_STATES) == 19
    assert set(DEFAULT_RULES.values()) == {OPT_IN, OPT_OUT}
