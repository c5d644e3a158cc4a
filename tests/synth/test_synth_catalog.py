"""Items of the legacy "profiles" generator: titles that read like listings and name their attributes;
images that show them. (The default "missions" catalog: test_missions_catalog.py.)"""

from __future__ import annotations

import re

import numpy as np
import pytest

from rcml_core.data.synth import simulate_world, synth_preset
from rcml_core.data.synth.catalog import compose_title
from rcml_core.data.synth.render import encode_png, render_image


@pytest.fixture(scope="module")
def world():
    return simulate_world(synth_preset("legacy-tiny"))


def _object_pixels(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(background colour from the corners, pixels far from it) of an (H, W, 3) image."""
    corners = np.concatenate([image[:4, :4], image[:4, -4:], image[-4:, :4], image[-4:, -4:]]).reshape(-1, 3)
    background = np.median(corners, axis=0)
    flat = image.reshape(-1, 3)  # (H*W, 3)
    return background, flat[np.linalg.norm(flat - background, axis=1) > 50]


def test_compose_title_reads_like_a_product_listing() -> None:
    title = compose_title("Little Sprout", "Organic", "Silicone", "Feeding Spoon Set", None, "Sage Green", "4-Pack")
    assert title == "Little Sprout Organic Silicone Feeding Spoon Set, Sage Green, 4-Pack"
    assert (
        compose_title("Regal Cub", None, None, "Sippy Cup", "for 9+ Months", "Plum", "5 oz")
        == "Regal Cub Sippy Cup for 9+ Months, Plum, 5 oz"
    )
    assert (
        compose_title("Roam Tots", "Travel", "Mesh", "Rain Cover", "Universal Fit", "Teal", "Single")
        == "Roam Tots Travel Mesh Rain Cover, Universal Fit, Teal, Single"
    )


def test_every_title_names_its_colour_brand_and_a_noun_of_its_subcategory(world) -> None:
    domain = world.domain
    for row in world.items.itertuples():
        style = domain.styles[row.style_idx]
        colour = domain.colours[row.colour_idx]
        _, cat_name, sub_name = row.category.split(" > ")
        sub = next(s for s in domain.categories[row.category_idx].subcategories if s.name == sub_name)
        assert cat_name == domain.categories[row.category_idx].name == row.profile_category
        assert re.search(rf", {re.escape(colour.name)}, [^,]+$", row.text), row.text
        assert any(row.text.startswith(brand + " ") for brand in style.brands), row.text
        assert any(noun in row.text for noun in sub.nouns), row.text


def test_style_and_colour_words_are_unambiguous(world) -> None:
    """Brands and adjectives are the title's only style signal and the colour name its
    only colour signal: no word of one style occurs in another style, in a colour name,
    or in any noun, material, qualifier or size."""
    domain = world.domain
    per_style = [{w for phrase in s.brands + s.adjectives for w in phrase.split()} for s in domain.styles]
    style_words = set().union(*per_style)
    assert sum(len(words) for words in per_style) == len(style_words)  # no word shared by two styles
    colour_words = {w for c in domain.colours for w in c.name.split()}
    assert not colour_words & style_words
    for category in domain.categories:
        for sub in category.subcategories:
            for phrase in sub.nouns + sub.materials + sub.qualifiers + sub.sizes:
                words = set(phrase.split())
                assert not words & (style_words | colour_words), (category.name, sub.name, phrase)


def test_style_adjectives_appear_only_in_titles_of_that_style(world) -> None:
    domain = world.domain
    for row in world.items.itertuples():
        words = set(row.text.replace(",", " ").split())
        for s, style in enumerate(domain.styles):
            if s != row.style_idx:
                assert not words & {a for a in style.adjectives if " " not in a}, (row.text, style.name)


def test_images_show_the_colour_named_in_the_title(world) -> None:
    palette = np.array([c.rgb for c in world.domain.colours], dtype=np.float64)  # (K, 3)
    hits = []
    for row in world.items.itertuples():
        image = np.asarray(render_image(row.image_spec, 64), dtype=np.float64)  # (64, 64, 3)
        _, obj = _object_pixels(image)
        mean = obj.mean(axis=0)  # (3,) mean colour of the drawn product
        hits.append(int(np.argmin(((palette - mean) ** 2).sum(axis=1))) == row.colour_idx)
    assert np.mean(hits) >= 0.95


def test_images_show_their_style_line_in_the_background(world) -> None:
    backgrounds = np.array([s.background for s in world.domain.styles], dtype=np.float64)  # (S, 3)
    for row in world.items.head(60).itertuples():
        background, _ = _object_pixels(np.asarray(render_image(row.image_spec, 64), dtype=np.float64))
        assert int(np.argmin(((backgrounds - background) ** 2).sum(axis=1))) == row.style_idx


def test_images_are_rgb_pngs_of_the_configured_size(world) -> None:
    image = render_image(world.items["image_spec"].iat[0], 48)
    assert image.mode == "RGB" and image.size == (48, 48)
    assert encode_png(image)[:8] == b"\x89PNG\r\n\x1a\n"


def test_rendering_is_deterministic_and_items_of_one_kind_still_differ(world) -> None:
    specs = world.items["image_spec"]
    assert encode_png(render_image(specs.iat[0], 64)) == encode_png(render_image(specs.iat[0], 64))
    cols = ["category_idx", "style_idx", "colour_idx"]
    twins = world.items[world.items.duplicated(cols, keep=False)].sort_values(cols).head(2)
    assert len(twins) == 2 and (twins[cols].iloc[0] == twins[cols].iloc[1]).all()
    a, b = (np.asarray(render_image(s, 64), dtype=np.int16) for s in twins["image_spec"])
    assert np.abs(a - b).mean() > 5  # size, rotation, position and noise vary per item
