"""The visitor's consent state as the wrapped app sees it in ``scope["consent"]``."""

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ConsentState:
    decided: bool
    granted: frozenset[str]
    consent_id: str | None = None
    decided_at: datetime | None = None
    gpc: bool = False  # the browser sent Sec-GPC: 1, which refuses marketing

    def allows(self, category_id: str) -> bool:
        return category_id in self.granted
