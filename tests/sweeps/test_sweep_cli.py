"""The sweep scripts' command line: user errors are one line, before Ray or MLflow start."""

from __future__ import annotations

import importlib
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cluster import paths
from sweeps import ablation_sweep, beta_sweep, hparam_search


def _ray_started() -> bool:
    import ray

    return ray.is_initialized()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["tau=-1"], "loss.tau"),
        (["--seeds", "0", "0"], "--seeds must be distinct"),
        (["--preset", "huge"], "--preset must be one of"),
        (["no_such_key=1"], "no_such_key"),
        (["--resume"], "no beta_sweep sweep to resume"),
        (["--data", "/nonexistent/dataset"], "not a dataset folder"),
    ],
)
def test_bad_arguments_are_one_line_errors_before_ray_starts(argv, message, tmp_path: Path, capsys) -> None:
    assert beta_sweep.main([*argv, "--home", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not _ray_started()


def test_an_unreachable_tracking_server_fails_at_start(tmp_path: Path, capsys, monkeypatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    assert ablation_sweep.main(["--smoke-test", "--home", str(tmp_path)]) == 2
    assert f"cannot reach the MLflow tracking server http://127.0.0.1:{port}" in capsys.readouterr().err
    assert not _ray_started()


def test_hparam_search_rejects_a_grid_style_seed_list_with_a_clear_message(tmp_path: Path, capsys) -> None:
    assert hparam_search.main(["--smoke-test", "--home", str(tmp_path), "lambda_intra=-1"]) == 2
    assert "loss.lambda_intra" in capsys.readouterr().err


def test_outputs_of_a_job_run_from_rays_working_dir_copy_go_to_a_stable_home(tmp_path: Path) -> None:
    copy = Path("/tmp/ray/session_x/runtime_resources/working_dir_files/_ray_pkg_abc/cluster")
    assert paths.in_ray_working_dir_copy(copy)
    assert not paths.in_ray_working_dir_copy(paths.PROJECT_ROOT)
    assert paths.default_home({"RCML_HOME": str(tmp_path)}) == tmp_path.resolve()
    assert paths.default_home({}) == paths.PROJECT_ROOT


def test_sweep_names_sort_by_start_time_and_resume_finds_them(tmp_path: Path) -> None:
    assert paths.new_sweep_name("beta_sweep", now=0).startswith("beta_sweep-19")
    for name in ("beta_sweep-20260101-000000", "beta_sweep-20260102-000000", "ablation_sweep-20260103-000000"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "experiment_state-2026.json").write_text("{}")
    (tmp_path / "beta_sweep-20260104-000000").mkdir()  # no Tune state: not resumable
    assert paths.existing_sweeps(str(tmp_path), "beta_sweep") == ["beta_sweep-20260101-000000",
                                                                  "beta_sweep-20260102-000000"]


def test_the_num_workers_help_says_what_docs_architecture_says_batch_size_means() -> None:
    from sweeps.cli import build_parser

    doc = (Path(__file__).resolve().parents[2] / "docs" / "architecture.md").read_text()
    sentence = next(line for line in doc.splitlines() if line.startswith("`batch_size` is the global batch"))
    action = next(a for a in build_parser("")._actions if "--num-workers" in a.option_strings)
    assert sentence.replace("`", "").rstrip(".") in " ".join(action.help.split())


@pytest.mark.parametrize("script", ["beta_sweep", "ablation_sweep", "hparam_search"])
def test_a_script_runs_the_same_as_a_file_and_as_a_module(script: str, tmp_path: Path) -> None:
    # No sys.path edits in the scripts: the installed project (pip install -e .; Ray's --working-dir puts its copy
    # on PYTHONPATH) makes `python sweeps/x.py` from any folder and `python -m sweeps.x` import the same code.
    root = Path(__file__).resolve().parents[2]
    module = importlib.import_module(f"sweeps.{script}")
    as_file = subprocess.run([sys.executable, str(root / "sweeps" / f"{script}.py"), "--help"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
    as_module = subprocess.run([sys.executable, "-m", f"sweeps.{script}", "--help"], cwd=root, capture_output=True,
                               text=True, timeout=120)
    assert as_file.returncode == as_module.returncode == 0, as_file.stderr[-2000:] + as_module.stderr[-2000:]
    assert as_file.stdout == as_module.stdout
    assert " ".join(module.__doc__.split()[:8]) in " ".join(as_file.stdout.split())
    assert ("--num-samples" in as_file.stdout) == (script == "hparam_search")  # the script's own flags


def test_resume_takes_the_sweeps_own_resources_budget_and_sample_count_not_the_resuming_flags(tmp_path: Path) -> None:
    """A resumed sweep is the sweep that was started: resumed without `--num-workers 2` its trials still train
    on a worker group of two (not from epoch 0 in an actor), resumed without `--smoke-test` a smoke search
    still asks for its own few samples (not the full study's)."""
    from dataclasses import replace
    from types import SimpleNamespace

    from cluster.resources import ResourceConfig
    from cluster.sweep_settings import SweepSettings, resolve_resume, write_settings
    from cluster.study import Study

    name = "hparam_search-20260101-000000"
    (tmp_path / name).mkdir()
    (tmp_path / name / "experiment_state-2026.json").write_text("{}")
    started = SweepSettings(seeds=(0,), smoke_test=True, resources=ResourceConfig(num_workers=2, in_trial=False))
    study = Study(name="hparam_search", search=lambda trial: {"beta": 0.5}, num_samples=4)
    write_settings(SimpleNamespace(storage=str(tmp_path), sweep_name=name, settings=started, study=study))

    resumed_study, resumed = resolve_resume(replace(study, num_samples=24), SweepSettings(resume="latest"),
                                            str(tmp_path))
    assert resumed.resume == name and resumed.smoke_test and resumed.seeds == (0,)
    assert resumed.resources == started.resources
    assert resumed_study.num_samples == 4
