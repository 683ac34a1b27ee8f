"""consent: cookie-consent and privacy-compliance middleware for ASGI web sites."""

from consent.categories import DEFAULT_CATEGORIES, Category
from consent.config import ConfigError, ConsentConfig, TrackerRule
from consent.middleware import ConsentMiddleware
from consent.state import ConsentState

__all__ = [
    "DEFAULT_CATEGORIES",
    "Category",
    "ConfigError",
    "ConsentConfig",
    "ConsentMiddleware",
    "ConsentState",
    "TrackerRule",
]

__version__ = "0.1.0.dev0"
