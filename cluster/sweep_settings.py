"""A sweep's settings (what the command line asks for), its training budget, finding it again, and the
`SweepContext` that the stages of cluster.launcher share once the sweep is prepared.

The embedded default (no --data) and --smoke-test bring their own synthetic catalog and a budget
on top of the preset; a sweep started with --data uses the preset's training schedule. The
settings a sweep was started with are written into its Tune experiment folder, so that
`--resume` continues it exactly as it began, whatever the resuming command line says.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cluster import paths
from cluster.resources import ResourceConfig, TrialPlan
from cluster.study import Study
from rcml_core.data.synth import generate_catalog, synth_preset
from rcml_core.config import Override
from rcml_core.errors import ConfigError, RCMLError
from rcml_core.runtime.run_config import PRESETS, RunConfig

if TYPE_CHECKING:
    from tracking.store import TrackingTarget
    from tracking.sweep_runs import SweepTracking

# Training budgets of the embedded default and of --smoke-test (on top of the preset; --data runs use the preset's).
EMBEDDED_SYNTH = "small"
EMBEDDED_BUDGET = (("epochs", 2), ("max_steps_per_epoch", 40))  # 36 trials of the beta sweep in < 4 min on 2 cores
SMOKE_SYNTH = "tiny"
SMOKE_BUDGET = (("epochs", 1), ("batch_size", 16), ("max_steps_per_epoch", 3))
SETTINGS_FILE = "rcml_sweep.json"
RESUMED = ("data", "preset", "seeds", "overrides", "smoke_test", "epochs", "resources")  # saved with a sweep;
#   --resume reads them back (and a search study's num_samples), so a resumed sweep is the same sweep whatever
#   flags the resuming command line gives


@dataclass(frozen=True)
class SweepSettings:
    data: str | None = None  # canonical dataset folder; None: the embedded synthetic catalog
    preset: str = "tiny"
    seeds: tuple[int, ...] = (0, 1, 2)
    overrides: tuple[str, ...] = ()  # key=value for every trial (after the budget)
    smoke_test: bool = False  # tiny catalog, one seed, a few steps
    epochs: int | None = None  # overrides the budget's epochs
    resume: str | None = None  # "latest" or a sweep name
    name: str | None = None  # name of a new sweep (default: <study>-<timestamp>)
    home: str | None = None  # default: the project folder (cluster.paths)
    storage: str | None = None  # Ray storage; default <home>/ray_results (use s3://, gs:// or NFS on a cluster)
    address: str | None = None  # Ray address; None: RAY_ADDRESS or a new local instance
    resources: ResourceConfig = field(default_factory=ResourceConfig)
    max_failures: int = 0  # retries of a failed trial from its latest checkpoint (Tune in-trial, else Ray Train)
    asha: bool | None = None  # None: on for search studies, off for grids
    register: bool = True
    baselines: bool = True  # train the CLIP baselines beside the selected configuration (cluster/baselines.py)
    node_prices: Mapping[str, float] = field(default_factory=dict)  # node type -> USD per hour (tracking/cost.py)
    confirm: int = 0  # re-run the top K configurations on fresh seeds before the final choice (cluster/confirm.py)
    ood_data: str | None = None  # a second dataset folder: the selected checkpoints also tested there (ood/test/...)

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ConfigError(f"--preset must be one of {sorted(PRESETS)}, got {self.preset!r}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise ConfigError(f"--seeds must be distinct integers >= 0, got {list(self.seeds)}")
        if self.epochs is not None and self.epochs < 1:
            raise ConfigError(f"--epochs must be >= 1, got {self.epochs}")
        if self.confirm < 0:
            raise ConfigError(f"--confirm must be >= 0 (0: no confirmation), got {self.confirm}")
        if self.max_failures < 0:
            raise ConfigError(f"--max-failures must be >= 0, got {self.max_failures}")
        if self.ood_data is not None and not (Path(self.ood_data) / "manifest.json").is_file():
            raise ConfigError(f"--ood-data {self.ood_data}: not a dataset folder (no manifest.json); build one with "
                              "`rcml data ...`")
        if self.resume is not None and self.name is not None:
            raise ConfigError("--name names a new sweep; --resume continues an existing one (give its name there)")

    @property
    def run_seeds(self) -> tuple[int, ...]:
        return self.seeds[:1] if self.smoke_test else self.seeds

    @property
    def embedded(self) -> bool:
        return self.smoke_test or self.data is None

    def budget(self) -> list[tuple[str, int]]:
        out = list(SMOKE_BUDGET if self.smoke_test else EMBEDDED_BUDGET if self.data is None else ())
        return out + ([("epochs", self.epochs)] if self.epochs is not None else [])

    @property
    def final_splits(self) -> tuple[str, ...]:
        """Splits each trial evaluates fully (all three tasks) at its end; the embedded budget skips it,
        the selected configuration is evaluated on test either way."""
        return () if self.embedded else ("val",)


@dataclass(frozen=True)
class SweepContext:
    """Everything a prepared sweep's stages share (cluster.launcher: prepare -> tune -> conclude); fixed for
    the sweep's whole run."""

    study: Study
    settings: SweepSettings  # a resumed sweep's: the settings it was started with
    sweep_name: str
    storage: str  # Ray storage root (a local folder or a URI)
    home: Path  # the local MLflow store, data cache, run folders and reports
    data: Path  # the dataset folder every trial trains on
    base: tuple[Override, ...]  # every trial's overrides before its own values: data, budget, command line
    run_config: RunConfig  # `base` resolved: the data, budget and evaluation every trial shares
    plan: TrialPlan
    target: TrackingTarget  # the MLflow store
    tracking: SweepTracking  # the sweep's experiment and parent run
    client: Any  # an mlflow.tracking.MlflowClient on `target`

    @property
    def epochs(self) -> int:
        """Per trial (ASHA's horizon)."""
        return self.run_config.train.epochs

    @property
    def parent(self) -> str:
        return self.tracking.parent_run_id

    @property
    def experiment_path(self) -> str:
        """The sweep's Tune experiment folder (its saved state, what --resume restores)."""
        return paths.experiment_path(self.storage, self.sweep_name)

    @property
    def runs_root(self) -> Path:
        """The run folders of the sweep's trials, confirmation and baseline runs."""
        return self.home / "runs" / self.sweep_name

    @property
    def n_trials(self) -> int:
        return self.study.n_trials(len(self.settings.run_seeds))


def embedded_data(home: Path, smoke: bool) -> Path:
    size = SMOKE_SYNTH if smoke else EMBEDDED_SYNTH
    return home / "data" / f"synth-{size}-seed0"


def ensure_embedded_data(path: Path, smoke: bool) -> None:
    """Generate the synthetic catalog once; later sweeps reuse it."""
    if (path / "manifest.json").is_file():
        return
    print(f"sweep: generating the synthetic catalog into {path} (once)", flush=True)
    generate_catalog(synth_preset(SMOKE_SYNTH if smoke else EMBEDDED_SYNTH), path, overwrite=path.exists(),
                     progress=False)


def write_settings(ctx: SweepContext) -> None:
    fs, root = paths.storage_root(paths.experiment_path(ctx.storage, ctx.sweep_name))
    fs.create_dir(root, recursive=True)
    saved = {k: getattr(ctx.settings, k) for k in RESUMED}
    saved.update(resources=dataclasses.asdict(ctx.settings.resources), num_samples=ctx.study.num_samples)
    with fs.open_output_stream(f"{root}/{SETTINGS_FILE}") as out:
        out.write(json.dumps(saved, indent=2).encode())


def read_settings(storage: str, sweep_name: str) -> dict | None:
    fs, root = paths.storage_root(paths.experiment_path(storage, sweep_name))
    try:
        with fs.open_input_stream(f"{root}/{SETTINGS_FILE}") as src:
            return json.loads(src.read().decode())
    except (OSError, FileNotFoundError, ValueError):
        return None


def resolve_resume(study: Study, settings: SweepSettings, storage: str) -> tuple[Study, SweepSettings]:
    """The study and settings the sweep to continue was started with (they win over the command line: the
    data, budget, seeds, resources and a search's sample count), `resume` naming that sweep exactly."""
    found = paths.existing_sweeps(storage, study.name)
    if settings.resume == "latest":
        if not found:
            raise RCMLError(f"--resume: no {study.name} sweep to resume under {storage}")
        name = found[-1]
    elif settings.resume in found:
        name = settings.resume
    else:
        raise RCMLError(f"--resume: no sweep named {settings.resume!r} under {storage}; found {found or 'none'}")
    saved = read_settings(storage, name) or {}
    resumed = {k: tuple(v) if isinstance(v, list) else v for k, v in saved.items() if k in RESUMED}
    if isinstance(saved.get("resources"), dict):
        resumed["resources"] = ResourceConfig(**saved["resources"])
    if study.is_search and isinstance(saved.get("num_samples"), int):
        study = replace(study, num_samples=saved["num_samples"])
    return study, replace(settings, **resumed, resume=name)
