"""Join an existing Ray cluster or start a local one.

Address resolution: an explicit address (`--address`), else `RAY_ADDRESS` (set by
`ray job submit` for the job's driver), else a new local instance. `auto` joins the
cluster last started on this machine with `ray start`.

A local instance listens on loopback only. Ray decides at import time whether to bind
its servers to the machine's external interface; `prefer_loopback()` must run before
`import ray` (the sweep scripts call it while parsing their arguments).
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def resolve_address(address: str | None, env: dict[str, str] | None = None) -> str:
    """'local' (start one), 'auto' or host:port / ray:// address."""
    env = os.environ if env is None else env
    return address or env.get("RAY_ADDRESS", "").strip() or "local"


def prefer_loopback(address: str | None) -> None:
    """Before `import ray`: keep a local instance on 127.0.0.1 (no-op when joining a cluster)."""
    if resolve_address(address) == "local":
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
    )


def disconnect() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()
