"""Join an existing Ray cluster or start a local one.

Address resolution: an explicit address (`--address`), else `RAY_ADDRESS` (set by
`ray job submit` for the job's driver), else a new local instance. `auto` joins the
cluster last started on this machine with `ray start` (the address it wrote into
`<RAY_TMPDIR or /tmp>/ray/ray_current_cluster`).

A local instance listens on loopback only, and so does a driver joining a head bound to
127.0.0.1: `prefer_loopback()` keeps Ray on loopback (cluster.ray_compat.bind_loopback) for a local
instance and for any address (`auto` included) that names a loopback head; it must run before
`import ray` (the sweep scripts call it while parsing their arguments).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cluster import ray_compat
from rcml_core.errors import RCMLError


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
        ray_compat.bind_loopback()  # no-op when Ray is imported already (too late to change how it binds)


def connect(address: str | None = None, num_cpus: int | None = None, num_gpus: int | None = None) -> ClusterInfo:
    """ray.init for the resolved address; returns the cluster's resources."""
    import ray

    resolved = resolve_address(address)
    if not ray.is_initialized():
        kwargs: dict = {"log_to_driver": True, "configure_logging": True, "logging_level": "WARNING"}
        if resolved == "local":
            kwargs.update(address="local", num_cpus=num_cpus, num_gpus=num_gpus,
                          **ray_compat.local_instance_options(free_port()))
        else:
            kwargs.update(address=resolved)
        try:
            ray.init(**kwargs)
        except ConnectionError as exc:
            raise ClusterError(f"cannot connect to the Ray cluster at {resolved!r}: {exc}") from None
    resources = ray.cluster_resources()
    try:
        dashboard = ray.get_dashboard_url() or None  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - older/newer Ray without the helper
        dashboard = None
    return ClusterInfo(
        address=ray.get_runtime_context().gcs_address,
        started_local=resolved == "local",
        cpus=float(resources.get("CPU", 0.0)),
        gpus=float(resources.get("GPU", 0.0)),
        nodes=sum(1 for n in ray.nodes() if n.get("Alive")),
        dashboard_url=dashboard,
        resources={k: float(v) for k, v in resources.items()},
    )
