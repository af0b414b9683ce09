"""XDM profile input: streaming record readers and discovery of paths, namespaces and segments."""

from outreach_tui.xdm.discover import Discovery, discover
from outreach_tui.xdm.records import Format, InputError, Record, detect_format, iter_jsonl_lines, read_records

__all__ = [
    "Discovery",
    "Format",
    "InputError",
    "Record",
    "detect_format",
    "discover",
    "iter_jsonl_lines",
    "read_records",
]
