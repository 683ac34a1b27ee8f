"""Keeping secrets out of text that leaves the process: reprs, messages and log lines."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from consent.config import ConsentConfig

MASK = "***"
# scheme://user:password@host...: the password is whatever sits between the first ':' after
# the user name and the last '@' of the authority.
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/?#@\s]*:)[^/?#\s]*(?=@)")
# libpq also reads a password from the query string or a key=value connection string.
_KEYWORD_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)[^&\s]+", re.IGNORECASE)


def redact_url(text: str) -> str:
    """``text`` with any password in URLs or ``password=...`` pairs replaced by ``***``."""
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    return _KEYWORD_PASSWORD.sub(lambda m: m.group("head") + MASK, text)


class SecretFilter(logging.Filter):
    """Rewrites records of the ``consent`` logger so that no registered secret is printed.

    One instance serves every configuration in the process: the set only grows, and a record
    is scrubbed of every secret any configuration registered.
    """

    def __init__(self) -> None:
        super().__init__()
        self._secrets: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def register(self, values: Iterable[str]) -> None:
        # Very short values would mask ordinary words; every real secret is far longer.
        fresh = {value for value in values if len(value) >= 8}
        with self._lock:
            self._secrets = self._secrets | fresh

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return redact_url(text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = self.scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when it is set, so the traceback is scrubbed once here.
            record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        return True


_FILTER = SecretFilter()


def secrets_of(config: ConsentConfig) -> set[str]:
    """Every secret value a configuration holds, as it could appear in text."""
    found = set(config.secret_keys)
    audit_key = config.resolved_audit_key
    found.add(audit_key)
    # A keyring "id1:secret1,id2:secret2": each secret on its own too.
    for entry in audit_key.split(","):
        found.add(entry.strip())
        found.add(entry.partition(":")[2].strip())
    if config.admin_password:
        found.add(config.admin_password)
    try:
        password = urlsplit(config.resolved_audit_url).password
    except ValueError:
        password = None
    if password:
        found.add(password)
    return {value for value in found if value}


def hide_in_logs(values: Iterable[str]) -> None:
    """Register secrets to be masked in every record of the ``consent`` logger."""
    _FILTER.register(values)
    # Every module of the package logs through this one logger (no child loggers), which is
    # what lets a single logger filter see every line.
    logger = logging.getLogger("consent")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
