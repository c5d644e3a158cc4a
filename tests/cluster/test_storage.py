"""A multi-node sweep refuses, at start and saying why, storage that only one machine can reach."""

from __future__ import annotations

import pytest

from cluster.connect import ClusterError, ClusterInfo
from cluster.storage import filesystem_type, require_shared_storage

MOUNTS = """\
/dev/root / ext4 rw,relatime 0 0
server:/export /mnt/shared nfs4 rw,relatime 0 0
tmpfs /mnt/shared/scratch tmpfs rw 0 0
/dev/sdb1 /data\\040disk xfs rw 0 0
"""


def _cluster(address: str, local: bool = False) -> ClusterInfo:
    return ClusterInfo(address=address, started_local=local, cpus=8, gpus=0, nodes=1, dashboard_url=None)


def test_the_filesystem_of_a_path_is_that_of_its_deepest_mount_point() -> None:
    assert filesystem_type("/mnt/shared/sweeps/ray_results", MOUNTS) == "nfs4"
    assert filesystem_type("/mnt/shared/scratch/x", MOUNTS) == "tmpfs"
    assert filesystem_type("/home/user/rcml", MOUNTS) == "ext4"
    assert filesystem_type("/data disk/x", MOUNTS) == "xfs"


def test_a_local_folder_on_a_cluster_that_can_span_machines_is_refused_with_the_reason() -> None:
    head = _cluster("10.0.0.5:6379")  # an autoscaling head, alone for now
    with pytest.raises(ClusterError, match=r"--storage /home/u/ray_results: a folder of this machine \(ext4 "
                                           r"filesystem\), but the Ray cluster at 10.0.0.5:6379 can hold nodes of "
                                           r"other machines.* checkpoints .* --storage s3://"):
        require_shared_storage("/home/u/ray_results", head, MOUNTS)
    with pytest.raises(ClusterError, match="a folder of this machine"):
        require_shared_storage("file:///home/u/ray_results", head, MOUNTS)


def test_object_stores_network_filesystems_and_one_machine_clusters_are_accepted() -> None:
    head = _cluster("10.0.0.5:6379")
    require_shared_storage("s3://bucket/rcml/ray_results", head, MOUNTS)
    require_shared_storage("gs://bucket/rcml", head, MOUNTS)
    require_shared_storage("/mnt/shared/sweeps", head, MOUNTS)  # NFS, mounted on every node
    require_shared_storage("/home/u/ray_results", _cluster("127.0.0.1:6379"), MOUNTS)  # a loopback head
    require_shared_storage("/home/u/ray_results", _cluster("127.0.0.1:41000", local=True), MOUNTS)
