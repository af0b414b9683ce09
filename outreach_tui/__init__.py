"""outreach-tui: export audience (segment) membership and profile attributes into Outreach prospects."""

__version__ = "0.1.0"
