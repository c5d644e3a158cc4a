"""Every workaround for how this Ray version behaves, in one place: the environment variables Ray reads, its
private modules and Tune's file names are named here only. tests/cluster/test_ray_compat.py is pinned to
RAY_VERSION: an upgrade fails it until each workaround is checked again.

- Loopback (`bind_loopback`, before `import ray`): with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 node addresses
  stay 127.0.0.1 and every server binds there; Ray reads it at import.
- A local instance (`local_instance_options`) has no node to be preempted: no preemption watcher (one more
  actor per trial), and a faster health check, so a trial's end is seen sooner (the 6-trial smoke beta sweep
  on the 2-core machine: 172 s -> 142 s). Ray Train's clean-up actors get the State API's address, since
  without it they look for "the" Ray instance of the machine and fail when several run.
- `quiet_tune`: no Tune tables (the sweep prints its own progress), and no warning each time two in-actor
  trials checkpoint within 5 s (Tune then saves its small experiment state: the intended trade).
- `quiet_ray_train_logs`: Ray Train logs every report and checkpoint at INFO, by loggers that escape
  `ray.train.LoggingConfig` (one is named after its file's path).
- `is_tune_experiment`: the file Tune writes as trials progress, which `--resume` looks for.
- A full disk cuts Tune's files short: `drop_truncated_trial_errors` and `restore_cut_short_state` mend them before
  `Tuner.restore`, which would otherwise die, or log "Failed to restore the run state" and start the sweep anew.
"""

from __future__ import annotations

import io
import json
import logging
import os
import pickletools
from collections.abc import Iterable
from pathlib import Path

from rcml_core.writable import StorageError

RAY_VERSION = "2.60.0"  # the version every workaround here was checked against

LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # read by Ray at import
LOCAL_TRAIN_ENV = {"RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0", "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.5"}
API_SERVER_ENV = "RAY_API_SERVER_ADDRESS"  # where Ray Train's clean-up actors find the State API
TUNE_ENV = {"RAY_AIR_NEW_OUTPUT": "0", "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0"}
# Loggers of Ray Train's workers and of Tune's function session (every checkpoint; "runs in local mode" for
# every in-actor trial); the first one's file path is added by `quiet_ray_train_logs`.
QUIET_LOGGERS = ("ray.train.v2._internal.execution.context", "ray.train.v2._internal.execution.storage",
                 "ray.train._internal.storage", "ray.train.v2.api.config")
TRIAL_ERROR_PICKLE = "error.pkl"  # a failed trial's pickled error (ray.air.constants.EXPR_ERROR_PICKLE_FILE)
EXPERIMENT_STATE_PREFIX = "experiment_state"  # Tune's experiment_state-<time>.json, written as trials progress


def bind_loopback() -> bool:
    """Keep this process's Ray on 127.0.0.1; False when too late (Ray is imported already, bound otherwise)."""
    import sys

    if "ray" in sys.modules and os.environ.get(LOOPBACK_ENV) != "0":
        return False
    os.environ.setdefault(LOOPBACK_ENV, "0")
    return True


def local_instance_options(dashboard_port: int) -> dict:
    """`ray.init` keyword arguments for a local instance; sets the variables its processes inherit."""
    for key, value in LOCAL_TRAIN_ENV.items():
        os.environ.setdefault(key, value)
    return {"include_dashboard": True, "dashboard_host": "127.0.0.1", "dashboard_port": dashboard_port,
            "runtime_env": {"env_vars": {API_SERVER_ENV: f"http://127.0.0.1:{dashboard_port}"}}}


def quiet_tune() -> None:
    """Before `Tuner.fit`: no Tune progress tables, no warning about frequent experiment checkpoints."""
    for key, value in TUNE_ENV.items():
        os.environ.setdefault(key, value)


def quiet_ray_train_logs() -> None:
    """In a trial or Ray Train worker: Ray Train's per-report INFO logs to WARNING."""
    import ray.train.v2._internal.execution.context as train_context

    for name in (*QUIET_LOGGERS, train_context.__file__):
        logging.getLogger(name).setLevel(logging.WARNING)


def is_tune_experiment(file_names: Iterable[str]) -> bool:
    """Whether a folder with these files holds a Tune experiment that can be restored."""
    return any(name.startswith(EXPERIMENT_STATE_PREFIX) for name in file_names)


def drop_truncated_trial_errors(experiment_path: str, filesystem) -> int:
    """Delete each failed trial's pickled error that no longer unpickles (cut short by a full disk), which
    `Tuner.restore` would otherwise die reading (EOFError in Trial.get_pickled_error); the trial's text error
    stays. Returns how many were dropped."""
    import cloudpickle
    import pyarrow.fs

    dropped = 0
    for info in filesystem.get_file_info(pyarrow.fs.FileSelector(experiment_path, recursive=True)):
        if info.base_name != TRIAL_ERROR_PICKLE or info.type != pyarrow.fs.FileType.File:
            continue
        try:
            with filesystem.open_input_stream(info.path) as src:
                cloudpickle.loads(src.readall())
        except Exception:  # noqa: BLE001 - truncated, empty or otherwise unreadable: Tune cannot read it either
            filesystem.delete_file(info.path)
            dropped += 1
    return dropped


def _intact(data: bytes) -> bool:
    """Whether a Tune state file's bytes are whole: JSON that parses, or a pickle that reaches its STOP opcode
    (Tune pickles some `.json` files; checked without unpickling, so without importing what it names)."""
    try:
        json.loads(data)
        return True
    except ValueError:
        pass
    try:
        for _ in pickletools.genops(io.BytesIO(data)):
            pass
    except ValueError:  # "pickle exhausted before seeing STOP", or bytes that are no pickle at all
        return False
    return True


def _ray_temp_root() -> Path:
    """The folder holding this Ray instance's session folders (and the stopped drivers' before it)."""
    from ray.train.constants import _get_ray_train_session_dir

    return Path(_get_ray_train_session_dir()).parent.parent  # <temp>/session_<id>/artifacts


def restore_cut_short_state(experiment_path: str, filesystem, temp_root: Path | None = None) -> list[str]:
    """Replace each of Tune's state files at the experiment's top (experiment_state-*.json, the searcher's state,
    tuner.pkl) that a full disk cut short by the whole copy its driver staged before the upload failed
    (`<Ray temp>/session_*/artifacts/*/<experiment>/driver_artifacts/`, `temp_root` by default this Ray's).
    Returns the names replaced; StorageError naming the file when one has no whole copy left."""
    import pyarrow.fs

    experiment = experiment_path.rstrip("/").rsplit("/", 1)[-1]
    replaced = []
    for info in filesystem.get_file_info(pyarrow.fs.FileSelector(experiment_path)):
        if info.type != pyarrow.fs.FileType.File or not info.base_name.endswith((".json", ".pkl")):
            continue
        with filesystem.open_input_stream(info.path) as src:
            if _intact(src.readall()):
                continue
        root = temp_root or _ray_temp_root()
        staged = sorted(root.glob(f"session_*/artifacts/*/{experiment}/driver_artifacts/{info.base_name}"),
                        key=lambda p: p.stat().st_mtime, reverse=True)
        whole = next((data for data in map(Path.read_bytes, staged) if _intact(data)), None)
        if whole is None:
            raise StorageError(f"{info.path}: Tune's saved state was cut short (a full disk?) and its driver's "
                               f"copy under {root} is gone, so the sweep cannot resume; run it again under a new "
                               "--name")
        with filesystem.open_output_stream(info.path) as dst:
            dst.write(whole)
        replaced.append(info.base_name)
    return replaced


def _resumable_optuna_search() -> type:
    from ray.tune.search.optuna import OptunaSearch

    class ResumableOptunaSearch(OptunaSearch):
        """OptunaSearch that treats a result for an Optuna trial already finished in its storage as Tune's own
        "already finished" case. A driver killed after Optuna was told a trial ended, but before Tune saved that,
        restarts the trial on --resume and it reports its last result again; stock 2.60 then raises
        UpdateFinishedTrialError from inside Tune's loop and the resumed sweep dies."""

        def on_trial_result(self, trial_id: str, result: dict) -> None:
            ot_trial = self._ot_trials.get(trial_id)
            if ot_trial is not None and self._ot_study._storage.get_trial(ot_trial._trial_id).state.is_finished():
                self._completed_trials.add(trial_id)  # OptunaSearch then logs the extra result and ignores it
            super().on_trial_result(trial_id, result)

    ResumableOptunaSearch.__module__, ResumableOptunaSearch.__qualname__ = __name__, "ResumableOptunaSearch"
    return ResumableOptunaSearch


def __getattr__(name: str):
    """`ResumableOptunaSearch`, built on first use (so that importing this module imports no Optuna) and
    picklable by name, as Tune's saved searcher must be."""
    if name == "ResumableOptunaSearch":
        globals()[name] = cls = _resumable_optuna_search()
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
