"""ray_cluster.yaml does what a first AWS run needs: its documented command asks for GPUs, the dataset
mount is writable by the ssh user, GPU workers can reach S3, and jobs see the MLflow server."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from cluster.connect import ClusterInfo
from cluster.resources import ResourceConfig, plan_trials
from sweeps.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
TEXT = (ROOT / "ray_cluster.yaml").read_text()
CONFIG = yaml.safe_load(TEXT)


def _header_submit_command() -> list[str]:
    """The `ray job submit ... -- python ...` command of the header comment, continuation lines joined."""
    header = [line[1:].strip() for line in TEXT.splitlines() if line.startswith("#")]
    start = next(i for i, line in enumerate(header) if "ray job submit" in line)
    joined = ""
    for line in header[start:]:
        joined += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            break
    words = shlex.split(joined)
    return words[words.index("--") + 1:]


def test_the_documented_submit_command_asks_for_gpu_workers_and_gets_a_gpu_plan() -> None:
    command = _header_submit_command()
    assert command[:2] == ["python", "sweeps/beta_sweep.py"]
    args = build_parser("x").parse_args(command[2:])
    assert args.use_gpu is True
    head = ClusterInfo(address="10.0.0.1:6379", started_local=False, cpus=8, gpus=0, nodes=1, dashboard_url=None)
    plan = plan_trials(ResourceConfig(use_gpu=args.use_gpu), head)  # the head alone: no GPU node yet
    assert plan.use_gpu and plan.trial_resources == {"cpu": 4.0, "gpu": 1.0}
    worker = CONFIG["available_node_types"]["gpu_worker"]["resources"]
    assert plan.trial_resources["cpu"] <= worker["CPU"] and plan.trial_resources["gpu"] <= worker["GPU"]


def test_file_mounts_land_in_the_ssh_users_home_and_the_command_reads_the_data_there() -> None:
    home = f"/home/{CONFIG['auth']['ssh_user']}/"
    assert all(target.startswith(home) for target in CONFIG["file_mounts"]), CONFIG["file_mounts"]
    data = build_parser("x").parse_args(_header_submit_command()[2:]).data
    assert any(data.startswith(target.rstrip("/") + "/") for target in CONFIG["file_mounts"]), data


def test_gpu_workers_get_an_instance_profile_for_s3_storage() -> None:
    for name, node in CONFIG["available_node_types"].items():
        if node["resources"].get("GPU", 0) > 0:
            assert "IamInstanceProfile" in node["node_config"], name
    assert "--storage s3://" in " ".join(_header_submit_command())
    assert "iam:PassRole" in TEXT  # the head's role may hand the profile to the workers it launches


def test_jobs_inherit_the_mlflow_tracking_uri_from_ray_start_on_the_first_boot() -> None:
    commands = CONFIG["head_start_ray_commands"]
    start = next(i for i, c in enumerate(commands) if re.search(r"\bray start\b", c))
    assert re.search(r"export MLFLOW_TRACKING_URI=http://127\.0\.0\.1:5000;.*\bray start\b", commands[start])
    server = next(i for i, c in enumerate(commands) if "mlflow server" in c)
    assert server < start and "--port 5000" in commands[server]
