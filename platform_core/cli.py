"""What the three command lines share: an error is one line that names the input and what is
expected, with a non-zero exit; a reader that stops early (``| head``) ends the command quietly.

Arguments are parsed into their types at the edge (a day, a tick end, a file that exists), so a
command never starts work on an input it cannot use.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

import pandas as pd


class CliError(Exception):
    """A user's input the command cannot use: printed as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    """``argparse`` with one-line errors (no usage block): ``prog: the problem``."""

    def error(self, message: str) -> None:  # noqa: D102 (argparse's own contract)
        self.exit(2, f"{self.prog}: {message}\n")


def day(text: str) -> date:
    """A calendar day written ``YYYY-MM-DD``."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day; expected YYYY-MM-DD, e.g. 2026-11-20") from None


def tick_end(minutes: int) -> Callable[[str], pd.Timestamp]:
    """A time ``YYYY-MM-DD HH:MM`` (UTC) on a ``minutes`` boundary: the end of a tick."""

    def parse(text: str) -> pd.Timestamp:
        try:
            at = pd.Timestamp(pd.to_datetime(text, format="%Y-%m-%d %H:%M"))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a time; expected 'YYYY-MM-DD HH:MM' (UTC), e.g. '2026-11-20 12:00'"
            ) from None
        if at.minute % minutes:
            raise argparse.ArgumentTypeError(f"{text!r} is not a tick end; ticks end every {minutes} minutes")
        return at

    return parse


def existing_file(text: str) -> str:
    """A path to a file that exists (URLs and other sources are checked where they are read)."""
    if "://" not in text and ":" not in Path(text).name and not Path(text).is_file():
        raise argparse.ArgumentTypeError(f"{text!r}: no such file")
    return text


def run(prog: str, main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """``main``'s exit code; a ``CliError`` as one line on stderr, ``prog: the problem`` (exit
    2); a closed stdout (the reader stopped, e.g. ``| head``) as a quiet exit."""
    try:
        return main(argv)
    except CliError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # Python flushes stdout again at exit: point it at nothing so that flush cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
