"""Every server the project starts, or tells the user to start, listens on 127.0.0.1 unless told otherwise.

The servers: the local Ray instance of a sweep (cluster.connect: GCS, raylet, dashboard, workers), the MLflow
UI command a sweep prints, the Optuna dashboard command, and the commands of the cluster configs (the MLflow
server and the Ray dashboard on the AWS head, the one-machine autoscaling cluster). The fast tests read the
arguments the code builds; the slow one starts a local instance the way a sweep does and lists the sockets
its processes listen on.
"""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cluster import connect as connect_module
from tracking.optuna_report import dashboard_command
from tests.sweeps.ray_head import descendants
from tracking.store import resolve_tracking

ROOT = Path(__file__).resolve().parents[2]


class _Stop(Exception):
    pass


def test_a_local_ray_instance_is_asked_for_loopback_only(monkeypatch) -> None:
    import ray

    seen: dict = {}

    def fake_init(**kwargs):
        seen.update(kwargs)
        raise _Stop  # nothing is started

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", fake_init)
    with pytest.raises(_Stop):
        connect_module.connect(None, num_cpus=1)
    assert seen["address"] == "local" and seen["dashboard_host"] == "127.0.0.1"
    assert seen["runtime_env"]["env_vars"]["RAY_API_SERVER_ADDRESS"].startswith("http://127.0.0.1:")


def test_prefer_loopback_keeps_a_local_instance_on_127_0_0_1_before_ray_is_imported() -> None:
    code = ("import os, sys; from cluster.connect import prefer_loopback; prefer_loopback(None); "
            "print(os.environ.get('RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER'), 'ray' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_ADDRESS")}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["0", "False"], out.stderr


def test_the_printed_ui_commands_bind_loopback(tmp_path: Path) -> None:
    sqlite = resolve_tracking(tmp_path, env={}).ui_command()
    other = resolve_tracking(tmp_path, env={"MLFLOW_TRACKING_URI": "postgresql://db/mlflow"}).ui_command()
    for command in (sqlite, other, dashboard_command(tmp_path)):
        assert re.search(r"--host 127\.0\.0\.1\b", command), command
        assert "0.0.0.0" not in command


def _commands(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [c for v in value for c in _commands(v)]
    if isinstance(value, dict):
        return [c for v in value.values() for c in _commands(v)]
    return []


def test_the_aws_head_binds_the_mlflow_server_and_ray_dashboard_to_loopback() -> None:
    config = yaml.safe_load((ROOT / "ray_cluster.yaml").read_text())
    commands = _commands(config)
    servers = [c for c in commands if re.search(r"\bmlflow (server|ui)\b", c)]
    assert servers and all(re.search(r"--host 127\.0\.0\.1\b", c) for c in servers), servers
    heads = [c for c in commands if re.search(r"\bray start --head\b", c)]
    assert heads and all("--dashboard-host=127.0.0.1" in c for c in heads), heads
    assert not any("0.0.0.0" in c for c in commands)


def test_the_one_machine_autoscaling_cluster_stays_on_loopback() -> None:
    text = (ROOT / "cluster" / "autoscaling_local.yaml").read_text()
    head = " ".join(line.lstrip("# ").rstrip("\\ ") for line in text.splitlines() if line.startswith("#"))
    start = head[head.index("ray start --head"):]
    assert "--node-ip-address=127.0.0.1" in start and "--dashboard-host=127.0.0.1" in start
    assert "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0" in head
    assert yaml.safe_load(text)["provider"]["gcs_address"].startswith("127.0.0.1:")


# --- the real thing: a local instance as a sweep starts it, and the sockets its processes listen on -------------

def _listening(path: str) -> dict[str, str]:
    """inode -> local IP of the LISTEN sockets in /proc/net/tcp or tcp6."""
    out = {}
    try:
        lines = Path(path).read_text().splitlines()[1:]
    except OSError:
        return out
    for line in lines:
        fields = line.split()
        local, state, inode = fields[1], fields[3], fields[9]
        if state != "0A":  # TCP_LISTEN
            continue
        hex_ip = local.split(":")[0]
        raw = bytes.fromhex(hex_ip)
        ip = ".".join(str(b) for b in raw[::-1]) if len(raw) == 4 else str(ipaddress.IPv6Address(
            b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))))
        out[inode] = ip
    return out


def _is_loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1, how a dual-stack socket shows it
    return (mapped or address).is_loopback


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:["):-1])
    except OSError:
        pass
    return inodes


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc to list listening sockets")
def test_a_sweeps_local_ray_instance_listens_on_loopback_only(tmp_path: Path) -> None:
    code = ("from cluster.connect import prefer_loopback, connect; prefer_loopback(None); "
            "info = connect(num_cpus=1); print('UP', flush=True); import sys; sys.stdin.readline()")
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_ADDRESS")}
    driver = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert driver.stdout.readline().strip() == "UP", driver.stderr.read()[-3000:]
        listening = {**_listening("/proc/net/tcp"), **_listening("/proc/net/tcp6")}
        bound = {}
        for pid in [driver.pid, *descendants(driver.pid)]:
            for inode in _socket_inodes(pid) & listening.keys():
                bound.setdefault(listening[inode], set()).add(pid)
        assert bound, "found no listening socket of the Ray instance"
        assert all(_is_loopback(ip) for ip in bound), bound
    finally:
        started = descendants(driver.pid)
        driver.stdin.close()  # the driver exits, ray.shutdown at exit stops what it started
        try:
            driver.wait(timeout=60)
        except subprocess.TimeoutExpired:
            driver.kill()
        for pid in started:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
