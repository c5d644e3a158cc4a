"""`rcml` entry point: `rcml data ...`, `rcml train ...`, `rcml eval ...`, `rcml compare ...`, `rcml report ...`.

Each command lives in its own module exposing `register(subparsers)`, which adds its
parser and sets `func(args) -> int`. User errors (`RCMLError`) and what the file system
refuses (`OSError`, with the path) are printed as one line, without a traceback, and exit
with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rcml_core.errors import RCMLError

from rcml_cli import compare_cmd, data_cmd, eval_cmd, report_cmd, train_cmd

COMMANDS = [data_cmd, train_cmd, eval_cmd, compare_cmd, report_cmd]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rcml", description="Relation-Conditioned Multimodal Learning: data, training, evaluation"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except RCMLError as exc:
        print(f"rcml: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the file system refused (permissions, a file where a folder must be, a full disk)
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"rcml: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rcml: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
