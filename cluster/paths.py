"""Where a sweep keeps its files, and how sweeps are named and found again for `--resume`.

The home folder (default: the project folder) holds, for the embedded default:

    data/synth-<size>-seed<k>/   the generated synthetic catalog (built once, reused)
    mlflow.db, mlartifacts/      the local MLflow store (unless MLFLOW_TRACKING_URI is set)
    optuna.db                    Optuna studies of search sweeps (optuna-dashboard reads it)
    ray_results/<sweep>/         Ray Tune's experiment and Ray Train's runs (--storage moves it)
    runs/<sweep>/<trial id>/     each trial's local run folder (the loop's out_dir)
    reports/<sweep>/             figures and tables of the sweep

When the scripts run from the copy Ray makes of an uploaded working directory
(`ray job submit --working-dir .`), the project folder is temporary: home then defaults to
`$RCML_HOME` or `~/rcml-sweeps`, so that nothing of value lands in Ray's copy.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyarrow.fs

from cluster import ray_compat

PROJECT_ROOT = Path(__file__).resolve().parents[1]
HOME_ENV = "RCML_HOME"


def in_ray_working_dir_copy(path: Path) -> bool:
    parts = path.resolve().parts
    return "runtime_resources" in parts or any(p.startswith("working_dir_files") for p in parts)


def default_home(env: dict[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get(HOME_ENV):
        return Path(env[HOME_ENV]).expanduser().resolve()
    if in_ray_working_dir_copy(PROJECT_ROOT):
        return (Path.home() / "rcml-sweeps").resolve()
    return PROJECT_ROOT


def new_sweep_name(study: str, now: float | None = None) -> str:
    """`<study>-YYYYmmdd-HHMMSS`: unique per start, sortable, stable across resumes."""
    return f"{study}-{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}"


def storage_root(storage: str) -> tuple[pyarrow.fs.FileSystem, str]:
    """The file system under `storage` (a local folder or a URI) and the path of `storage` on it."""
    if "://" in storage:
        return pyarrow.fs.FileSystem.from_uri(storage)
    return pyarrow.fs.LocalFileSystem(), str(Path(storage).resolve())


def experiment_path(storage: str, sweep_name: str) -> str:
    return f"{storage.rstrip('/')}/{sweep_name}"


def existing_sweeps(storage: str, study: str) -> list[str]:
    """Names of the study's sweeps under `storage` that Tune can restore, oldest first."""
    fs, root = storage_root(storage)
    try:
        infos = fs.get_file_info(pyarrow.fs.FileSelector(root, allow_not_found=True))
    except (OSError, FileNotFoundError):
        return []
    names = []
    for info in infos:
        name = info.base_name
        if info.type != pyarrow.fs.FileType.Directory or not name.startswith(f"{study}-"):
            continue
        state = fs.get_file_info(pyarrow.fs.FileSelector(f"{root}/{name}", allow_not_found=True))
        if ray_compat.is_tune_experiment(s.base_name for s in state):
            names.append(name)
    return sorted(names)
