"""A sweep's settings (what the command line asks for), its training budget, and finding it again.

The embedded default (no --data) and --smoke-test bring their own synthetic catalog and a budget
on top of the preset; a sweep started with --data uses the preset's training schedule. The
settings a sweep was started with are written into its Tune experiment folder, so that
`--resume` continues it exactly as it began, whatever the resuming command line says.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from cluster import paths
from cluster.resources import ResourceConfig
from cluster.study import Study
from rcml_core.data.synth import generate_catalog, synth_preset
from rcml_core.errors import ConfigError, RCMLError
from rcml_core.runtime.run_config import PRESETS

# Training budgets of the embedded default and of --smoke-test (on top of the preset; --data runs use the preset's).
EMBEDDED_SYNTH = "small"
EMBEDDED_BUDGET = ("epochs=2", "max_steps_per_epoch=40")  # 36 trials of the beta sweep in < 4 min on 2 cores
SMOKE_SYNTH = "tiny"
SMOKE_BUDGET = ("epochs=1", "batch_size=16", "max_steps_per_epoch=3")
SETTINGS_FILE = "rcml_sweep.json"


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

    def budget(self) -> list[str]:
        out = list(SMOKE_BUDGET if self.smoke_test else EMBEDDED_BUDGET if self.data is None else ())
        return out + ([f"epochs={self.epochs}"] if self.epochs is not None else [])

    @property
    def final_splits(self) -> tuple[str, ...]:
        """Splits each trial evaluates fully (all three tasks) at its end; the embedded budget skips it,
        the selected configuration is evaluated on test either way."""
        return () if self.embedded else ("val",)


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


def budget_epochs(overrides: list[str], preset: str) -> int:
    """Epochs per trial under these overrides (ASHA's horizon)."""
    from rcml_core.runtime.run_config import resolve_run_config

    return resolve_run_config(preset, overrides=[o for o in overrides if not o.startswith("data=")]).train.epochs


def write_settings(storage: str, sweep_name: str, settings: SweepSettings) -> None:
    fs, root = paths._listing(paths.experiment_path(storage, sweep_name))
    fs.create_dir(root, recursive=True)
    doc = {"data": settings.data, "preset": settings.preset, "seeds": list(settings.seeds),
           "overrides": list(settings.overrides), "smoke_test": settings.smoke_test, "epochs": settings.epochs}
    with fs.open_output_stream(f"{root}/{SETTINGS_FILE}") as out:
        out.write(json.dumps(doc, indent=2).encode())


def read_settings(storage: str, sweep_name: str) -> dict | None:
    fs, root = paths._listing(paths.experiment_path(storage, sweep_name))
    try:
        with fs.open_input_stream(f"{root}/{SETTINGS_FILE}") as src:
            return json.loads(src.read().decode())
    except (OSError, FileNotFoundError, ValueError):
        return None


def resolve_resume(study: Study, settings: SweepSettings, storage: str) -> tuple[str, SweepSettings]:
    """The sweep to continue and the settings it was started with (they win over the command line)."""
    found = paths.existing_sweeps(storage, study.name)
    if settings.resume == "latest":
        if not found:
            raise RCMLError(f"--resume: no {study.name} sweep to resume under {storage}")
        name = found[-1]
    elif settings.resume in found:
        name = settings.resume
    else:
        raise RCMLError(f"--resume: no sweep named {settings.resume!r} under {storage}; found {found or 'none'}")
    saved = read_settings(storage, name)
    if saved:
        settings = replace(settings, data=saved["data"], preset=saved["preset"], seeds=tuple(saved["seeds"]),
                           overrides=tuple(saved["overrides"]), smoke_test=saved["smoke_test"], epochs=saved["epochs"])
    return name, settings
