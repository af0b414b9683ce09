"""The wizard's steps in order: their ids (widget ids, palette commands) and titles (the step bar)."""

from __future__ import annotations

STEP_TITLES: dict[str, str] = {"connect": "Connect", "destination": "Destination", "source": "Source",
                               "mapping": "Mapping", "segments": "Segments", "review": "Review", "export": "Export"}
STEPS: tuple[str, ...] = tuple(STEP_TITLES)
