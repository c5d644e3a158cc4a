"""`rcml data check DIR`: verify a canonical dataset and print its summary.

Exit status: 0 when every invariant holds, 1 when problems were found (all of them are
listed, up to --max-problems), 2 on a user error (e.g. the folder does not exist).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rcml_core.data.format.check import check_dataset
from rcml_core.errors import DataError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("check", help="verify every invariant of a dataset folder and summarise it")
    parser.add_argument("dir", type=Path, help="dataset folder (holds manifest.json)")
    parser.add_argument("--max-problems", type=int, default=50, help="problems to print (default 50; all are counted)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.dir.is_dir():
        raise DataError(f"{args.dir}: no such folder")
    report = check_dataset(args.dir)
    for line in report.summary_lines():
        print(line)
    if report.ok:
        print("check: OK, no problems found")
        return 0
    print(f"check: {len(report.problems)} problem(s) found")
    for problem in report.problems[: max(args.max_problems, 0)]:
        print(f"  {problem}")
    if len(report.problems) > args.max_problems:
        print(f"  ... and {len(report.problems) - args.max_problems} more (raise --max-problems to see them)")
    return 1
