"""Studies are validated before Ray starts: every bad key or value is one error naming it."""

from __future__ import annotations

import pytest

from cluster.study import Study, format_override, validate_study
from rcml_core.errors import ConfigError

BASE = ["data=/nonexistent", "epochs=1"]


def test_a_valid_grid_passes_and_counts_its_trials() -> None:
    study = Study(name="beta_sweep", grid={"beta": [0.0, 0.5, 1.0]})
    validate_study(study, "tiny", BASE, seeds=[0, 1])
    assert study.n_trials(2) == 6 and study.axes == ("beta",)


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"beta": [0.5, 2.0]}, "model.beta must be in [0, 1]"),
        ({"betta": [0.5]}, "betta"),
        ({"tau": [0.0]}, "loss.tau"),
        ({"batch_size": [1]}, "train.batch_size"),
    ],
)
def test_an_invalid_grid_value_or_key_is_an_error_naming_it(grid, message) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")) as exc:
        validate_study(Study(name="s", grid=grid), "tiny", BASE, seeds=[0])
    axis = next(iter(grid))
    assert axis in str(exc.value) or message in str(exc.value)


def test_seed_is_not_a_grid_axis_and_axes_need_values() -> None:
    with pytest.raises(ConfigError, match="--seeds"):
        Study(name="s", grid={"seed": [0, 1]})
    with pytest.raises(ConfigError, match="non-empty list"):
        Study(name="s", grid={"beta": []})


def test_variants_expand_into_their_overrides_and_must_be_defined() -> None:
    variants = {"full": {}, "no_text": {"no_edge_text": True}}
    study = Study(name="abl", grid={"variant": ["full", "no_text"]}, variants=variants)
    assert study.expand({"variant": "no_text", "seed": 1}) == {"no_edge_text": True, "seed": 1}
    with pytest.raises(ConfigError, match="not defined"):
        Study(name="abl", grid={"variant": ["full", "other"]}, variants=variants)


def _space(trial):
    trial.suggest_float("beta", 0.0, 1.5)  # beyond beta's range: some sampled points are invalid


def test_a_search_space_with_invalid_points_is_rejected_before_the_sweep() -> None:
    with pytest.raises(ConfigError, match="model.beta"):
        validate_study(Study(name="hp", search=_space, num_samples=4), "tiny", BASE, seeds=[0])


def test_a_study_is_a_grid_or_a_search_not_both() -> None:
    with pytest.raises(ConfigError, match="either a grid or an Optuna search"):
        Study(name="hp", grid={"beta": [0.1]}, search=_space, num_samples=2)
    with pytest.raises(ConfigError, match="num_samples"):
        Study(name="hp", search=_space)


def test_override_values_are_written_as_yaml_scalars() -> None:
    assert format_override("no_inter_edges", True) == "no_inter_edges=true"
    assert format_override("lr", 1e-4) == "lr=0.0001"
    assert format_override("summary_mix", "logit") == "summary_mix=logit"


def test_a_batch_that_does_not_split_over_the_ddp_workers_is_rejected_before_the_sweep() -> None:
    study = Study(name="s", grid={"batch_size": [16, 18]})
    validate_study(study, "tiny", BASE, seeds=[0], num_workers=2)  # 16 and 18 split over 2
    with pytest.raises(ConfigError, match=r"batch_size=18: train.batch_size 18 must be a multiple of --num-workers 4"):
        validate_study(Study(name="s", grid={"batch_size": [16, 18]}), "tiny", BASE, seeds=[0], num_workers=4)
