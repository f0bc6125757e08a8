"""``course doctor``: say what is installed and what is wrong, with a one-line fix for each problem."""

from __future__ import annotations

import argparse

from course_utils.cli.base import Command


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = "Say what is installed and what is wrong, with a one-line fix for each problem."


def run(args: argparse.Namespace) -> int:
    from course_utils.doctor import diagnose, format_report

    findings = diagnose(root=args.root)
    print(format_report(findings))
    return 1 if any(f.status == "problem" for f in findings) else 0


COMMAND = Command("doctor", "say what is installed and what is wrong, with a fix for each", configure, run,
                  needs_root=False)
