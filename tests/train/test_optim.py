import pytest
import torch
from torch import nn

from rcml_core.errors import ConfigError
from rcml_core.runtime.run_config import OptimConfig
from rcml_core.train.optim import build_optimizer, build_scheduler, cosine_with_warmup


def test_schedule_warms_up_linearly_then_decays_by_cosine_to_the_floor() -> None:
    assert cosine_with_warmup(0, 100, 10, 0.0) == pytest.approx(0.1)
    assert cosine_with_warmup(9, 100, 10, 0.0) == pytest.approx(1.0)
    assert cosine_with_warmup(55, 100, 10, 0.0) == pytest.approx(0.5)
    assert cosine_with_warmup(100, 100, 10, 0.1) == pytest.approx(0.1)


def test_biases_and_norms_are_not_weight_decayed() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
    opt = build_optimizer(model, OptimConfig(weight_decay=0.2))
    decayed = {id(p) for p in opt.param_groups[0]["params"]}
    assert decayed == {id(model[0].weight)}
    assert opt.param_groups[1]["weight_decay"] == 0.0 and len(opt.param_groups[1]["params"]) == 3


def test_scheduler_sets_lr_per_step() -> None:
    model = nn.Linear(2, 2)
    cfg = OptimConfig(lr=1e-3, warmup_fraction=0.5)
    opt = build_optimizer(model, cfg)
    sched = build_scheduler(opt, cfg, total_steps=4)
    lrs = []
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(5e-4) and lrs[1] == pytest.approx(1e-3) and lrs[3] < lrs[2]


def test_invalid_lr_is_rejected_before_any_work() -> None:
    with pytest.raises(ConfigError, match=r"optim.lr must be in \(0.0, 1.0\]"):
        OptimConfig(lr=0.0)
