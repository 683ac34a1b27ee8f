"""Purpose categories: the unit a visitor grants or refuses."""

from dataclasses import dataclass, field

from consent.names import ANALYTICS, MARKETING, NECESSARY, PREFERENCES


@dataclass(frozen=True, slots=True)
class Category:
    """One purpose. Titles and descriptions come from the locale catalogue unless given here.

    ``texts`` maps a locale tag to ``{"title": ..., "description": ...}`` for operators'
    own categories or overrides; shipped categories take their texts from the locales.
    """

    id: str
    required: bool = False
    texts: dict[str, dict[str, str]] = field(default_factory=dict, compare=False, hash=False)


DEFAULT_CATEGORIES: tuple[Category, ...] = (
    Category(NECESSARY, required=True),
    Category(PREFERENCES),
    Category(ANALYTICS),
    Category(MARKETING),
)
