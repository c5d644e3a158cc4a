"""`rcml data <source|check>`: prepare canonical datasets and validate them.

One module per subcommand (`data_check`, `data_synth`, `data_amazon`, `data_goodreads`),
each exposing `register(subparsers)`.
"""

from __future__ import annotations

import argparse
import importlib
from importlib.machinery import PathFinder

SUBCOMMANDS = ["rcml_cli.data_check", "rcml_cli.data_synth", "rcml_cli.data_amazon", "rcml_cli.data_goodreads"]


def _in_this_checkout(name: str) -> bool:
    """Whether the subcommand module is a file of this rcml_cli package.

    An editable install of another checkout (a shared venv) would otherwise serve
    that checkout's modules for the ones missing here, half-importing a newer tree.
    """
    package = importlib.import_module("rcml_cli")
    return PathFinder.find_spec(name, list(package.__path__)) is not None


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="prepare and validate canonical relational datasets")
    sub = parser.add_subparsers(dest="data_command", required=True)
    for name in SUBCOMMANDS:
        if not _in_this_checkout(name):  # a subcommand not built yet in this checkout
            continue
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a subcommand not built yet in this checkout
            if exc.name != name:
                raise
            continue
        module.register(sub)
