"""`rcml data synth`: writes a dataset that `rcml data check` accepts; user errors are one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from rcml_cli.main import main
from rcml_core.data.format.io import read_manifest

pytestmark = pytest.mark.slow  # builds datasets (about 1 s each)


def test_synth_writes_a_dataset_that_check_accepts(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "ds"
    assert main(["data", "synth", "--out", str(out), "--preset", "tiny", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "items: 150 (train 90, val 30, test 30)" in printed
    assert "relations: 10 inter" in printed and "r1 (" in printed
    assert "skipped records: none" in printed
    assert " s (seed 0, 150 items, 300 users)" in printed
    assert main(["data", "check", str(out)]) == 0
    assert "check: OK" in capsys.readouterr().out


def test_seed_items_and_users_flags_override_the_preset(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    argv = ["data", "synth", "--out", str(out), "--preset", "tiny", "--seed", "4", "--items", "120", "--users", "250"]
    assert main([*argv, "--no-progress"]) == 0
    params = read_manifest(out).source["params"]
    assert (params["seed"], params["n_items"], params["n_users"]) == (4, 120, 250)


def test_existing_folder_without_overwrite_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "ds"
    assert main(["data", "synth", "--out", str(out), "--preset", "tiny", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["data", "synth", "--out", str(out), "--preset", "tiny", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already exists" in err and "--overwrite" in err
    assert main(["data", "synth", "--out", str(out), "--preset", "tiny", "--overwrite", "--no-progress"]) == 0


def test_out_of_range_items_is_a_one_line_error_naming_the_field(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["data", "synth", "--out", str(tmp_path / "ds"), "--items", "5"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "rcml: error: synth.n_items must be an integer in [20, 1000000], got 5"
    assert not (tmp_path / "ds").exists()
