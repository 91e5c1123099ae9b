"""Helpers shared by the subcommands."""
from __future__ import annotations

import sys


class CliError(Exception):
    """An error reported to the user as one line, exit status 2."""


def print_err(msg: str) -> None:
    print(f"garment: error: {msg}", file=sys.stderr)
