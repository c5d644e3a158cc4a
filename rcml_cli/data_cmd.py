"""`rcml data <synth|amazon|goodreads|check>`: prepare canonical datasets and validate them.

One module per subcommand, each exposing `register(subparsers)`.
"""

from __future__ import annotations

import argparse

from rcml_cli import data_amazon, data_check, data_goodreads, data_synth

SUBCOMMANDS = [data_synth, data_amazon, data_goodreads, data_check]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="prepare and validate canonical relational datasets")
    sub = parser.add_subparsers(dest="data_command", required=True)
    for module in SUBCOMMANDS:
        module.register(sub)
