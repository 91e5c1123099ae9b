"""``python -m garment.tui [--device SPEC]``: the companion app."""
from __future__ import annotations

import argparse
import sys

from garment.tui import run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m garment.tui", description="The garment companion app (TUI).")
    p.add_argument("--device", default=None,
                   help="connect at start: sim | serial:PATH | socket://HOST:PORT | ble:ADDR "
                        "(default: choose on the Connect screen)")
    args = p.parse_args(argv)
    return run(args.device)


if __name__ == "__main__":
    sys.exit(main())
