"""A diagnostic: what went wrong for one prospect, in words a user can act on.

Shared by the planner (local failures, no request sent) and the Outreach error parser (server answers).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Diagnostic:
    prospect_id: int
    status: int | None  # HTTP status; None for a local failure (nothing was sent)
    error_id: str  # Outreach's errors[].id, or a local id such as "conversionError"
    detail: str
    field: str | None = None  # the Outreach attribute, e.g. "custom4"
    origin: str | None = None  # the mapping row or segment that produced the field
    hint: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        where = f" {self.field}" if self.field else ""
        by = f" ({self.origin})" if self.origin else ""
        status = f"HTTP {self.status}" if self.status else "not sent"
        text = f"prospect {self.prospect_id}:{where}{by} — {status} {self.error_id}: {self.detail}"
        return f"{text}. {self.hint}" if self.hint else text
