"""A training step does not make the host wait for the device: batches are built and checked on the
host, copies do not block, and the loss is read every `train.log_every` steps.

On the CPU the syncs a GPU step would make are counted by taint tracking (tests/train/sync_counter.py);
on CUDA by `torch.cuda.set_sync_debug_mode`. Measured with this counter on this configuration before the
fix: 19.7 value reads per step (range checks on device indices 6, the loss's `isfinite` and five `float()`s
twice on log steps, EOS checks 2-3, the conditioning's 2), plus ~12 blocking host-to-device copies the
counter does not see; after: 4.5 per step (the conditioning's 2, transformers' 2 on padded steps, and the
loss log's reads).
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import pytest
import torch

from rcml_core.train.loop import DistContext, _Trainer
from rcml_core.runtime.run_config import resolve_run_config
from rcml_core.train.tracker import NoopTracker
from tests.train.sync_counter import SyncCounter

STEPS, LOG_EVERY = 6, 3
# Files whose syncs this repository does not remove (yet): the conditioning's "auto" strategy reads the
# number of distinct relations and checks the relation kinds (rcml_core/model/conditioning.py, 2 per step),
# and on the padded text path transformers' SDPA mask helper reads the padding mask once per tower call
# (called from rcml_core/model/encoders.py; the packed path hands it a 4-d mask instead).
ELSEWHERE = {"rcml_core/model/conditioning.py": 2 * STEPS, "rcml_core/model/encoders.py": 2 * STEPS}


def _trainer(data: Path, out: Path, device: str) -> _Trainer:
    config = resolve_run_config("tiny", overrides=[f"data={data}", f"out_dir={out}", "batch_size=16", "epochs=1",
                                                   f"max_steps_per_epoch={STEPS}", f"train.log_every={LOG_EVERY}",
                                                   f"device={device}"])
    return _Trainer(config, NoopTracker(), None, DistContext(), None)


def test_a_training_step_reads_nothing_back_but_the_loss_every_log_every_steps(tiny_data: Path, tmp_path: Path,
                                                                               monkeypatch) -> None:
    trainer = _trainer(tiny_data, tmp_path / "run", "cpu")
    counter = SyncCounter()
    with counter.tracking(trainer.model, monkeypatch):
        metrics = trainer.train_epoch(1)
    assert metrics["train/steps"] == STEPS
    places = Counter({where.rsplit(":", 1)[0]: n for where, n in counter.by_place().items()})
    ours = {f: n for f, n in places.items() if f not in ELSEWHERE}
    # the loss log: one read per log step, one at the end of the epoch; nothing else of this repository's
    assert ours == {"rcml_core/train/loss_log.py": STEPS // LOG_EVERY + 1}, counter.by_place()
    for where, at_most in ELSEWHERE.items():
        assert places[where] <= at_most, counter.by_place()


def test_the_counter_sees_a_value_read_back_from_a_device_tensor(monkeypatch) -> None:
    model = torch.nn.Linear(3, 1)
    counter = SyncCounter()
    with counter.tracking(model, monkeypatch):
        y = model(torch.ones(2, 3))  # computed from the (device) parameters
        float(y.sum().detach())
        y.tolist()
        _ = torch.nonzero(y > 0)
        host = torch.ones(3)
        float(host.sum())  # a host tensor: not a sync
    assert [s.what for s in counter.syncs] == ["aten::_local_scalar_dense", "tolist", "aten::nonzero"]


@pytest.mark.gpu
def test_on_cuda_a_step_makes_no_more_syncs_than_the_cpu_count_says(tiny_data: Path, tmp_path: Path) -> None:
    trainer = _trainer(tiny_data, tmp_path / "run", "cuda")
    trainer.train_epoch(1)  # warm-up: allocator, kernels, cuBLAS handles
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trainer.train_epoch(2)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in caught if "synchroniz" in str(w.message).lower()]
    allowed = STEPS // LOG_EVERY + 1 + sum(ELSEWHERE.values())
    assert len(syncs) <= allowed, [str(w.message)[:120] for w in syncs]
