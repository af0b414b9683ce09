"""``outreach-tui sandbox``: the sandbox's own command line (``outreach_tui/sandbox/cli.py``), so that
``python -m outreach_tui.sandbox`` and this command parse the same flags without the sandbox importing
the faces."""

from outreach_tui.sandbox.cli import add_arguments, run

__all__ = ["add_arguments", "run"]
