"""A sweep's Ray storage must be reachable from every node that may run a trial.

Ray Tune and Ray Train write each trial's results and checkpoints to `--storage` from the node the
trial runs on, and restore them from there (a retried or resumed trial, the final evaluation of the
selected checkpoints on the driver). A folder of one machine is enough only when every node is, and
can only ever be, that machine: a Ray instance the sweep started itself, or a head bound to
127.0.0.1, which no other machine can join (the local autoscaling test: its fake worker nodes are
processes on the same machine). Anywhere else (an autoscaling cluster whose head is alone at the
start included) a local `--storage`, or the default `<home>/ray_results`, is refused at start unless
it lies on a network filesystem mounted on every node (NFS, Lustre, a FUSE mount of a bucket, ...);
use `s3://`, `gs://` or such a shared folder.
"""

from __future__ import annotations

from pathlib import Path

from cluster.connect import ClusterError, ClusterInfo

# Filesystem types (/proc/mounts) shared between machines.
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "lustre", "gpfs", "beegfs", "ceph", "cephfs", "glusterfs", "9p",
    "afs", "fuse.sshfs", "fuse.s3fs", "fuse.gcsfuse", "fuse.juicefs", "fuse.rclone", "fuse.mountpoint-s3",
    "fuse.goofys", "fuse.blobfuse", "fuse.blobfuse2", "fuse.glusterfs", "fuse.ceph-fuse", "efs",
})


def filesystem_type(path: str | Path, mounts: str | None = None) -> str:
    """The type of the filesystem holding `path` (the longest mount point above it in /proc/mounts)."""
    target = Path(path).expanduser().resolve()
    if mounts is None:
        try:
            mounts = Path("/proc/mounts").read_text()
        except OSError:
            return "unknown"
    best, kind = -1, "unknown"
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = Path(fields[1].replace("\\040", " "))
        if (target == point or point in target.parents) and len(point.parts) > best:
            best, kind = len(point.parts), fields[2]
    return kind


def is_remote_uri(storage: str) -> bool:
    """s3://, gs://, hdfs://, ... (pyarrow filesystems); file:// and plain paths are local."""
    return "://" in storage and not storage.startswith(("file://", "local://"))


def require_shared_storage(storage: str, cluster: ClusterInfo, mounts: str | None = None) -> None:
    """Raise ClusterError, saying why, when `storage` is a local folder on a cluster that can span machines."""
    if is_remote_uri(storage) or cluster.single_machine:
        return
    path = storage.split("://", 1)[-1]
    kind = filesystem_type(path, mounts)
    if kind in NETWORK_FILESYSTEMS:
        return
    raise ClusterError(
        f"--storage {storage}: a folder of this machine ({kind} filesystem), but the Ray cluster at {cluster.address} "
        "can hold nodes of other machines (an autoscaler adds them as trials queue). Ray Tune and Train write every "
        "trial's results and checkpoints to --storage from the node it runs on, and the driver reads them back: "
        "pass --storage s3://BUCKET/PATH (or gs://..., or a folder on a network filesystem mounted at the same path "
        "on every node)")
