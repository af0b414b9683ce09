"""``python -m outreach_tui.sandbox [flags]``: the same as ``outreach-tui sandbox`` (used by benchmarks)."""

from __future__ import annotations

import argparse
import sys

from outreach_tui.sandbox import cli as command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m outreach_tui.sandbox", description=__doc__)
    command.add_arguments(parser)
    return command.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
