"""Same seed -> identical tables and image bytes; different seeds differ."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rcml_core.data.synth import simulate_world, synth_preset
from rcml_core.data.synth.world import public_interactions, write_images


def _public_items(world) -> pd.DataFrame:
    return world.items[["item_id", "text", "category", "profile_category"]]


def test_same_seed_gives_identical_tables_and_image_bytes(tmp_path) -> None:
    a = simulate_world(synth_preset("tiny", seed=5, n_items=40))
    b = simulate_world(synth_preset("tiny", seed=5, n_items=40))
    pd.testing.assert_frame_equal(_public_items(a), _public_items(b))
    pd.testing.assert_frame_equal(public_interactions(a), public_interactions(b))
    paths_a = write_images(a, tmp_path / "a")
    paths_b = write_images(b, tmp_path / "b")
    assert [p.read_bytes() for p in paths_a] == [p.read_bytes() for p in paths_b]


def test_different_seeds_give_different_catalogs_purchases_and_images(tmp_path) -> None:
    a = simulate_world(synth_preset("tiny", seed=1, n_items=40))
    b = simulate_world(synth_preset("tiny", seed=2, n_items=40))
    assert (a.items["text"] != b.items["text"]).mean() > 0.9
    assert not public_interactions(a).equals(public_interactions(b))
    img_a = write_images(a, tmp_path / "a")[:10]
    img_b = write_images(b, tmp_path / "b")[:10]
    assert all(x.read_bytes() != y.read_bytes() for x, y in zip(img_a, img_b, strict=True))


@pytest.mark.parametrize("preset", ["tiny", "legacy-tiny"])
def test_catalog_and_latent_preferences_do_not_change_with_the_number_of_users(preset: str) -> None:
    few = simulate_world(synth_preset(preset, n_users=50))
    many = simulate_world(synth_preset(preset, n_users=500))
    pd.testing.assert_frame_equal(_public_items(few), _public_items(many))
    latent = [w.missions if w.missions is not None else w.profiles for w in (few, many)]  # by generator
    np.testing.assert_array_equal(latent[0].category_pref, latent[1].category_pref)
