"""Secrets never reach a log line or a message: keys, the audit key, passwords in URLs."""

from __future__ import annotations

import logging

import pytest

from consent import ConsentConfig, ConsentMiddleware
from consent.redaction import redact_url
from tests.conftest import page_app

SIGNING_KEY = "signing-key-0123456789abcdef"
AUDIT_KEY = "audit-key-0123456789abcdef"
ADMIN_PASSWORD = "admin-password-0123456789"
DB_PASSWORD = "db-pass-0123456789"


def test_every_log_line_of_the_package_hides_the_configured_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = ConsentConfig(
        secret_key=SIGNING_KEY,
        audit_key=AUDIT_KEY,
        audit_url=f"postgresql://consent:{DB_PASSWORD}@127.0.0.1:1/consent",
        admin_user="dpo",
        admin_password=ADMIN_PASSWORD,
    )
    ConsentMiddleware(page_app(), config=config)
    logger = logging.getLogger("consent")
    with caplog.at_level(logging.INFO, logger="consent"):
        logger.warning("signing with %s, store %s", SIGNING_KEY, config.resolved_audit_url)
        try:
            raise RuntimeError(f"bad key {AUDIT_KEY} for dpo:{ADMIN_PASSWORD}")
        except RuntimeError:
            logger.exception("the audit store failed")
    text = caplog.text
    assert "the audit store failed" in text and "RuntimeError" in text
    for secret in (SIGNING_KEY, AUDIT_KEY, ADMIN_PASSWORD, DB_PASSWORD):
        assert secret not in text


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://consent:s3cret@db:5432/x", "postgresql://consent:***@db:5432/x"),
        (
            "postgresql://consent@db/x?password=s3cret&sslmode=require",
            "postgresql://consent@db/x?password=***&sslmode=require",
        ),
        ("sqlite:///var/consent-audit.db", "sqlite:///var/consent-audit.db"),
    ],
)
def test_passwords_in_store_urls_are_masked(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert "s3cret" not in repr(ConsentConfig(secret_key=SIGNING_KEY, audit_url=url))
