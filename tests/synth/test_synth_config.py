"""SynthConfig validation and the tiny / small / default presets."""

from __future__ import annotations

import dataclasses

import pytest

from rcml_core.data.synth import PRESET_NAMES, SynthConfig, synth_preset
from rcml_core.errors import ConfigError


def test_presets_grow_from_tiny_to_default() -> None:
    sizes = {name: synth_preset(name).n_items for name in PRESET_NAMES}
    assert sizes["tiny"] == 150
    assert sizes["small"] == 600
    assert 2000 <= sizes["default"] <= 10_000


def test_preset_overrides_apply_on_top_of_the_preset() -> None:
    config = synth_preset("tiny", seed=7, n_users=123)
    assert (config.seed, config.n_users, config.n_items) == (7, 123, 150)


def test_unknown_preset_is_a_config_error_listing_the_presets() -> None:
    with pytest.raises(ConfigError, match="tiny.*small.*default"):
        synth_preset("huge")


def test_unknown_override_field_is_a_config_error_naming_it() -> None:
    with pytest.raises(ConfigError, match="n_itemz"):
        synth_preset("tiny", n_itemz=10)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("n_items", 5, r"synth\.n_items must be an integer in \[20, "),
        ("n_users", 2.5, r"synth\.n_users must be an integer"),
        ("seed", -1, r"synth\.seed must be an integer in \[0, "),
        ("popularity_exponent", float("nan"), r"synth\.popularity_exponent must be a number"),
        ("user_concentration", 0.0, r"synth\.user_concentration must be in \(0\.0, "),
        ("profile_max_categories", 1, r"synth\.profile_max_categories must be an integer in \[2, 10\]"),
        ("mean_purchases", 100.0, r"synth\.mean_purchases must be in \[3\.0, 60\.0\]"),
        ("image_size", True, r"synth\.image_size must be an integer"),
        ("split_fractions", (0.5, 0.2, 0.2), r"synth\.split_fractions .* summing to 1"),
        ("name", " ", r"synth\.name must be a non-empty string"),
    ],
)
def test_out_of_range_field_is_a_config_error_naming_field_and_range(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SynthConfig(**{field: value})


def test_config_is_frozen_and_round_trips_through_its_dict() -> None:
    config = synth_preset("small", seed=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 4  # type: ignore[misc]
    assert SynthConfig(**config.to_dict()) == config


def test_profile_category_bounds_match_the_domain() -> None:
    from rcml_core.data.synth.vocab import BABY_DOMAIN

    n = len(BABY_DOMAIN.categories)
    assert SynthConfig(profile_max_categories=n).profile_max_categories == n
    with pytest.raises(ConfigError, match=rf"profile_max_categories must be an integer in \[2, {n}\]"):
        SynthConfig(profile_max_categories=n + 1)
