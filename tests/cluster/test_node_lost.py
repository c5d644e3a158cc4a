"""A worker node lost mid-trial (its raylet killed, as when a preemptible machine goes away): Tune retries the
trial from its latest checkpoint on another node, and the trial's MLflow record has every epoch exactly once.

The cluster is Ray's own multi-node test cluster in this process (`ray.cluster_utils.Cluster`, every node a
set of processes on 127.0.0.1): a head that trains nothing (trials ask for `rcml_worker`, which only the worker
nodes declare, as in cluster/autoscaling_local.yaml) and two worker nodes of one CPU each. The sweep's driver
and its tracking relay live on the head and survive the loss.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from cluster.launcher import run_sweep
from cluster.resources import ResourceConfig
from cluster.study import Study
from cluster.sweep_settings import SweepSettings
from tests.sweeps.conftest import read_sweep, trial_run_ids
from tracking.cost import TAG_NODE_ID

pytestmark = pytest.mark.slow

EPOCHS = 5
KILL_AFTER_EPOCH = 2  # the node goes once Tune holds this epoch's result: the trial is training the next one


class NodeKiller(threading.Thread):
    """Waits until Tune has the trial's KILL_AFTER_EPOCH result (in the trial's result.json), then kills the raylet
    of the node the trial trains on (its node tag in MLflow)."""

    def __init__(self, cluster, home: Path) -> None:
        super().__init__(daemon=True)
        self.cluster, self.home = cluster, home
        self.killed: str | None = None  # the lost node's id
        self.error: BaseException | None = None
        self.stop = threading.Event()

    def _trial_run(self):
        runs = trial_run_ids(self.home, "node_lost")  # read-only until the sweep has made the store
        if not runs:
            return None
        client = MlflowClient(f"sqlite:///{self.home / 'mlflow.db'}")
        return client, client.get_run(runs[0])

    def _tune_epochs(self) -> list[int]:
        epochs = []
        for results in (self.home / "ray_results").glob("node_lost-*/run_trial_*/result.json"):
            epochs += [json.loads(line).get("epoch") for line in results.read_text().splitlines() if line.strip()]
        return epochs

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                found = self._trial_run()
                if found is not None:
                    node_id = found[1].data.tags.get(TAG_NODE_ID)
                    if node_id and KILL_AFTER_EPOCH in self._tune_epochs():
                        (node,) = [n for n in self.cluster.worker_nodes if n.node_id == node_id]
                        self.cluster.remove_node(node, allow_graceful=False)  # SIGKILL to its raylet and the rest
                        self.killed = node_id
                        return
                time.sleep(0.2)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the test
            self.error = exc


def test_a_trial_whose_node_is_lost_resumes_from_its_checkpoint_on_another_node(tmp_path: Path) -> None:
    import ray
    from ray.cluster_utils import Cluster

    ray.shutdown()  # this process's Ray, if another test module left one
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    killer = None
    try:
        nodes = [cluster.add_node(num_cpus=1, resources={"rcml_worker": 1}) for _ in range(2)]
        cluster.wait_for_nodes()
        settings = SweepSettings(
            smoke_test=True, home=str(tmp_path), register=False, baselines=False, address=cluster.address,
            max_failures=1, resources=ResourceConfig(use_gpu=False, worker_resource="rcml_worker"),
            overrides=(f"epochs={EPOCHS}", "max_steps_per_epoch=10", "patience=0"))  # no early stop
        killer = NodeKiller(cluster, tmp_path)
        killer.start()
        t0 = time.monotonic()
        result = run_sweep(Study(name="node_lost", grid={"beta": [0.6]}), settings)
        took = time.monotonic() - t0
        killer.stop.set()
        killer.join(timeout=10)
        assert killer.error is None, killer.error
        assert killer.killed is not None, "the trial finished before its node could be lost"
        assert list(result.trials["status"]) == ["TERMINATED"]
        record = read_sweep(tmp_path, "node_lost")
        (child,) = record.children
        assert child.info.status == "FINISHED"
        survivor = ({n.node_id for n in nodes} - {killer.killed}).pop()
        assert child.data.tags[TAG_NODE_ID] == survivor  # the retry trained on the other node
        epochs = [step for step, _ in record.history(child, "val/hit_at_5")]
        assert epochs == list(range(EPOCHS + 1)), epochs  # none twice (not restarted), none missing
        assert [s for s, _ in record.history(child, "train/steps")] == list(range(1, EPOCHS + 1))
        print(f"node {killer.killed[:12]} lost after epoch {KILL_AFTER_EPOCH}; the trial resumed on "
              f"{survivor[:12]}; sweep took {took:.0f} s")
    finally:
        if killer is not None:
            killer.stop.set()
        ray.shutdown()
        cluster.shutdown()
