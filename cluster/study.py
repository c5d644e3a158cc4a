"""What a sweep script declares: a grid or an Optuna define-by-run search over override keys.

A `Study` names its axes in the flat keys of `rcml train` (`beta`, `lr`, `tau`,
`lambda_intra`, `batch_size`, the ablation flags, ...; dotted paths work too) plus two
special ones: `seed` (from `--seeds`) and `variant`, whose values name bundles of
overrides (the ablation settings). Grid studies run every combination through Tune's
grid search (OptunaSearch cannot take `grid_search`); search studies give a
define-by-run function to OptunaSearch (TPE), which allows conditional parameters. The
study also names its report (`report`, `extra_report`), so a script hands the launcher one object.

`validate_study` resolves a full run config for every grid value (or for sampled search
points) before Ray starts, so a bad key or value is a one-line error naming it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from rcml_core.config import Override
from rcml_core.errors import ConfigError

SEED = "seed"
VARIANT = "variant"
SEARCH_CHECKS = 16  # sampled points of a search space that validate_study resolves

SearchSpace = Callable[[Any], "dict[str, Any] | None"]  # optuna.Trial -> constants (define-by-run)
ReportFn = Callable[[Any, Any, "list[str]"], Any]  # (summary, trials, axes) -> tracking.reports.Report
ExtraReportFn = Callable[[str, Any], Any]  # (sweep name, home folder) -> tracking.reports.Report


@dataclass(frozen=True)
class Study:
    name: str  # e.g. "beta_sweep": MLflow experiment rcml-<name>, registered model rcml-<name>
    grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)  # axes besides seed
    variants: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # variant name -> overrides
    search: SearchSpace | None = None  # Optuna define-by-run; None for grid studies
    num_samples: int = 0  # trials of a search study
    fixed: Mapping[str, Any] = field(default_factory=dict)  # overrides shared by every trial
    reference_variant: str | None = None  # the variant others are compared with (ablation: "full")
    report: ReportFn | None = None  # figures and tables from the trials; None: tracking.reports.base_report
    extra_report: ExtraReportFn | None = None  # a report from the study's own records (the Optuna importances)

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise ConfigError(f"study name must be letters, digits, '-' or '_', got {self.name!r}")
        if self.search is None and self.num_samples:
            raise ConfigError("num_samples applies to search studies only")
        if self.search is not None:
            if self.grid:
                raise ConfigError("a study is either a grid or an Optuna search, not both")
            if self.num_samples < 1:
                raise ConfigError(f"a search study needs num_samples >= 1, got {self.num_samples}")
        for axis, values in self.grid.items():
            if axis == SEED:
                raise ConfigError("'seed' is set with --seeds, not as a grid axis")
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
                raise ConfigError(f"grid axis {axis!r} needs a non-empty list of values, got {values!r}")
        if VARIANT in self.grid:
            unknown = [v for v in self.grid[VARIANT] if v not in self.variants]
            if unknown:
                raise ConfigError(f"variants {unknown} are not defined; defined: {sorted(self.variants)}")
        if self.reference_variant is not None and self.reference_variant not in self.variants:
            raise ConfigError(f"reference_variant {self.reference_variant!r} is not a defined variant")

    @property
    def is_search(self) -> bool:
        return self.search is not None

    @property
    def axes(self) -> tuple[str, ...]:
        """Keys that tell one configuration from another (seeds are averaged over)."""
        return tuple(self.grid)

    def expand(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """A trial's config with `variant` replaced by its overrides (and the study's fixed ones)."""
        out = dict(self.fixed)
        for key, value in config.items():
            if key == VARIANT:
                out.update(self.variants[value])
            else:
                out[key] = value
        return out

    def for_trials(self) -> Study:
        """The study as its trials get it: without the report functions, which only the driver calls (so a
        trial never imports the figures' matplotlib)."""
        return replace(self, report=None, extra_report=None)

    def n_trials(self, n_seeds: int) -> int:
        if self.is_search:
            return self.num_samples
        return n_seeds * math.prod(len(v) for v in self.grid.values())


def plain_value(value: Any) -> Any:
    """A value of the trials table as the override it was: numpy scalars as Python ones, and a whole float as
    the integer it was before pandas widened its column (batch_size 16 -> 16.0 -> 16)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def format_override(key: str, value: Any) -> str:
    """A typed override as the `key=value` a command line would give (for run names and the parent's params)."""
    if isinstance(value, bool):
        return f"{key}={'true' if value else 'false'}"
    if isinstance(value, float):
        return f"{key}={value!r}"
    return f"{key}={value}"


def _search_points(study: Study, n: int) -> list[dict[str, Any]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler_study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    points = []
    for _ in range(n):
        trial = sampler_study.ask()
        try:
            constants = study.search(trial) or {}
        except Exception as exc:  # noqa: BLE001 - a broken search space is a config error
            raise ConfigError(f"study {study.name}: the search space raised {type(exc).__name__}: {exc}") from None
        points.append({**trial.params, **constants})
        sampler_study.tell(trial, 0.0)
    return points


def validate_study(study: Study, preset: str, base: Sequence[Override], seeds: Sequence[int],
                   num_workers: int = 1) -> None:
    """Raise ConfigError, naming the axis / value / field, unless every trial config resolves (and its
    batch splits evenly over `num_workers` data-parallel workers); a search study is checked on
    `SEARCH_CHECKS` sampled points."""
    from rcml_core.runtime.run_config import resolve_run_config  # imports the model code: driver only

    def check(config: Mapping[str, Any], what: str) -> None:
        try:
            resolved = resolve_run_config(preset, overrides=[*base, *study.expand(config).items()])
        except ConfigError as exc:
            raise ConfigError(f"study {study.name}: {what}: {exc}") from None
        if resolved.train.batch_size % num_workers:  # the global batch, split evenly between the DDP workers
            raise ConfigError(f"study {study.name}: {what}: train.batch_size {resolved.train.batch_size} must be "
                              f"a multiple of --num-workers {num_workers} (it is the global batch of a step)")

    first = {axis: values[0] for axis, values in study.grid.items()}
    check({**first, SEED: seeds[0]}, "base configuration")
    for seed in seeds:
        check({**first, SEED: seed}, f"seed={seed}")
    for axis, values in study.grid.items():
        for value in values:
            check({**first, axis: value, SEED: seeds[0]}, f"{axis}={value!r}")
    if study.is_search:
        for point in _search_points(study, SEARCH_CHECKS):
            check({**point, SEED: seeds[0]}, f"search point {point}")
