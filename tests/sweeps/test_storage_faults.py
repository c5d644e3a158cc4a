"""An unwritable home or --storage, a read-only MLflow store, a full disk: one line naming the path, at start.

Each case runs the beta sweep's real `main` and must stop before Ray, the data or MLflow are touched. Tests
may run as root, for whom permission bits deny nothing: the unwritable folders are made by putting them
under a regular file (no one can create a folder there), and the chmod cases skip, saying so, where the
chmod does not take effect.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from rcml_core import writable
from rcml_core.writable import StorageError, require_writable
from sweeps import beta_sweep
from tracking.store import TrackingUnavailable, check_reachable, resolve_tracking


def _sweep_error(capsys, *args: str) -> str:
    assert beta_sweep.main(["--smoke-test", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and "Traceback" not in "\n".join(err)
    return err[-1]


@pytest.fixture()
def blocker(tmp_path: Path) -> Path:
    """A regular file: nothing can be created below it, whoever asks."""
    path = tmp_path / "a-file"
    path.write_text("not a folder")
    return path


def test_an_unwritable_home_is_a_one_line_error_naming_it(capsys, blocker: Path) -> None:
    line = _sweep_error(capsys, "--home", str(blocker / "home"))
    assert line.startswith("beta_sweep: error: --home ") and str(blocker / "home") in line
    assert f"cannot write there ({blocker} is a file, not a folder)" in line


def test_an_unwritable_storage_is_a_one_line_error_naming_it(capsys, tmp_path: Path, blocker: Path) -> None:
    line = _sweep_error(capsys, "--home", str(tmp_path / "home"), "--storage", str(blocker / "ray_results"))
    assert line.startswith("beta_sweep: error: --storage ") and str(blocker / "ray_results") in line
    assert not (tmp_path / "home" / "mlflow.db").exists()  # stopped before MLflow


def test_a_read_only_home_is_refused_where_permissions_apply(capsys, tmp_path: Path) -> None:
    home = tmp_path / "ro-home"
    home.mkdir()
    home.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(home, os.W_OK):
            pytest.skip("chmod does not deny writes to this user (root): covered by the regular-file cases")
        line = _sweep_error(capsys, "--home", str(home))
        assert f"--home {home}: cannot write there (Permission denied)" in line
    finally:
        home.chmod(stat.S_IRWXU)


def test_an_mlflow_store_that_cannot_be_written_is_a_one_line_error_naming_it(capsys, tmp_path: Path,
                                                                              blocker: Path, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{blocker}/mlflow.db")
    line = _sweep_error(capsys, "--home", str(tmp_path / "home"))
    assert line.startswith("beta_sweep: error: the folder of the MLflow store ") and str(blocker) in line


def test_a_read_only_mlflow_database_is_refused_where_permissions_apply(tmp_path: Path) -> None:
    target = resolve_tracking(tmp_path, env={})
    check_reachable(target)
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"")
    db.chmod(stat.S_IRUSR)
    try:
        if os.access(db, os.W_OK):
            pytest.skip("chmod does not deny writes to this user (root)")
        with pytest.raises(TrackingUnavailable, match=rf"^the MLflow store {db} is not writable"):
            check_reachable(target)
    finally:
        db.chmod(stat.S_IRUSR | stat.S_IWUSR)


def test_a_full_disk_is_an_error_naming_the_folder(capsys, tmp_path: Path, monkeypatch) -> None:
    real_write = os.write

    def full(fd: int, data: bytes) -> int:  # a file system with inodes left but no free block
        if len(data) >= writable.PROBE_BYTES:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(writable.os, "write", full)
    with pytest.raises(StorageError, match=rf"^run folder {tmp_path}: cannot write there \(No space left on device\)"):
        require_writable(tmp_path, "run folder")
    assert list(tmp_path.iterdir()) == []  # the probe is removed
    line = _sweep_error(capsys, "--home", str(tmp_path / "home"))
    assert f"--home {tmp_path / 'home'}: cannot write there (No space left on device)" in line
