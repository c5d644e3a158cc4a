"""Sampling the "missions" store's catalog: titles that name only the text attributes, images that
show only the image attributes.

Each item gets a category and sub-category (both modalities: a title noun and the drawn shape), a
colour and a pattern (image only: the fill and the surface of the drawn product), a material, an
age range and a brand (title only: "Willow Nest Bamboo Crib Sheet, Breathable, for 0-6 Months"),
a Zipf-like popularity weight within its category, a background tint that means nothing, and the
spec of its image. Attributes are drawn independently of each other, so no attribute can be read
off another.

The returned frame holds public columns (what a real catalog shows: the title, the category path,
and an `attributes` dict such as Amazon's `details`, which only the relation clustering reads) and
latent ones (what the generator knows).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rcml_core.data.synth.attributes import AttributeDomain
from rcml_core.data.synth.catalog import category_sizes, pick, shuffled_items, zipf_weights
from rcml_core.data.synth.config import SynthConfig
from rcml_core.data.synth.render import ImageSpec
from rcml_core.data.synth.vocab import SubCategory

LATENT_ITEM_COLUMNS: tuple[str, ...] = ("category_idx", "colour_idx", "popularity", "image_spec")
_P_QUALIFIER = 0.5


def _qualifiers(sub: SubCategory) -> tuple[str, ...]:
    """The sub-category's qualifiers without age statements ("for 6+ Months"): age is an attribute here."""
    return tuple(q for q in sub.qualifiers if "Month" not in q and "Year" not in q)


def mission_title(brand: str, material: str, noun: str, qualifier: str | None, age: str) -> str:
    """'Brand Material Noun[, qualifier], for <age>' ('Newborn' stands alone)."""
    head = f"{brand} {material} {noun}"
    if qualifier is not None:
        head += f" {qualifier}" if qualifier.startswith("with ") else f", {qualifier}"
    return f"{head}, {age}" if age == "Newborn" else f"{head}, for {age}"


def sample_mission_items(config: SynthConfig, domain: AttributeDomain, rng: np.random.Generator) -> pd.DataFrame:
    """`config.n_items` items in a random order (ids carry no attribute); see the module docstring."""
    base = domain.base
    sizes = category_sizes(config.n_items, domain.n_categories, rng)  # (C,)
    rows: list[dict] = []
    for c, category in enumerate(base.categories):
        popularity = zipf_weights(int(sizes[c]), config.popularity_exponent, rng)  # (n_c,)
        for k in range(int(sizes[c])):
            sub = category.subcategories[int(rng.integers(len(category.subcategories)))]
            colour_idx = int(rng.integers(len(base.colours)))
            attributes = {
                "colour": base.colours[colour_idx].name,
                "pattern": pick(domain.patterns, rng),
                "material": pick(domain.materials[c], rng),
                "age range": pick(domain.age_ranges, rng),
                "brand": pick(domain.brands[c], rng),
            }
            qualifiers = _qualifiers(sub)
            qualifier = pick(qualifiers, rng, _P_QUALIFIER) if qualifiers else None
            spec = ImageSpec(
                motif=category.motif,
                variant=sub.variant,
                colour=base.colours[colour_idx].rgb,
                background=domain.backgrounds[int(rng.integers(len(domain.backgrounds)))],
                texture=attributes["pattern"],
                trim=None,
                scale=float(rng.uniform(0.6, 0.8)),
                rotation=float(rng.uniform(-15.0, 15.0)),
                offset=(float(rng.uniform(-0.06, 0.06)), float(rng.uniform(-0.06, 0.06))),
                noise_sigma=config.noise_sigma,
                noise_seed=int(rng.integers(2**63)),
            )
            rows.append({
                "text": mission_title(attributes["brand"], attributes["material"], pick(sub.nouns, rng), qualifier,
                                      attributes["age range"]),
                "category": f"{base.name} > {category.name} > {sub.name}",
                "profile_category": category.name,
                "attributes": attributes,
                "category_idx": c,
                "colour_idx": colour_idx,
                "popularity": float(popularity[k]),
                "image_spec": spec,
            })
    return shuffled_items(rows, rng)
