"""Hyperparameter search: Optuna TPE over batch size, lr, tau, lambda and beta, with ASHA.

Each trial is one configuration (at the first of --seeds); ASHA stops weak trials after
their first epochs on validation Hit@5. `--search-flags` adds the ablation flags to the
space; lambda is only searched when the intra-modal loss is on (a conditional,
define-by-run parameter). The Optuna study is kept in <home>/optuna.db (open it with
optuna-dashboard) and its parameter importances are logged on the parent run.
"""

from __future__ import annotations

from sweeps.cli import Script

FLAGS = ("no_inter_edges", "no_edge_text", "frozen_backbone")


class SearchSpace:
    """Define-by-run space (a class, so Tune can save and restore the searcher with it)."""

    def __init__(self, search_flags: bool = False) -> None:
        self.search_flags = search_flags

    def __call__(self, trial) -> None:
        trial.suggest_categorical("batch_size", [32, 64, 128])
        trial.suggest_float("lr", 1e-4, 3e-3, log=True)
        trial.suggest_float("tau", 0.03, 0.3, log=True)
        trial.suggest_float("beta", 0.0, 1.0)
        no_intra = trial.suggest_categorical("no_intra_loss", [False, True]) if self.search_flags else False
        if not no_intra:
            trial.suggest_float("lambda_intra", 0.0, 1.0)
        if self.search_flags:
            for flag in FLAGS:
                trial.suggest_categorical(flag, [False, True])


def add_arguments(parser) -> None:
    parser.add_argument("--num-samples", type=int, default=24, help="trials Optuna proposes (smoke test: 4)")
    parser.add_argument("--search-flags", action="store_true", help="also search the ablation flags")


def build(args):
    from cluster.study import Study
    from tracking.optuna_report import importances_report

    samples = min(args.num_samples, 4) if args.smoke_test else args.num_samples
    return Study(name="hparam_search", search=SearchSpace(args.search_flags), num_samples=samples,
                 extra_report=importances_report)


main = Script("hparam_search", __doc__, build, add_arguments=add_arguments, default_seeds=(0,), smoke_epochs=2).main


if __name__ == "__main__":
    raise SystemExit(main())
