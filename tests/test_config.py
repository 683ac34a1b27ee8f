from pathlib import Path

import pytest

from consent import Category, ConfigError, ConsentConfig, TrackerRule


def test_missing_secret_fails_with_a_helpful_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONSENT_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="CONSENT_SECRET_KEY"):
        ConsentConfig()


def test_secret_from_environment_with_rotation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSENT_SECRET_KEY", "new-key-0123456789abcdef, old-key-0123456789abcdef")
    assert ConsentConfig().secret_keys == ("new-key-0123456789abcdef", "old-key-0123456789abcdef")


def test_dev_mode_generates_a_key_and_warns_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONSENT_SECRET_KEY", raising=False)
    with pytest.warns(UserWarning, match="development mode"):
        config = ConsentConfig(dev_mode=True)
    assert len(config.secret_keys[0]) >= 32


def test_short_keys_are_refused() -> None:
    with pytest.raises(ConfigError):
        ConsentConfig(secret_key="short")


def test_audit_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSENT_AUDIT_URL", "postgresql://postgres@127.0.0.1:5432/test")
    assert ConsentConfig(secret_key="k" * 20).resolved_audit_url.startswith("postgresql://")


def test_default_lifetime_is_six_months() -> None:
    assert ConsentConfig(secret_key="k" * 20).cookie_max_age <= 15_811_200


@pytest.mark.parametrize(
    "kwargs",
    [
        {"categories": (Category("analytics"),)},
        {"categories": (Category("necessary", required=True), Category("Bad Id"))},
        {"prefix": "consent/"},
        {"rules": (TrackerRule(category="nope", host="x.example"),)},
        {"cookie_categories": {"x": "nope"}},
        {"theme": {"color": "red"}},
        {"theme": {"--consent-bg": "red;}</style>"}},
        {"admin_user": "dpo"},
    ],
)
def test_invalid_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        ConsentConfig(secret_key="k" * 20, **kwargs)  # type: ignore[arg-type]


def test_from_toml_builds_the_same_object(tmp_path: Path) -> None:
    path = tmp_path / "consent.toml"
    path.write_text(
        """
secret_key = ["first-key-0123456789", "second-key-0123456789"]
policy_version = "2026-11"
prefix = "/privacy"

[cookie]
max_age = 86400
domain = "example.org"

[[categories]]
id = "necessary"
required = true

[[categories]]
id = "analytics"

[[categories]]
id = "social"
[categories.texts.en]
title = "Social media"
description = "Share buttons and embedded posts."

[locales.en]
"banner.title" = "Cookies on Example"

[theme]
"--consent-accent" = "#005a9c"

[[rules]]
host = "ads.example.net"
category = "social"

[cookies]
site_lang = "analytics"
ab = { category = "analytics", lifetime_days = 30, purpose = "A/B test bucket" }
""",
        encoding="utf-8",
    )
    config = ConsentConfig.from_toml(path)
    assert config.secret_keys == ("first-key-0123456789", "second-key-0123456789")
    assert config.policy_version == "2026-11"
    assert config.prefix == "/privacy"
    assert config.cookie_max_age == 86400
    assert config.cookie_domain == "example.org"
    assert config.category_ids == ("necessary", "analytics", "social")
    assert config.categories[2].texts["en"]["title"] == "Social media"
    assert config.locale_overrides["en"]["banner.title"] == "Cookies on Example"
    assert config.rules[0].host == "ads.example.net"
    assert config.cookie_categories == {"site_lang": "analytics", "ab": "analytics"}
    assert config.cookie_details["ab"]["lifetime_days"] == 30


def test_from_toml_rejects_unknown_keys(tmp_path: Path) -> None:
    path = tmp_path / "consent.toml"
    path.write_text('secret_key = "k0123456789abcdefgh"\ncolour = "red"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="colour"):
        ConsentConfig.from_toml(path)


def test_from_toml_reports_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        ConsentConfig.from_toml(tmp_path / "missing.toml")
