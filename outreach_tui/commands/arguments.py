"""argparse types for option values, so a bad value is a usage error (exit 2) that names the option:
``outreach-tui login p.toml --timeout -1`` -> "argument --timeout: must be a number above 0, got '-1'"."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def _number(kind: type[float] | type[int], text: str) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {'an integer' if kind is int else 'a number'}, "
                                         f"got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def _bounded(kind: type[float] | type[int], low: float, high: float | None, low_open: bool,
             wording: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = _number(kind, text)
        if value < low or (low_open and value == low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {wording}, got {text!r}")
        return value

    parse.__name__ = wording  # argparse shows it if ever a ValueError slips through
    return parse


positive_float = _bounded(float, 0, None, True, "a number above 0")
non_negative_float = _bounded(float, 0, None, False, "a number of 0 or more")
fraction = _bounded(float, 0, 1, False, "a number from 0 to 1")
positive_int = _bounded(int, 0, None, True, "an integer above 0")
non_negative_int = _bounded(int, 0, None, False, "an integer of 0 or more")
port = _bounded(int, 0, 65535, False, "a port from 0 to 65535 (0 picks a free one)")
