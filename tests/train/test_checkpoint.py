import random

import numpy as np
import pytest
import torch
from torch import nn

from rcml_core.errors import RCMLError
from rcml_core.runtime.checkpoint import TrainState, load_checkpoint, save_checkpoint


def test_checkpoint_restores_weights_optimizer_scheduler_rng_and_state(tmp_path) -> None:
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    sched.step()
    state = TrainState(epoch=2, step=10, best_metric=0.4, best_epoch=1, history=[{"val/hit@5": 0.4}])
    save_checkpoint(tmp_path / "ckpt", model, opt, sched, state, {"seed": 1})
    expected_draws = (torch.rand(3), np.random.rand(2), random.random())

    other = nn.Linear(3, 2)
    opt2 = torch.optim.AdamW(other.parameters(), lr=0.1)
    sched2 = torch.optim.lr_scheduler.StepLR(opt2, step_size=1, gamma=0.5)
    restored = load_checkpoint(tmp_path / "ckpt", other, opt2, sched2)
    assert restored == state
    for a, b in zip(model.parameters(), other.parameters()):
        assert torch.equal(a, b)
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.05)
    assert torch.equal(opt.state_dict()["state"][0]["exp_avg"], opt2.state_dict()["state"][0]["exp_avg"])
    draws = (torch.rand(3), np.random.rand(2), random.random())
    assert torch.equal(draws[0], expected_draws[0]) and np.array_equal(draws[1], expected_draws[1])
    assert draws[2] == expected_draws[2]


def test_overwriting_a_checkpoint_is_atomic_and_leaves_no_temporaries(tmp_path) -> None:
    model = nn.Linear(2, 2)
    save_checkpoint(tmp_path / "last", model, None, None, TrainState(epoch=1), {})
    save_checkpoint(tmp_path / "last", model, None, None, TrainState(epoch=2), {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]
    assert load_checkpoint(tmp_path / "last", nn.Linear(2, 2)).epoch == 2


def test_loading_a_folder_that_is_not_a_checkpoint_names_the_missing_file(tmp_path) -> None:
    with pytest.raises(RCMLError, match="model.safetensors is missing"):
        load_checkpoint(tmp_path, nn.Linear(2, 2))


def test_mismatched_checkpoint_is_a_clear_error(tmp_path) -> None:
    save_checkpoint(tmp_path / "c", nn.Linear(2, 2), None, None, TrainState(), {})
    with pytest.raises(RCMLError, match="does not match the model"):
        load_checkpoint(tmp_path / "c", nn.Linear(3, 2))
