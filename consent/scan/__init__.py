"""``consent scan``: a site audited in headless Chromium in every consent state."""

from consent.scan.model import NOTICES, VIOLATIONS, Finding, ScanResult, StateResult
from consent.scan.run import ScanOptions, run_scan
from consent.scan.target import ScanSetupError

__all__ = [
    "NOTICES",
    "VIOLATIONS",
    "Finding",
    "ScanOptions",
    "ScanResult",
    "ScanSetupError",
    "StateResult",
    "run_scan",
]
