"""The command line every sweep script shares: `--smoke-test`, `--data`, `--preset`, `--seeds`,
`--resume`, the cluster and resource flags, and `key=value` overrides for every trial.

Parsing only; the work is cluster.launcher.run_sweep. With no arguments a script runs the
embedded default: a local Ray instance, the local MLflow store and the synthetic catalog.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cluster.connect import prefer_loopback

DESCRIPTION_TAIL = """
On a cluster:   ray job submit -- python sweeps/<script>.py [--data DIR] [--preset clip-vit-b32]
Resume:         python sweeps/<script>.py --resume            (the latest sweep of this study)
Compare runs:   the MLflow UI command printed at the end.
"""


def build_parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description + DESCRIPTION_TAIL,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke-test", action="store_true",
                   help="a few steps on a tiny synthetic catalog with one seed (checks the whole path in ~1-2 min)")
    p.add_argument("--data", help="canonical dataset folder (default: the embedded synthetic catalog)")
    p.add_argument("--preset", default="tiny", help="model/optimiser preset: tiny (CPU) or clip-vit-b32")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds of every configuration")
    p.add_argument("--epochs", type=int, default=None, help="epochs per trial (default: the budget's)")
    p.add_argument("--resume", nargs="?", const="latest", default=None, metavar="SWEEP",
                   help="continue an interrupted sweep (default: the latest of this study); finished trials "
                        "are not rerun")
    p.add_argument("--name", help="name of a new sweep (default: <study>-<timestamp>)")
    p.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, else a local instance; "
                                     "'auto': the cluster started on this machine)")
    p.add_argument("--home", help="folder for the local MLflow store, data cache, runs and reports "
                                  "(default: the project folder; $RCML_HOME)")
    p.add_argument("--storage", help="Ray storage for trials and checkpoints (default: <home>/ray_results; "
                                     "s3://, gs:// or a shared path on a multi-node cluster)")
    p.add_argument("--num-workers", type=int, default=1,
                   help="Ray Train workers (DDP) per trial. batch_size is the global batch: the relation pairs of one "
                        "optimisation step, whatever --num-workers is; each of N data-parallel workers holds "
                        "batch_size / N of them (it must divide evenly) and scores them against all batch_size "
                        "candidates, so a trial trains the same objective on one worker or on many")
    p.add_argument("--worker-group", action="store_true",
                   help="run one-worker trials on a Ray Train worker group too (default: inside the trial's actor, "
                        "Ray Train local mode, which saves the worker group's start-up)")
    p.add_argument("--cpus-per-worker", type=float, default=None)
    p.add_argument("--gpus-per-worker", type=float, default=1.0)
    p.add_argument("--gpu", dest="use_gpu", action="store_true", default=None, help="require GPU workers")
    p.add_argument("--cpu", dest="use_gpu", action="store_false", help="CPU workers even where GPUs exist")
    p.add_argument("--max-concurrent", type=int, default=None,
                   help="trials at once (default: what the cluster fits now; set it on autoscaling clusters)")
    p.add_argument("--worker-resource", metavar="NAME",
                   help="a custom Ray resource that every training process asks one unit of; declared only by the "
                        "worker node types of a cluster config (rcml_worker in cluster/autoscaling_local.yaml), it "
                        "keeps trials off the head")
    p.add_argument("--node-price", action="append", default=[], metavar="TYPE=USD_PER_HOUR",
                   help="hourly price of a node type, for the cost report (repeatable; overrides the node label "
                        "rcml-usd-per-hour of the cluster config)")
    p.add_argument("--max-failures", type=int, default=0, help="retries of a failed trial, from its latest checkpoint")
    p.add_argument("--no-register", action="store_true", help="do not register the selected model in MLflow")
    p.add_argument("--confirm", type=int, default=0, metavar="K",
                   help="after selection, train the top K configurations again on fresh seeds (as many as --seeds) "
                        "and choose the final one by those scores (default 0: off)")
    p.add_argument("--ood-data", metavar="DIR",
                   help="a second dataset folder (e.g. built by `rcml data goodreads`): the selected checkpoints are "
                        "also tested there, logged as ood/test/* and shown as Table 1's out-of-domain column")
    p.add_argument("--no-baselines", action="store_true",
                   help="skip the CLIP baselines trained beside the selected configuration for the test table")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="rcml train overrides for every trial")
    return p


@dataclass(frozen=True)
class Script:
    """A sweep script: its study's name, its help text, `build(args) -> Study`, and its own flags and defaults."""

    name: str
    description: str
    build: Callable[[argparse.Namespace], Any]
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    default_seeds: tuple[int, ...] = (0, 1, 2)
    smoke_epochs: int | None = None  # --smoke-test's epochs (default: the smoke budget's)

    def main(self, argv: Sequence[str] | None = None) -> int:
        """Parse, then run the study `build(args)` returns; exit code 2 on a user error, 130 when interrupted."""
        parser = build_parser(self.description)
        if self.add_arguments is not None:
            self.add_arguments(parser)
        args = parser.parse_args(argv)
        prefer_loopback(args.address)  # before Ray is imported: a local instance listens on 127.0.0.1 only

        from cluster.console import results_lines
        from cluster.launcher import run_sweep
        from cluster.resources import ResourceConfig
        from cluster.sweep_settings import SweepSettings
        from rcml_core.errors import RCMLError
        from tracking.cost import parse_prices

        try:
            settings = SweepSettings(
                data=args.data, preset=args.preset, seeds=tuple(args.seeds or self.default_seeds),
                overrides=tuple(args.overrides), smoke_test=args.smoke_test,
                epochs=args.epochs if args.epochs is not None or not args.smoke_test else self.smoke_epochs,
                resume=args.resume, name=args.name, home=args.home, storage=args.storage, address=args.address,
                resources=ResourceConfig(num_workers=args.num_workers, use_gpu=args.use_gpu,
                                         cpus_per_worker=args.cpus_per_worker, gpus_per_worker=args.gpus_per_worker,
                                         max_concurrent_trials=args.max_concurrent,
                                         in_trial=False if args.worker_group else None,
                                         worker_resource=args.worker_resource),
                max_failures=args.max_failures, register=not args.no_register, baselines=not args.no_baselines,
                node_prices=parse_prices(args.node_price), confirm=args.confirm, ood_data=args.ood_data,
            )
            study = self.build(args)
            result = run_sweep(study, settings)
        except RCMLError as exc:
            print(f"{self.name}: error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(f"{self.name}: interrupted; resume with --resume", file=sys.stderr)
            return 130
        for line in results_lines(result, list(study.axes)):
            print(line)
        return 130 if result.interrupted else 0
