"""Join an existing Ray cluster or start a local one.

Address resolution: an explicit address (`--address`), else `RAY_ADDRESS` (set by
`ray job submit` for the job's driver), else a new local instance. `auto` joins the
cluster last started on this machine with `ray start` (the address it wrote into
`<RAY_TMPDIR or /tmp>/ray/ray_current_cluster`).

A local instance listens on loopback only. Ray decides at import time whether to bind
its servers to the machine's external interface and whether "127.0.0.1" means this
machine's external address: without RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 a driver joining
a head bound to 127.0.0.1 (`ray start --head --node-ip-address=127.0.0.1` with that
variable) rewrites the address to the external one and never reaches the head.
`prefer_loopback()` sets the variable for a local instance and for any address (`auto`
included) that names a loopback head; it must run before `import ray` (the sweep
scripts call it while parsing their arguments).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rcml_core.errors import RCMLError

# Read by Ray at import: when "0", node addresses resolve to 127.0.0.1 and every server binds there.
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
# A local instance has no nodes to be preempted and nothing to autoscale: Ray Train's preemption watcher
# (one more actor process per trial) is off, and it polls its workers more often, so a trial's end is seen
# sooner. Measured on the 2-core machine: the 6-trial smoke beta sweep went from 172 s to 142 s.
LOCAL_TRAIN_ENV = {"RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0", "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.5"}


class ClusterError(RCMLError):
    """The Ray cluster cannot be reached or lacks the resources a sweep needs."""


@dataclass(frozen=True)
class ClusterInfo:
    address: str  # GCS address
    started_local: bool  # True: this process started the instance (and stops it at exit)
    cpus: float
    gpus: float
    nodes: int
    dashboard_url: str | None
    resources: Mapping[str, float] = field(default_factory=dict)  # every resource of the cluster now, custom ones too

    @property
    def single_machine(self) -> bool:
        """Every node is, and can only ever be, this machine: a local instance, or a head bound to loopback
        (no other machine can join it)."""
        return self.started_local or is_loopback_address(self.address)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def resolve_address(address: str | None, env: dict[str, str] | None = None) -> str:
    """'local' (start one), 'auto' or host:port / ray:// address."""
    env = os.environ if env is None else env
    return address or env.get("RAY_ADDRESS", "").strip() or "local"


def current_cluster_file(env: dict[str, str] | None = None) -> Path:
    """Where `ray start` records the address `auto` resolves to (Ray's default temp folder)."""
    env = os.environ if env is None else env
    root = env.get("RAY_TMPDIR") or (env.get("TMPDIR") if sys.platform.startswith("linux") else None) or "/tmp"
    return Path(root) / "ray" / "ray_current_cluster"


def is_loopback_address(address: str) -> bool:
    """Whether a Ray address (host:port, ray://host:port, http://host:port) names this machine's loopback."""
    host = address.split("://", 1)[-1].rsplit("@", 1)[-1]
    host = host[1:host.index("]")] if host.startswith("[") else host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def joins_loopback_head(address: str | None, env: dict[str, str] | None = None) -> bool:
    """Whether the resolved address is a head on 127.0.0.1 (`auto`: the one `ray start` recorded last)."""
    resolved = resolve_address(address, env)
    if resolved == "local":
        return False
    if resolved == "auto":
        try:
            resolved = current_cluster_file(env).read_text().strip()
        except OSError:
            return False
    return bool(resolved) and is_loopback_address(resolved)


def prefer_loopback(address: str | None) -> None:
    """Before `import ray`: keep a local instance on 127.0.0.1, and let a driver joining a head bound to
    127.0.0.1 (`auto` included) reach it there (no-op when joining a cluster on a routable address)."""
    if resolve_address(address) == "local" or joins_loopback_head(address):
        if "ray" in sys.modules and os.environ.get(LOOPBACK_ENV) != "0":
            return  # too late to change how this process's Ray binds; it is imported already
        os.environ.setdefault(LOOPBACK_ENV, "0")


def connect(address: str | None = None, num_cpus: int | None = None, num_gpus: int | None = None) -> ClusterInfo:
    """ray.init for the resolved address; returns the cluster's resources."""
    import ray

    resolved = resolve_address(address)
    if not ray.is_initialized():
        kwargs: dict = {"log_to_driver": True, "configure_logging": True, "logging_level": "WARNING"}
        if resolved == "local":
            for key, value in LOCAL_TRAIN_ENV.items():  # inherited by the processes of the local instance
                os.environ.setdefault(key, value)
            # Ray Train's clean-up actors query the State API; without an address they look for "the" Ray
            # instance of this machine and fail when several run (two sweeps, or `ray start` beside one).
            port = free_port()
            kwargs.update(address="local", num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=True,
                          dashboard_host="127.0.0.1", dashboard_port=port,
                          runtime_env={"env_vars": {"RAY_API_SERVER_ADDRESS": f"http://127.0.0.1:{port}"}})
        else:
            kwargs.update(address=resolved)
        try:
            ray.init(**kwargs)
        except ConnectionError as exc:
            raise ClusterError(f"cannot connect to the Ray cluster at {resolved!r}: {exc}") from None
    context = ray.get_runtime_context()
    resources = ray.cluster_resources()
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    dashboard = None
    try:
        dashboard = ray.get_dashboard_url() or None  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - older/newer Ray without the helper
        dashboard = None
    return ClusterInfo(
        address=context.gcs_address,
        started_local=resolved == "local",
        cpus=float(resources.get("CPU", 0.0)),
        gpus=float(resources.get("GPU", 0.0)),
        nodes=len(nodes),
        dashboard_url=dashboard,
        resources={k: float(v) for k, v in resources.items()},
    )


def disconnect() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()
