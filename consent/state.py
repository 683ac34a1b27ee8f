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
    # The signed cookie says a receipt of that signal is stored for this consent id.
    signal_recorded: bool = False
    # With regions configured (docs/regions.md): the model applied, the visitor's region code
    # ("US-CA", "DE", "unknown") and the rule that chose the model; without, opt-in for all.
    model: str = "opt_in"
    region: str | None = None
    rule: str | None = None
    # The IAB GPP string and its applicable section ids, for ad tags the app writes itself.
    gpp: str | None = None
    gpp_sid: tuple[int, ...] = ()

    def allows(self, category_id: str) -> bool:
        return category_id in self.granted

    @property
    def asks(self) -> bool:
        """Whether a banner asks this visitor before anything optional runs (opt-in, undecided)."""
        return not self.decided and self.model == "opt_in"
