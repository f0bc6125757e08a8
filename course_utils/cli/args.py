"""Argument types for the ``course`` subcommands, one per kind of value.

Each returns a function for ``argparse``'s ``type=``; a bad value becomes argparse's one-line error,
which names the argument, the value and an example of a good one:
``course train: error: argument --steps: '-5' must be at least 1, e.g. 2000``.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable


def whole_number(minimum: int, example: str) -> Callable[[str], int]:
    """An ``int`` of at least ``minimum`` (``--steps``, ``--seed``, ``--jobs``, ``--timeout``)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number, e.g. {example}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} must be at least {minimum}, e.g. {example}")
        return value

    return parse


def positive_number(example: str) -> Callable[[str], float]:
    """A ``float`` greater than 0 (``--cell-timeout`` in seconds)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number, e.g. {example}") from None
        if not value > 0:  # also refuses NaN
            raise argparse.ArgumentTypeError(f"{text!r} must be positive, e.g. {example}")
        return value

    return parse


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def byte_size(text: str) -> int:
    """Bytes from ``1.5G``, ``1536M``, ``2GiB`` or ``1000000`` (binary units: 1G = 2**30 bytes)."""
    match = _SIZE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size; write e.g. 1.5G, 512M or 1000000")
    value = int(float(match[1]) * _UNITS[match[2].lower()])
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0 bytes, e.g. 1.5G")
    return value


def name_list(text: str) -> list[str]:
    """A comma-separated list of names (``--configs gan,wgan-gp``); empty entries are dropped."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"{text!r} names nothing; give a comma-separated list, e.g. gan,wgan-gp")
    return names
