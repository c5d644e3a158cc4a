"""`rcml data <source|check>`: prepare canonical datasets and validate them.

One module per subcommand (`data_check`, `data_synth`, `data_amazon`, `data_goodreads`),
each exposing `register(subparsers)`.
"""

from __future__ import annotations

import argparse
import importlib

SUBCOMMANDS = ["rcml_cli.data_check", "rcml_cli.data_synth", "rcml_cli.data_amazon", "rcml_cli.data_goodreads"]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="prepare and validate canonical relational datasets")
    sub = parser.add_subparsers(dest="data_command", required=True)
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a subcommand not built yet in this checkout
            if exc.name != name:
                raise
            continue
        module.register(sub)
