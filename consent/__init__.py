"""consent: cookie-consent and privacy-compliance middleware for ASGI web sites."""

from consent.categories import DEFAULT_CATEGORIES, Category
from consent.config import ConsentConfig, TrackerRule
from consent.errors import ConfigError, ConsentError
from consent.middleware import ConsentMiddleware
from consent.state import ConsentState

__all__ = [
    "DEFAULT_CATEGORIES",
    "Category",
    "ConfigError",
    "ConsentConfig",
    "ConsentError",
    "ConsentMiddleware",
    "ConsentState",
    "TrackerRule",
]

__version__ = "0.1.0.dev0"
