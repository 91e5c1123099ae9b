"""Helpers shared by the subcommands: the one-line error, and argument types that refuse
bad values while the command line is parsed (before anything is sent or written)."""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Callable, NoReturn


class CliError(Exception):
    """An error reported to the user as one line, exit status 2."""


def print_err(msg: str, as_json: bool = False) -> None:
    """Report ``msg`` as one line on stderr (and, for ``--json`` commands, as
    ``{"error": msg}`` on stdout, so a script reading stdout gets an object either way)."""
    line = " ".join(str(msg).split())  # one line, whatever the message carried
    if as_json:
        print(json.dumps({"error": line}), flush=True)
    print(f"garment: error: {line}", file=sys.stderr, flush=True)


def wants_json(argv: list[str]) -> bool:
    """True if the command line asks for JSON output (``--json`` before any ``--``)."""
    for a in argv:
        if a == "--":
            return False
        if a == "--json":
            return True
    return False


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line naming the command and its ``--help``
    (argparse's own print the whole usage first), as a JSON object too under ``--json``."""

    json_errors = False

    def _get_values(self, action: argparse.Action, arg_strings: list[str]) -> Any:
        # Python 3.11's argparse turns ``--port=--`` into [] without calling the type
        if action.option_strings and action.nargs is None and arg_strings == ["--"]:
            raise argparse.ArgumentError(action, "expected a value, got '--'")
        return super()._get_values(action, arg_strings)

    def error(self, message: str) -> NoReturn:
        print_err(f"{self.prog}: {message} (see {self.prog} --help)", as_json=OneLineParser.json_errors)
        sys.exit(2)


# ---- argument types: each raises ArgumentTypeError with the reason, argparse names the option --
def _number(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"'{text}' is not a finite number")
    return v


def float_range(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
                unit: str = "") -> Callable[[str], float]:
    """A finite float in ``[lo, hi]`` (``(lo, hi]`` when ``lo_open``)."""
    u = f" {unit}" if unit else ""

    def parse(text: str) -> float:
        v = _number(text)
        if lo is not None and (v <= lo if lo_open else v < lo):
            raise argparse.ArgumentTypeError(f"{text}{u}: must be {'>' if lo_open else '>='} {lo:g}{u}")
        if hi is not None and v > hi:
            raise argparse.ArgumentTypeError(f"{text}{u}: must be at most {hi:g}{u}")
        return v

    parse.__name__ = "number"  # argparse says "invalid number value" for other failures
    return parse


def int_range(lo: int | None = None, hi: int | None = None, *, unit: str = "") -> Callable[[str], int]:
    """An integer in ``[lo, hi]``."""
    u = f" {unit}" if unit else ""

    def parse(text: str) -> int:
        try:
            v = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
        if lo is not None and hi is not None and not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"{text}{u}: must be {lo}..{hi}{u}")
        if lo is not None and v < lo:
            raise argparse.ArgumentTypeError(f"{text}{u}: must be >= {lo}{u}")
        if hi is not None and v > hi:
            raise argparse.ArgumentTypeError(f"{text}{u}: must be at most {hi}{u}")
        return v

    parse.__name__ = "integer"
    return parse


def positive_seconds(text: str) -> float:
    """A finite duration > 0 s."""
    return float_range(0.0, lo_open=True, unit="s")(text)


positive_seconds.__name__ = "duration"


def existing_file(text: str) -> str:
    """A path to a file that exists."""
    p = Path(text)
    if p.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: is a folder, not a file")
    if not p.is_file():
        raise argparse.ArgumentTypeError(f"{text}: no such file")
    return text


existing_file.__name__ = "file"


def existing_dir(text: str) -> str:
    """A path to a folder that exists."""
    if not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text}: no such folder")
    return text


existing_dir.__name__ = "folder"


def output_file(*suffixes: str) -> Callable[[str], str]:
    """A file to write: one of ``suffixes``, not a folder, its folder creatable."""

    def parse(text: str) -> str:
        p = Path(text)
        if suffixes and p.suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(f"{text}: must end in {' or '.join(suffixes)}")
        if p.is_dir():
            raise argparse.ArgumentTypeError(f"{text}: is a folder")
        for parent in p.absolute().parents:  # the nearest folder that exists must be one
            if parent.exists():
                if not parent.is_dir():
                    raise argparse.ArgumentTypeError(f"{text}: {parent} is not a folder")
                break
        return text

    parse.__name__ = "output file"
    parse.suffixes = suffixes  # type: ignore[attr-defined]
    return parse


def arg_json(args: Any) -> bool:
    """Whether the parsed command asked for JSON output."""
    return bool(getattr(args, "json", False))
