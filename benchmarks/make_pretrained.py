"""Make (or remake) the runs shipped in course_utils/pretrained/ with `course train`, one CPU thread each.

    python benchmarks/make_pretrained.py --add NAME -- gan --data grid --steps 8000 --seed 0
    python benchmarks/make_pretrained.py NAME [NAME ...]     # rerun the arguments the manifest records
    python benchmarks/make_pretrained.py --all

Each run goes to a temporary folder, then course_utils.training.pretrained.ship keeps its weights, config and
History as course_utils/pretrained/NAME.pt and records the sha256 and the arguments in manifest.json. On one
thread a rerun gives the same file (same seed, same arithmetic); another torch build or CPU may change the last
bits, so tests/test_pretrained.py checks scores, not bytes, against a rerun.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from course_utils.training import CHECKPOINT_NAME
from course_utils.training.pretrained import read_manifest, ship


def remake(name: str, command: list[str]) -> None:
    course = Path(sys.executable).with_name("course")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        start = time.perf_counter()
        subprocess.run([str(course), "train", *command, "--out", str(out), "--no-progress"], check=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
        kind = command[0] if command and not command[0].startswith("-") else "config"
        path = ship(out / CHECKPOINT_NAME, name, kind, command)
        print(f"{name}: {path} ({path.stat().st_size / 1e3:.0f} kB) in {time.perf_counter() - start:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="shipped runs to remake with their recorded arguments")
    parser.add_argument("--all", action="store_true", help="remake every shipped run")
    parser.add_argument("--add", metavar="NAME", help="make a new run NAME from the arguments after --")
    argv = sys.argv[1:] if argv is None else argv
    command = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    if args.add:
        if not command:
            parser.error("--add NAME needs the course train arguments after --, e.g. -- gan --data grid")
        remake(args.add, command)
        return 0
    manifest = read_manifest()
    names = sorted(manifest) if args.all else args.names
    unknown = [n for n in names if n not in manifest]
    if unknown or not names:
        parser.error(f"name shipped runs ({', '.join(sorted(manifest)) or 'none yet'}); unknown: {unknown}")
    for name in names:
        remake(name, manifest[name]["command"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
