"""The CLIP baselines a sweep trains beside its selected configuration: what they share with it, and that they are
tested exactly as they were trained (their own protocol under concat_, their own embeddings under plain_)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cluster.baselines import BaselineSpec, _train_and_test, baseline_spec, baseline_table
from cluster.study import Study
from rcml_core.eval import keys
from rcml_core.eval.evaluate import EvalOptions, evaluate_split
from rcml_core.runtime.run_config import resolve_run_config
from rcml_core.runtime.session import load_checkpoint_session
from tests.data.tiny_catalog import build_tiny


def test_the_baseline_takes_the_selected_training_hyperparameters_but_none_of_rcmls_own() -> None:
    study = Study(name="s", grid={"variant": ["full", "no_edge_text"], "lr": [1e-3, 1e-4], "beta": [0.2]},
                  variants={"full": {}, "no_edge_text": {"no_edge_text": True}}, fixed={"tau": 0.05})
    spec = baseline_spec(study, {"variant": "no_edge_text", "lr": 1e-4, "beta": 0.2, "seed": 3},
                         BaselineSpec("tiny", ("data=/d", "epochs=2"), (0, 1), "/runs"))
    assert spec.overrides == ("data=/d", "epochs=2", ("tau", 0.05), ("lr", 1e-4), ("method", "clip"))
    assert spec.seeds == (0, 1) and spec.preset == "tiny"


def test_values_from_the_trials_table_become_the_overrides_they_were() -> None:
    study = Study(name="s", grid={"batch_size": [16, 32], "tau": [0.05, 0.1]})
    selected = {"batch_size": np.float64(16.0), "tau": np.float64(0.1)}  # pandas widened the int column
    spec = baseline_spec(study, selected, BaselineSpec("tiny", (), (0,), "/runs"))
    assert spec.overrides == (("batch_size", 16), ("tau", 0.1), ("method", "clip"))
    assert type(spec.overrides[0][1]) is int and type(spec.overrides[1][1]) is float
    resolve_run_config("tiny", overrides=list(spec.overrides))  # they resolve


@pytest.fixture(scope="module")
def clip_run(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("clip-baseline")
    build_tiny(root / "data", root / "raw-images")
    overrides = [f"data={root / 'data'}", "batch_size=16", "epochs=1", "max_steps_per_epoch=4", "method=clip",
                 "seed=0"]
    return _train_and_test("tiny", overrides, str(root / "run"), use_gpu=False), root / "run"


def test_a_baseline_is_tested_on_its_own_protocol_and_on_its_own_embeddings(clip_run) -> None:
    result, run_dir = clip_run
    assert set(result.outcomes) == {keys.CONCAT, keys.PLAIN}
    for prefix in (keys.CONCAT, keys.PLAIN):
        key = keys.metric_key("test", keys.PRIMARY_METRIC, "avg", prefix)
        lo, hi = keys.ci_keys(key)
        assert result.metrics[lo] <= result.metrics[key] <= result.metrics[hi]
        assert result.metrics[keys.count_key("test", keys.N_PAIRS, prefix)] > 0
    best = next(Path(run_dir).rglob("best"))  # the checkpoint its validation selected, evaluated again here
    session = load_checkpoint_session(best, device="cpu")
    again = evaluate_split(session.model, session.inputs, session.dataset, "test", "clip", session.device,
                           EvalOptions(tasks=("retrieval",)))
    np.testing.assert_allclose(result.outcomes[keys.CONCAT].values["hit@5_avg"],
                               again.outcomes[keys.MODEL].values["hit@5_avg"])
    np.testing.assert_allclose(result.outcomes[keys.PLAIN].values["hit@5_avg"],
                               again.outcomes[keys.PLAIN].values["hit@5_avg"])


def test_the_baseline_table_pools_seeds_per_scorer(clip_run) -> None:
    result, _ = clip_run
    table = baseline_table([result, result])
    key = keys.metric_key("test", keys.PRIMARY_METRIC, "avg", keys.CONCAT)
    assert table[key] == pytest.approx(result.metrics[key]) and table[keys.std_key(key)] == 0.0
    assert table[keys.count_key("test", keys.N_SEEDS, keys.PLAIN)] == 2.0
    assert not any(k.startswith(("test/hit", "test/free_", "test/ref_")) for k in table)  # the model's own rows stay
