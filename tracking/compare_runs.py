"""`rcml compare`: runs recorded in MLflow, compared side by side and query by query (tracking.compare).

Each compared configuration is given as one run id, or several comma-separated run ids (its seeds). A
single sweep trial run stands for its whole configuration: it is expanded to the FINISHED trial runs of
the same sweep with the same configuration (the `rcml.configuration` tag, else the same params apart from
the seed and the run's folders), one per seed, unless `expand_seeds=False`.

Per-query outcomes come from the runs' `outcomes/*.npz` artifacts (rcml_core.eval.results.EvalResult):
`test.npz` (the selected configuration's seeds after a sweep; `rcml train --test`), `val.npz` (every run's
full val split) and `selection-val.npz` (the val queries the sweep selected on). `outcomes="auto"` takes the
first of these that every compared run has; the model's own outcomes (no scorer prefix) are compared.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from rcml_core.errors import RCMLError
from rcml_core.eval import keys
from rcml_core.eval.bootstrap import N_RESAMPLES
from rcml_core.eval.results import EvalResult
from tracking.compare import SeedOutcomes, compare_to_reference
from tracking.run_tags import TAG_CONFIGURATION
from tracking.sweep_runs import TAG_PARENT, TAG_ROLE, find_runs, get_run

OUTCOME_FILES = ("test", "val", "selection-val")  # "auto" takes the first one every run has
SEED_PARAM = "seed"
# Params that differ between the seeds of one configuration without making it another configuration.
RUN_SPECIFIC_PARAMS = frozenset({SEED_PARAM, "out_dir", "train.num_threads", "train.device"})


@dataclass(frozen=True)
class RunGroup:
    """One configuration: its runs, one per seed."""

    label: str
    runs: tuple[Run, ...]

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(run_seed(r) for r in self.runs)

    @property
    def params(self) -> dict[str, str]:
        """The configuration's params (the first run's, without the per-run ones)."""
        return {k: v for k, v in self.runs[0].data.params.items() if k not in RUN_SPECIFIC_PARAMS}


@dataclass(frozen=True)
class Comparison:
    groups: tuple[RunGroup, ...]
    outcomes_file: str  # which outcomes were compared ("test", "val", "selection-val")
    params: pd.DataFrame  # one row per param, one column per configuration, `differs`
    differences: pd.DataFrame  # tracking.compare.compare_to_reference, against the first configuration


def run_seed(run: Run) -> int:
    try:
        return int(float(run.data.params[SEED_PARAM]))
    except (KeyError, ValueError):
        raise RCMLError(f"run {run.info.run_id}: no integer param {SEED_PARAM!r}; is it an rcml training run?") from None


def configuration_of(run: Run) -> str:
    """The `rcml.configuration` tag, else the run's params apart from the per-run ones (as one string)."""
    return run.data.tags.get(TAG_CONFIGURATION) or " ".join(
        f"{k}={v}" for k, v in sorted(run.data.params.items()) if k not in RUN_SPECIFIC_PARAMS)


def _seed_siblings(client: MlflowClient, run: Run) -> list[Run]:
    """The FINISHED trial runs of `run`'s sweep with its configuration (itself included), by seed."""
    parent = run.data.tags.get(TAG_PARENT)
    if run.data.tags.get(TAG_ROLE) != "trial" or not parent:
        return [run]
    config = configuration_of(run)
    siblings = [r for r in find_runs(client, run.info.experiment_id, {TAG_PARENT: parent, TAG_ROLE: "trial"})
                if configuration_of(r) == config and (r.info.status == "FINISHED" or r.info.run_id == run.info.run_id)]
    return sorted(siblings, key=run_seed)


def _label(run: Run) -> str:
    """The configuration tag, else the run's name without its seed, else the run id's start."""
    words = [w for w in (run.info.run_name or "").split() if not w.startswith(f"{SEED_PARAM}=")]
    return run.data.tags.get(TAG_CONFIGURATION) or " ".join(words) or run.info.run_id[:8]


def resolve_groups(client: MlflowClient, specs: Sequence[str], expand_seeds: bool = True) -> list[RunGroup]:
    """One RunGroup per spec ("RUN_ID" or "ID1,ID2,..."); labels made unique with the run id when needed."""
    if len(specs) < 2:
        raise RCMLError(f"compare needs at least two configurations, got {len(specs)}")
    groups = []
    for spec in specs:
        ids = [s.strip() for s in spec.split(",") if s.strip()]
        if not ids:
            raise RCMLError(f"empty run id in {spec!r}")
        runs = [get_run(client, i) for i in ids]
        if expand_seeds and len(runs) == 1:
            runs = _seed_siblings(client, runs[0])
        seeds = [run_seed(r) for r in runs]
        if len(set(seeds)) != len(seeds):
            raise RCMLError(f"{spec!r}: several runs with the same seed {seeds}; give one run per seed")
        groups.append(RunGroup(_label(runs[0]), tuple(runs)))
    labels = [g.label for g in groups]
    return [g if labels.count(g.label) == 1 else RunGroup(f"{g.label} [{g.runs[0].info.run_id[:8]}]", g.runs)
            for g in groups]


def params_table(groups: Sequence[RunGroup]) -> pd.DataFrame:
    """param -> each configuration's value, `differs` "*" where they are not all equal, differing rows first."""
    table = pd.DataFrame({g.label: pd.Series(g.params, dtype=object) for g in groups}).fillna("")
    table["differs"] = ["*" if n > 1 else "" for n in table.nunique(axis=1)]
    table = table.rename_axis("param").reset_index()
    return table.sort_values(["differs", "param"], ascending=[False, True], kind="stable").reset_index(drop=True)


def _artifact_names(client: MlflowClient, run_id: str) -> set[str]:
    return {Path(a.path).name for a in client.list_artifacts(run_id, "outcomes")}


def choose_outcomes(client: MlflowClient, groups: Sequence[RunGroup], outcomes: str = "auto") -> str:
    """The outcomes file to compare: `outcomes` when every run has it, else the first of OUTCOME_FILES all have."""
    have = [(r.info.run_id, _artifact_names(client, r.info.run_id)) for g in groups for r in g.runs]
    wanted = OUTCOME_FILES if outcomes == "auto" else (outcomes,)
    if outcomes != "auto" and outcomes not in OUTCOME_FILES:
        raise RCMLError(f"outcomes must be auto or one of {list(OUTCOME_FILES)}, got {outcomes!r}")
    for name in wanted:
        if all(f"{name}.npz" in files for _, files in have):
            return name
    missing = [run_id for run_id, files in have if not any(f"{n}.npz" in files for n in wanted)]
    raise RCMLError(f"no per-query outcomes ({', '.join(f'outcomes/{n}.npz' for n in wanted)}) common to every "
                    f"compared run; run(s) {missing[:3]} lack them (a trial stopped before its end records none)")


def load_outcomes(client: MlflowClient, group: RunGroup, outcomes_file: str, folder: Path) -> SeedOutcomes:
    """The configuration's model outcomes per seed, from each run's outcomes/<outcomes_file>.npz."""
    by_seed = {}
    for run in group.runs:
        dest = folder / run.info.run_id
        dest.mkdir(parents=True, exist_ok=True)
        path = client.download_artifacts(run.info.run_id, f"outcomes/{outcomes_file}.npz", str(dest))
        result = EvalResult.load(path)
        if keys.MODEL not in result.outcomes:
            raise RCMLError(f"run {run.info.run_id}: outcomes/{outcomes_file}.npz holds no model outcomes")
        by_seed[run_seed(run)] = result.outcomes[keys.MODEL]
    try:
        return SeedOutcomes.from_seeds(by_seed)
    except ValueError as exc:
        raise RCMLError(f"{group.label}: {exc}") from None


def compare_runs(client: MlflowClient, specs: Sequence[str], outcomes: str = "auto", expand_seeds: bool = True,
                 metrics: Sequence[str] | None = None, n_resamples: int = N_RESAMPLES) -> Comparison:
    """Params side by side and, per Hit@k / MRR outcome, each configuration minus the first (paired CI, p, Holm).

    metrics: outcome-name prefixes to keep (e.g. ["hit@5", "mrr"]); None keeps every Hit@k and MRR.
    """
    groups = resolve_groups(client, specs, expand_seeds)
    chosen = choose_outcomes(client, groups, outcomes)
    with tempfile.TemporaryDirectory(prefix="rcml-compare-") as folder:
        loaded = {g.label: load_outcomes(client, g, chosen, Path(folder)) for g in groups}
    first = loaded[groups[0].label]
    names = [n for n in first.values if n.split("_")[0] in keys.RANK_METRICS
             and all(n in o.values for o in loaded.values())]
    if metrics:
        names = [n for n in names if any(n == m or n.startswith(f"{m}_") for m in metrics)]
        if not names:
            raise RCMLError(f"no outcome matches --metric {list(metrics)}; known: {sorted(first.values)}")
    try:
        table = compare_to_reference(loaded, groups[0].label, names, n_resamples=n_resamples)
    except ValueError as exc:
        raise RCMLError(str(exc)) from None
    return Comparison(tuple(groups), chosen, params_table(groups), table)
