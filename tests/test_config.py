from pathlib import Path

import pytest

from consent import Category, ConfigError, ConsentConfig, ConsentError, TrackerRule


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


# -- every setting checked at construction --------------------------------------------------

KEY = "k" * 20


@pytest.mark.parametrize(
    ("kwargs", "setting", "allowed"),
    [
        ({"cookie_samesite": "none"}, "cookie_samesite", "cookie_secure=True"),
        ({"cookie_samesite": "relaxed"}, "cookie_samesite", "'lax', 'strict', 'none'"),
        ({"undeclared_cookies": "blok"}, "undeclared_cookies", "'allow', 'block'"),
        ({"max_decision_body": -1}, "max_decision_body", "between 256 and"),
        ({"page_cache_bytes": -5}, "page_cache_bytes", "at least 0"),
        ({"cookie_max_age": True}, "cookie_max_age", "between 60 and"),
        ({"honour_gpc": "no"}, "honour_gpc", "must be bool"),
        ({"cookie_secure": "yes"}, "cookie_secure", "bool or None"),
        ({"policy_version": ""}, "policy_version", "non-empty string"),
        ({"cookie_name": "my cookie"}, "cookie_name", "cookie name"),
        ({"csrf_cookie_name": "consent"}, "csrf_cookie_name", "must differ"),
        ({"cookie_domain": "https://example.com"}, "cookie_domain", "host name"),
        ({"prefix": "/a b"}, "prefix", "'/_consent'"),
        ({"google_consent_mapping": {"ads": "marketing"}}, "google_consent_mapping", "ad_storage"),
        ({"exclude_paths": ["admin"]}, "exclude_paths", "starting with '/'"),
        ({"exclude_paths": "/admin"}, "exclude_paths", "list of paths"),
        ({"cookie_details": {"ab": {"lifetime_days": -1}}}, "lifetime_days", "at least 0"),
        ({"audit_url": "mysql://db/consent"}, "audit_url", "postgresql://user@host:port/dbname"),
        ({"audit_url": "sqlite://relative.db"}, "audit_url", "sqlite:///relative.db"),
        ({"audit_key": "short"}, "audit_key", "at least 16 bytes"),
        ({"default_locale": "xx"}, "default_locale", "have:"),
        ({"locale_overrides": {"en": "not a table"}}, "locale_overrides", "must be a table"),
        ({"template_dirs": [Path("/nonexistent/templates")]}, "template_dirs", "not a directory"),
        (
            {
                "services": [
                    {
                        "id": "partner",
                        "name": "Partner",
                        "vendor": "Partner Ltd",
                        "privacy_policy": "https://partner.example/privacy",
                        "category": "nope",
                    }
                ]
            },
            "services",
            "nope",
        ),
        ({"locale_resolver": "en"}, "locale_resolver", "callable"),
    ],
)
def test_bad_settings_fail_at_construction_naming_setting_and_allowed_values(
    kwargs: dict[str, object], setting: str, allowed: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        ConsentConfig(secret_key=KEY, **kwargs)  # type: ignore[arg-type]
    message = str(caught.value)
    assert setting in message
    assert allowed in message


def test_samesite_none_needs_secure_cookies() -> None:
    with pytest.raises(ConfigError, match="cookie_secure=True"):
        ConsentConfig(secret_key=KEY, cookie_samesite="none")
    config = ConsentConfig(secret_key=KEY, cookie_samesite="none", cookie_secure=True)
    assert config.cookie_samesite == "none"


def test_config_errors_belong_to_the_package_error_family() -> None:
    from consent.audit import AuditError, AuditUnavailable
    from consent.catalogue import CatalogueError
    from consent.i18n import LocaleError

    for error in (ConfigError, LocaleError, AuditError, AuditUnavailable, CatalogueError):
        assert issubclass(error, ConsentError)
    # Code written against the earlier ValueError keeps working.
    assert issubclass(ConfigError, ValueError)
    with pytest.raises(ConsentError):
        ConsentConfig(secret_key=KEY, undeclared_cookies="blok")  # type: ignore[arg-type]


def test_audit_key_from_the_environment_is_checked_at_construction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONSENT_AUDIT_KEY", "too-short")
    with pytest.raises(ConfigError, match="CONSENT_AUDIT_KEY"):
        ConsentConfig(secret_key=KEY)


def test_repr_hides_every_secret() -> None:
    config = ConsentConfig(
        secret_key=["first-secret-0123456789", "second-secret-0123456789"],
        audit_key="audit-secret-0123456789",
        audit_url="postgresql://consent:db-password-42@db.internal:5432/consent",
        admin_user="dpo",
        admin_password="admin-password-0123",
    )
    text = repr(config)
    for secret in (
        "first-secret-0123456789",
        "second-secret-0123456789",
        "audit-secret-0123456789",
        "db-password-42",
        "admin-password-0123",
        config.resolved_audit_key,
    ):
        assert secret not in text
    assert "db.internal:5432" in text  # the rest stays readable
    assert "admin_user='dpo'" in text


def test_toml_errors_name_the_file_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "consent.toml"
    path.write_text(f'secret_key = "{KEY}"\n[cookie]\nsamesite = "none"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        ConsentConfig.from_toml(path)
    assert str(path) in str(caught.value)
    assert "'cookie.samesite'" in str(caught.value)


def test_toml_tables_of_the_wrong_shape_are_config_errors(tmp_path: Path) -> None:
    path = tmp_path / "consent.toml"
    path.write_text(f'secret_key = "{KEY}"\ncookie = "secure"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="'cookie'"):
        ConsentConfig.from_toml(path)
    path.write_text(f'secret_key = "{KEY}"\n[[categories]]\nrequired = true\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="'categories'"):
        ConsentConfig.from_toml(path)


def test_exclude_paths_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "consent.toml"
    path.write_text(
        f'secret_key = "{KEY}"\nexclude_paths = ["/admin", "/docs"]\n', encoding="utf-8"
    )
    assert tuple(ConsentConfig.from_toml(path).exclude_paths) == ("/admin", "/docs")


@pytest.mark.parametrize(
    "value", ["www.example.com", "https://example.com/news", "ftp://example.com", "https://"]
)
def test_public_origin_must_be_an_origin(value: str) -> None:
    with pytest.raises(ConfigError, match="public_origin") as caught:
        ConsentConfig(secret_key=KEY, public_origin=value)
    assert caught.value.setting == "public_origin"


def test_public_origin_is_normalised_and_read_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "consent.toml"
    path.write_text(
        f'secret_key = "{KEY}"\npublic_origin = "HTTPS://News.Example:443/"\n', encoding="utf-8"
    )
    assert ConsentConfig.from_toml(path).public_origin == "https://news.example"


@pytest.mark.parametrize(
    ("kwargs", "setting", "allowed"),
    [
        ({"csp_mode": "strict"}, "csp_mode", "'off', 'report-only', 'enforce'"),
        ({"csp_mode": True}, "csp_mode", "'report-only'"),
        ({"csp_max_length": 100}, "csp_max_length", "between 1024 and 16384"),
        ({"csp_max_length": "6144"}, "csp_max_length", "whole number"),
        ({"csp_necessary_hosts": "pay.example"}, "csp_necessary_hosts", "list of host names"),
        ({"csp_necessary_hosts": ["https://pay.example"]}, "csp_necessary_hosts", "no scheme"),
        ({"csp_necessary_hosts": ["*.pay.example"]}, "csp_necessary_hosts", "wildcard"),
    ],
)
def test_csp_settings_are_checked_naming_the_setting(
    kwargs: dict[str, object], setting: str, allowed: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        ConsentConfig(secret_key=KEY, **kwargs)  # type: ignore[arg-type]
    assert caught.value.setting == setting
    assert allowed in str(caught.value)


def test_csp_settings_default_off_and_read_from_toml(tmp_path: Path) -> None:
    from consent.csp import DEFAULT_MAX_LENGTH

    plain = ConsentConfig(secret_key=KEY)
    assert (plain.csp_mode, plain.csp_necessary_hosts) == ("off", ())
    assert plain.csp_max_length == DEFAULT_MAX_LENGTH
    path = tmp_path / "consent.toml"
    path.write_text(
        f'secret_key = "{KEY}"\ncsp_mode = "enforce"\n'
        'csp_necessary_hosts = ["Pay.Example-PSP.com"]\ncsp_max_length = 4096\n'
    )
    config = ConsentConfig.from_toml(path)
    assert config.csp_mode == "enforce"
    assert config.csp_necessary_hosts == ("pay.example-psp.com",)
    assert config.csp_max_length == 4096
