"""Proof of consent: an append-only, tamper-evident store of consent receipts."""

from consent.audit.base import BaseStore
from consent.audit.chain import Keyring, VerifyReport
from consent.audit.commands import (
    anchor,
    export,
    purge,
    register_cli,
    run,
    show,
    stats,
    verify,
)
from consent.audit.model import (
    AuditError,
    AuditUnavailable,
    Checkpoint,
    Decision,
    Receipt,
    hash_texts,
    receipt_path,
)
from consent.audit.store import DEFAULT_AUDIT_URL, AuditStore, open_store

__all__ = [
    "DEFAULT_AUDIT_URL",
    "AuditError",
    "AuditStore",
    "AuditUnavailable",
    "BaseStore",
    "Checkpoint",
    "Decision",
    "Keyring",
    "Receipt",
    "VerifyReport",
    "anchor",
    "export",
    "hash_texts",
    "open_store",
    "purge",
    "receipt_path",
    "register_cli",
    "run",
    "show",
    "stats",
    "verify",
]
