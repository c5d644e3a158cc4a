"""A home, a run folder, a dataset or an MLflow store on a real full (or read-only) file system.

The monkeypatched ENOSPC tests (tests/train/test_checkpoint_faults.py, tests/sweeps/test_storage_faults.py)
prove the error paths; these run the real commands on a file system that is really full, so every writer
(safetensors, torch.save, Parquet, SQLite, the probe) meets the kernel's own refusal.

Where the file system comes from, in order (`small_fs.mode` says which ran; `-rA` prints it):

- `tmpfs`: a 16 MiB tmpfs mounted by the test (root with CAP_SYS_ADMIN: this VM). A loop device is not
  tried as a fallback: mounting one needs the same capability.
- `rlimit`: without the capability (an unprivileged container), a size-limited folder is simulated by
  lowering RLIMIT_FSIZE while the command under test runs (in this process): the kernel refuses a write
  past the limit with EFBIG ("File too large") instead of ENOSPC, through the same system calls. A
  read-only mount cannot be simulated this way: that case skips, saying so (tests/sweeps/
  test_storage_faults.py covers it with a store under a regular file). `RCML_TEST_SMALL_FS=rlimit` runs
  this mode where tmpfs would mount.

"Full" leaves a little room (`fill(leave=...)`): the start-up probe of `rcml_core.writable` needs 4 KiB,
a checkpoint of the tiny model about 4 MiB (`best`'s weights 1 MiB, `last` with AdamW's moments 3 MiB).
"""

from __future__ import annotations

import errno
import json
import os
import resource
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from torch import nn

from rcml_cli.main import main as rcml
from rcml_core.data.format.images import image_array
from rcml_core.data.format.io import load_dataset
from rcml_core.runtime.checkpoint import load_checkpoint
from rcml_core.runtime.session import load_checkpoint_session
from sweeps import beta_sweep
from tests.data.tiny_catalog import build_tiny
from tests.sweeps.conftest import read_sweep

SIZE = 16 * 1024 * 1024


class SmallFs:
    """A small file system at `root`: `fill` it, `free` it again, or make it read-only."""

    def __init__(self, root: Path, mode: str) -> None:
        self.root, self.mode = root, mode
        self.filler = root / "filler.bin"
        self._limit: int | None = None  # rlimit mode: the file-size cap `full` applies

    @property
    def refusal(self) -> str:
        """What the kernel says when a write does not fit."""
        return os.strerror(errno.ENOSPC if self.mode == "tmpfs" else errno.EFBIG)

    def fill(self, leave: int = 0) -> None:
        """Leave about `leave` bytes free (tmpfs: page granularity)."""
        if self.mode == "tmpfs":
            self.free()
            st = os.statvfs(self.root)
            size = max(st.f_bavail * st.f_frsize - leave, 0)
            with open(self.filler, "wb") as f:
                f.write(b"\0" * size)  # tmpfs allocates on write: a sparse file would not fill it
            assert os.statvfs(self.root).f_bavail * os.statvfs(self.root).f_frsize <= leave + 4096
        else:
            self._limit = leave

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)
        self._limit = None

    @contextmanager
    def full(self) -> Iterator[None]:
        """Run the block under the fill (rlimit mode: with RLIMIT_FSIZE lowered for this process)."""
        if self._limit is None:
            yield
            return
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (self._limit, hard))  # Python ignores SIGXFSZ: writes get EFBIG
        try:
            yield
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))

    def make_read_only(self) -> None:
        if self.mode != "tmpfs":
            pytest.skip(f"{self.mode} mode: a read-only mount cannot be simulated without CAP_SYS_ADMIN")
        subprocess.run(["mount", "-o", "remount,ro", str(self.root)], check=True, capture_output=True)


def _mount_tmpfs(root: Path) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0755", "tmpfs", str(root)],
                          capture_output=True, text=True)
    return done.returncode == 0


@pytest.fixture()
def small_fs(tmp_path: Path) -> Iterator[SmallFs]:
    root = tmp_path / "small-fs"
    root.mkdir()
    mounted = os.environ.get("RCML_TEST_SMALL_FS") != "rlimit" and _mount_tmpfs(root)  # rlimit: try the fallback
    fs = SmallFs(root, "tmpfs" if mounted else "rlimit")
    print(f"small file system: {fs.mode} at {root}")
    try:
        yield fs
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(root)], check=True, capture_output=True)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built tiny catalog (60 items) on the ordinary disk, its decoded-image cache (32 px) built: only the run
    folder goes on the small one (RLIMIT_FSIZE caps every file the process writes, wherever it is)."""
    root = tmp_path_factory.mktemp("tiny-catalog")
    build_tiny(root / "data", root / "raw-images")
    image_array(load_dataset(root / "data"), 32, progress=False)
    return root / "data"


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and "Traceback" not in "\n".join(err), err
    return err[-1]


TRAIN = ["--preset", "tiny", "seed=1", "batch_size=16", "max_steps_per_epoch=2"]


def test_train_into_a_full_filesystem_stops_at_start_naming_out_dir(small_fs: SmallFs, tiny_data: Path,
                                                                     capsys) -> None:
    out = small_fs.root / "run"
    small_fs.fill(leave=0)
    with small_fs.full():
        assert rcml(["train", "--data", str(tiny_data), *TRAIN, "epochs=1", f"out_dir={out}"]) == 2
    line = _one_error_line(capsys)
    assert line.startswith(f"rcml: error: out_dir {out}: cannot write there ({small_fs.refusal})"), line
    assert "rcml train: method" not in capsys.readouterr().out  # refused before the data and the model


@pytest.mark.parametrize("leave", [8 * 1024, 20 * 1024])
def test_train_that_runs_out_of_space_before_its_first_checkpoint_names_the_run_folder(
        small_fs: SmallFs, tiny_data: Path, capsys, leave: int) -> None:
    # Room for the start-up probe, not for the run's backbone files (8 KiB: the tokenizer's own writer, which
    # raises a bare Exception "(os error 28)") or its logs (20 KiB: an OSError without a file name).
    out = small_fs.root / "run"
    small_fs.fill(leave=leave)
    with small_fs.full():
        assert rcml(["train", "--data", str(tiny_data), *TRAIN, "epochs=1", f"out_dir={out}"]) == 2
    line = _one_error_line(capsys)
    if small_fs.mode == "tmpfs":
        assert line == f"rcml: error: cannot write run folder {out}: {small_fs.refusal}", line
    else:  # a per-file cap: the first file over it may be a checkpoint's
        assert line.startswith(f"rcml: error: cannot write ") and str(out) in line and small_fs.refusal in line, line
    assert not (out / "checkpoints" / "last").exists()


def test_a_checkpoint_that_does_not_fit_fails_naming_it_and_the_previous_one_still_loads(
        small_fs: SmallFs, tiny_data: Path, capsys) -> None:
    out = small_fs.root / "run"
    assert rcml(["train", "--data", str(tiny_data), *TRAIN, "epochs=1", f"out_dir={out}"]) == 0
    capsys.readouterr()
    last = out / "checkpoints" / "last"
    weights = (last / "model.safetensors").stat().st_size
    small_fs.fill(leave=256 * 1024)  # the probe and the logs fit, the next checkpoint (~1 MiB of weights) does not
    assert weights > 256 * 1024
    with small_fs.full():
        assert rcml(["train", "--data", str(tiny_data), *TRAIN, "epochs=2", f"out_dir={out}"]) == 2
    line = _one_error_line(capsys)
    assert line.startswith(f"rcml: error: cannot write checkpoint {out / 'checkpoints'}/"), line
    assert line.endswith(f"{small_fs.refusal}; the previous checkpoint is kept"), line
    assert sorted(p.name for p in last.parent.iterdir()) == ["best", "last"]  # no half-written folder left

    assert load_checkpoint(last, _model_of(last)).epoch == 1  # weights, optimiser and state of epoch 1
    _model_of(last.parent / "best")

    small_fs.free()  # space again: the same command resumes from epoch 1 and finishes
    assert rcml(["train", "--data", str(tiny_data), *TRAIN, "epochs=2", f"out_dir={out}"]) == 0
    assert len(json.loads((out / "metrics.json").read_text())["epochs"]) == 3  # epochs 0, 1 (kept) and 2
    assert load_checkpoint(last, _model_of(last)).epoch == 2


def _model_of(checkpoint: Path) -> nn.Module:
    """The run's model rebuilt from the checkpoint's config (its weights loaded: they must load)."""
    return load_checkpoint_session(checkpoint, device="cpu").model


def test_a_dataset_that_does_not_fit_is_one_line_and_leaves_nothing_that_loads(small_fs: SmallFs, capsys) -> None:
    out = small_fs.root / "data"
    small_fs.fill(leave=8 * 1024)  # the 4 KiB start-up probe fits, the images and tables do not
    with small_fs.full():
        assert rcml(["data", "synth", "--out", str(out), "--preset", "tiny", "--no-progress"]) == 2
    line = _one_error_line(capsys)
    assert line.startswith(f"rcml: error: cannot write dataset {out} (") and small_fs.refusal in line, line
    assert line.endswith("nothing was published"), line
    assert sorted(p.name for p in small_fs.root.iterdir()) == (["filler.bin"] if small_fs.mode == "tmpfs" else [])


def test_a_sweep_home_on_a_full_filesystem_is_refused_at_start(small_fs: SmallFs, capsys) -> None:
    home = small_fs.root / "home"
    small_fs.fill(leave=0)
    with small_fs.full():
        assert beta_sweep.main(["--smoke-test", "--home", str(home)]) == 2
    line = _one_error_line(capsys)
    assert line.startswith(f"beta_sweep: error: --home {home}: cannot write there ({small_fs.refusal})"), line


def test_a_read_only_mlflow_store_is_refused_at_start_naming_it(small_fs: SmallFs, tmp_path: Path, capsys,
                                                                monkeypatch) -> None:
    store = small_fs.root / "mlflow"
    store.mkdir()
    (store / "mlflow.db").write_bytes(b"")
    small_fs.make_read_only()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store / 'mlflow.db'}")
    assert beta_sweep.main(["--smoke-test", "--home", str(tmp_path / "home")]) == 2
    line = _one_error_line(capsys)
    assert line.startswith(f"beta_sweep: error: the folder of the MLflow store {store}: cannot write there "
                           f"({os.strerror(errno.EROFS)})"), line


def test_a_full_sweep_storage_met_by_the_epoch_hook_is_named_as_the_hook_not_the_run_folder(
        small_fs: SmallFs, tiny_data: Path, tmp_path: Path) -> None:
    # What a sweep's trial does at every epoch: the hook uploads the checkpoint to the sweep's storage (here a
    # copy onto the full file system), while the run folder itself has room (on the ordinary disk).
    from rcml_core.runtime.run_config import resolve_run_config
    from rcml_core.train.loop import train
    from rcml_core.writable import StorageError

    storage = small_fs.root / "storage"

    def upload(epoch: int, metrics: dict, checkpoint: Path | None) -> None:
        target = storage / f"epoch-{epoch}"
        target.mkdir(parents=True)
        with small_fs.full():  # file by file, as pyarrow's copy_files does it for Tune
            for path in sorted(p for p in checkpoint.rglob("*") if p.is_file()):
                (target / path.relative_to(checkpoint)).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target / path.relative_to(checkpoint))

    small_fs.fill(leave=64 * 1024)
    config = resolve_run_config("tiny", overrides=[f"data={tiny_data}", f"out_dir={tmp_path / 'run'}", "epochs=1",
                                                   "batch_size=16", "max_steps_per_epoch=2", "device=cpu"])
    with pytest.raises(StorageError) as info:
        train(config, on_epoch_end=upload)
    assert str(info.value) == (f"cannot write epoch 0's report (the on_epoch_end hook: in a sweep, the checkpoint "
                               f"upload to its storage): {small_fs.refusal}")
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last", _model_of(tmp_path / "run" / "checkpoints" /
                                                                                 "last")).epoch == 0


@pytest.mark.slow
def test_a_sweep_storage_that_fills_mid_sweep_stops_the_sweep_with_one_line_and_resume_finishes_it(
        small_fs: SmallFs, tmp_path: Path, capsys) -> None:
    """Tried by hand first: with `--storage` on a small disk the trials after the disk filled each failed, Tune
    retried its syncs every 10 s and the driver died in Tune's read-back of a truncated trial error. Now the first
    trial a disk refuses stops the sweep (as Ctrl+C would) with one line naming the refusal and what to do."""
    if small_fs.mode != "tmpfs":
        pytest.skip("RLIMIT_FSIZE binds this process only; the trials write --storage from Ray's worker processes")
    home, storage = tmp_path / "home", small_fs.root / "ray_results"
    small_fs.fill(leave=6 * 1024 * 1024)  # room for a trial's checkpoints (about 4 MiB), not for all twelve
    argv = ["--smoke-test", "--no-baselines", "--no-register", "--home", str(home), "--storage", str(storage),
            "--name", "beta_sweep-full"]
    assert beta_sweep.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "a disk refused a trial's write, so the sweep stopped" in err[-1], err[-3:]
    assert "No space left on device" in err[-1] and "--resume beta_sweep-full" in err[-1]

    # Whether the disk cut Tune's own state files short depends on when it filled (CI on stop 24: the grid
    # searcher's, and Tune then started the sweep anew on --resume): cut them as the full disk would
    saved = [f for f in (storage / "beta_sweep-full").iterdir() if f.name.startswith(("experiment_state-",
                                                                                    "basic-variant-state-"))]
    assert len(saved) == 2, saved
    for state in saved:
        with open(state, "r+b") as fh:
            fh.truncate(state.stat().st_size // 2)
    small_fs.free()  # and the disk grown to hold every trial's checkpoints (12 x about 4 MiB)
    subprocess.run(["mount", "-o", "remount,size=128m", str(small_fs.root)], check=True, capture_output=True)
    assert beta_sweep.main([*argv[:-2], "--resume", "beta_sweep-full"]) == 0
    assert "selected" in capsys.readouterr().out
    record = read_sweep(home, "beta_sweep")
    assert len(record.children) == 12  # one run per trial, the ones the full disk failed included, now FINISHED
    assert {r.info.status for r in record.children} == {"FINISHED"}
