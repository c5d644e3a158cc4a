"""The default "missions" catalog: each attribute shows in one modality only, and shoppers keep to one
attribute value, which attribute depending on their mission."""

from __future__ import annotations

import re

import numpy as np
import pytest

from rcml_core.data.synth import simulate_world, synth_preset
from rcml_core.data.synth.attributes import (
    AGE_RANGES,
    BRANDS,
    IMAGE_ATTRIBUTES,
    MATERIALS,
    MISSION_DOMAIN,
    PATTERNS,
    TEXT_ATTRIBUTES,
)
from rcml_core.data.synth.mission_catalog import mission_title
from rcml_core.data.synth.missions import BROWSER
from rcml_core.data.synth.render import render_image
from rcml_core.data.synth.world import public_items

COLOUR_NAMES = MISSION_DOMAIN.base.colour_names


@pytest.fixture(scope="module")
def world():
    return simulate_world(synth_preset("small", n_items=800, n_users=2000))


def test_the_title_names_brand_material_and_age_range() -> None:
    assert mission_title("Willow Nest", "Bamboo", "Crib Sheet", "Breathable", "0-6 Months") == \
        "Willow Nest Bamboo Crib Sheet, Breathable, for 0-6 Months"
    assert mission_title("Regal Cub", "Linen", "Sleep Sack", None, "Newborn") == "Regal Cub Linen Sleep Sack, Newborn"
    assert mission_title("Bright Bean", "Silicone", "Suction Bowl", "with Storage Lid", "2-4 Years") == \
        "Bright Bean Silicone Suction Bowl with Storage Lid, for 2-4 Years"


def test_titles_state_the_text_attributes_and_never_a_colour_or_a_pattern(world) -> None:
    for text, attrs in zip(world.items["text"], world.items["attributes"]):
        assert text.startswith(f"{attrs['brand']} {attrs['material']} "), text
        assert text.endswith(attrs["age range"]), text
        assert not any(re.search(rf"\b{re.escape(c)}\b", text) for c in COLOUR_NAMES), text
        assert not any(p.replace("_", " ") in text.lower() for p in PATTERNS), text
    # and no other material, brand or age range is named
    for text, attrs in zip(world.items["text"], world.items["attributes"]):
        assert [m for m in MATERIALS if m in text] == [attrs["material"]], text
        assert [b for b in BRANDS if b in text] == [attrs["brand"]], text
        assert sum(a in text for a in AGE_RANGES) == 1, text


def _object_pixels(image: np.ndarray) -> np.ndarray:
    """Pixels far from the background colour (read from the corners) of an (H, W, 3) image."""
    corners = np.concatenate([image[:4, :4], image[:4, -4:], image[-4:, :4], image[-4:, -4:]]).reshape(-1, 3)
    flat = image.reshape(-1, 3).astype(np.float64)
    return flat[np.linalg.norm(flat - np.median(corners, axis=0), axis=1) > 50]


def test_images_show_the_colour_and_the_pattern_and_not_the_text_attributes(world) -> None:
    """The darkest object pixels are the item's colour (patterns only lighten it); patterned objects
    vary more than solid ones; two items that differ only in material, age range and brand look alike."""
    spread = {p: [] for p in PATTERNS}
    for row in world.items.head(200).itertuples():
        pixels = _object_pixels(np.asarray(render_image(row.image_spec, 64), np.float64))
        assert len(pixels) > 50, row.text
        colour = np.asarray(row.image_spec.colour, np.float64)
        dark = pixels[np.argsort(pixels.sum(axis=1))[: len(pixels) // 4]]
        assert np.linalg.norm(dark.mean(axis=0) - colour) < 45, (row.attributes, dark.mean(axis=0))
        spread[row.attributes["pattern"]].append(pixels.std(axis=0).mean())
    solid = np.mean(spread["solid"])
    assert all(np.mean(v) > solid + 10 for p, v in spread.items() if p != "solid" and v), spread
    spec = world.items["image_spec"].iat[0]
    assert render_image(spec, 32).tobytes() == render_image(spec, 32).tobytes()  # a function of the spec alone


def test_missions_come_in_pairs_sharing_categories_one_image_and_one_text_attribute(world) -> None:
    missions = world.missions
    assert len(missions) == world.config.n_missions
    for g in np.unique(missions.group):
        pair = np.flatnonzero(missions.group == g)
        if len(pair) < 2:
            continue
        a, b = pair
        assert missions.focus[a] == missions.focus[b] and len(missions.focus[a]) == world.config.mission_categories
        assert missions.attribute[a] in IMAGE_ATTRIBUTES and missions.attribute[b] in TEXT_ATTRIBUTES
    assert set(missions.attribute) == set(IMAGE_ATTRIBUTES + TEXT_ATTRIBUTES)


def test_shoppers_keep_to_their_value_far_more_often_than_chance_and_browsers_do_not(world) -> None:
    purchases, shoppers, missions = world.purchases, world.users, world.missions
    attrs = world.items["attributes"].to_numpy()
    kept, chance, browsing = [], [], []
    for user, item in zip(purchases["user_idx"].to_numpy(), purchases["item_idx"].to_numpy()):
        m = shoppers.mission[user]
        if m == BROWSER:
            browsing.append(attrs[item]["colour"] == COLOUR_NAMES[0])
            continue
        kept.append(attrs[item][missions.attribute[m]] == shoppers.value[user])
    assert np.mean(kept) > 0.85  # match_probability 0.9, plus chance
    assert np.mean(browsing) < 0.2  # a browser's colours are as mixed as the catalog's (1 in 12)


def test_shoppers_buy_mostly_from_their_missions_categories(world) -> None:
    category = world.items["category_idx"].to_numpy()
    shoppers, missions = world.users, world.missions
    users = world.purchases["user_idx"].to_numpy()
    on_mission = shoppers.mission[users] != BROWSER
    focus = np.array([category[i] in missions.focus[shoppers.mission[u]]
                      for u, i in zip(users[on_mission], world.purchases["item_idx"].to_numpy()[on_mission])])
    assert focus.mean() > 0.85


def test_public_items_carry_the_attributes_as_catalog_metadata_only(world, tmp_path) -> None:
    frame = public_items(world, [tmp_path / f"{i}.png" for i in world.items["item_id"]])
    assert list(frame.columns) == ["item_id", "text", "image_path", "category", "profile_category", "attributes"]
    assert set(frame["attributes"].iat[0]) == set(IMAGE_ATTRIBUTES + TEXT_ATTRIBUTES)
    assert "image_spec" not in frame and "popularity" not in frame
