"""A `ray start --head --block` that a test starts on loopback, in its own temp folder and ports, and stops by
PID: it ends exactly the processes it started (never a global `ray stop`, which would end other users' clusters
on a shared machine)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def descendants(pid: int) -> list[int]:
    """PIDs of every process below `pid` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def processes_mentioning(text: str) -> list[int]:
    """PIDs of this user's processes whose command line contains `text` (a test's own temp folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if entry.stat().st_uid == os.getuid() and text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (ProcessLookupError, OSError):
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def stop_head(head: subprocess.Popen, scope: str, timeout: float = 60.0) -> None:
    """SIGTERM to `ray start --block` (it stops what it started), then SIGKILL to whatever outlived it among
    its descendants and the processes whose command line names `scope` (the test's own temp folder: the
    autoscaler's fake nodes are started by the head's monitor and may be re-parented when it exits)."""
    started = set(descendants(head.pid)) | set(processes_mentioning(scope))
    head.send_signal(signal.SIGTERM)
    try:
        head.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        head.kill()
        head.wait(timeout=10)
    deadline = time.monotonic() + 30
    while any(alive(p) for p in started) and time.monotonic() < deadline:
        time.sleep(0.5)
    for pid in started | set(processes_mentioning(scope)):
        if alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def watch_nodes(dashboard: str, out: Path, interval_s: float) -> None:
    """Append the alive worker nodes (Ray's state API) to `out` as a JSON line every `interval_s`, until killed.

    Run in its own process (`python -m tests.sweeps.ray_head DASHBOARD FILE INTERVAL`) with the cluster's
    client environment (RAY_AUTH_MODE=token), which the test process itself must not take on.
    """
    import json

    from ray.util.state import list_nodes

    while True:
        nodes = list_nodes(address=dashboard, detail=True, limit=1000, raise_on_missing_output=False)
        workers = {n.node_id: {"labels": n.labels, "resources": n.resources_total} for n in nodes
                   if n.state == "ALIVE" and not n.is_head_node}
        with out.open("a") as f:
            f.write(json.dumps({"t": time.time(), "workers": workers}) + "\n")
        time.sleep(interval_s)


if __name__ == "__main__":
    import sys

    watch_nodes(sys.argv[1], Path(sys.argv[2]), float(sys.argv[3]))
