"""Sampling the item catalog: titles, attributes, popularity and image specs.

Each item gets a category (and sub-category), a style line, a colour, a brand of its
style, a title that reads like a product listing and names those attributes
("Little Sprout Organic Silicone Feeding Spoon Set, Sage Green, 4-Pack"), a Zipf-like
popularity weight within its category, and the spec of its image (`render.ImageSpec`).

The returned frame holds public columns (what a real catalog shows) and latent ones
(what the generator knows). Only the public ones are ever written to a dataset.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rcml_core.data.synth.config import SynthConfig
from rcml_core.data.synth.render import ImageSpec
from rcml_core.data.synth.vocab import Category, Domain

PUBLIC_ITEM_COLUMNS: tuple[str, ...] = ("item_id", "text", "category", "profile_category")
LATENT_ITEM_COLUMNS: tuple[str, ...] = (
    "category_idx",  # index into domain.categories
    "style_idx",  # index into domain.styles
    "colour_idx",  # index into domain.colours
    "popularity",  # unnormalised Zipf weight within the category
    "image_spec",  # render.ImageSpec
)

_P_ADJECTIVE = 0.7  # share of titles carrying a style adjective after the brand
_P_MATERIAL = 0.85
_P_QUALIFIER = 0.5


def category_sizes(n_items: int, n_categories: int, rng: np.random.Generator) -> np.ndarray:
    """(C,) item counts per category: uneven (Dirichlet shares), at least 2 each, summing to n_items."""
    shares = rng.dirichlet(np.full(n_categories, 8.0))  # (C,)
    sizes = 2 + np.floor(shares * (n_items - 2 * n_categories)).astype(np.int64)
    short = n_items - int(sizes.sum())
    sizes[np.argsort(-shares)[:short]] += 1  # hand out the rounding remainder to the largest shares
    return sizes


def zipf_weights(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """(n,) popularity weights rank^-exponent, ranks shuffled over the n items."""
    ranks = rng.permutation(n) + 1  # (n,) 1..n
    return ranks.astype(np.float64) ** -exponent


def compose_title(
    brand: str, adjective: str | None, material: str | None, noun: str, qualifier: str | None, colour: str, size: str
) -> str:
    """A product title: 'Brand [Adjective] [Material] Noun[ qualifier], Colour, Size'."""
    head = " ".join(part for part in (brand, adjective, material, noun) if part)
    if qualifier is None:
        return f"{head}, {colour}, {size}"
    if qualifier.startswith(("for ", "with ")):
        return f"{head} {qualifier}, {colour}, {size}"
    return f"{head}, {qualifier}, {colour}, {size}"


def pick(options: tuple[str, ...], rng: np.random.Generator, p_present: float = 1.0) -> str | None:
    if p_present < 1.0 and rng.random() >= p_present:
        return None
    return options[int(rng.integers(len(options)))]


def sample_items(config: SynthConfig, domain: Domain, rng: np.random.Generator) -> pd.DataFrame:
    """Sample `config.n_items` items; rows in a random order (ids carry no attribute).

    Returns a frame with PUBLIC_ITEM_COLUMNS and LATENT_ITEM_COLUMNS; `category` is the
    path "Domain > Category > Sub", `profile_category` the level users' tastes are over.
    """
    n_cat, n_style, n_colour = len(domain.categories), len(domain.styles), len(domain.colours)
    sizes = category_sizes(config.n_items, n_cat, rng)  # (C,)
    style_share = rng.dirichlet(np.full(n_style, 6.0), size=n_cat)  # (C, S): brands' presence per category
    rows: list[dict] = []
    for c, category in enumerate(domain.categories):
        popularity = zipf_weights(int(sizes[c]), config.popularity_exponent, rng)  # (n_c,)
        styles = rng.choice(n_style, size=int(sizes[c]), p=style_share[c])  # (n_c,)
        colours = rng.integers(n_colour, size=int(sizes[c]))  # (n_c,)
        for k in range(int(sizes[c])):
            rows.append(
                _sample_item(category, c, int(styles[k]), int(colours[k]), float(popularity[k]), config, domain, rng)
            )
    return shuffled_items(rows, rng)


def shuffled_items(rows: list[dict], rng: np.random.Generator) -> pd.DataFrame:
    """The item rows in a random order with ids SYN000000, SYN000001, ... in that order (ids carry no attribute)."""
    order = rng.permutation(len(rows))
    items = pd.DataFrame([rows[i] for i in order])
    width = max(6, len(str(len(items))))
    items.insert(0, "item_id", [f"SYN{i:0{width}d}" for i in range(len(items))])
    return items.reset_index(drop=True)


def _sample_item(
    category: Category,
    category_idx: int,
    style_idx: int,
    colour_idx: int,
    popularity: float,
    config: SynthConfig,
    domain: Domain,
    rng: np.random.Generator,
) -> dict:
    sub = category.subcategories[int(rng.integers(len(category.subcategories)))]
    style = domain.styles[style_idx]
    colour = domain.colours[colour_idx]
    title = compose_title(
        brand=pick(style.brands, rng),
        adjective=pick(style.adjectives, rng, _P_ADJECTIVE),
        material=pick(sub.materials, rng, _P_MATERIAL),
        noun=pick(sub.nouns, rng),
        qualifier=pick(sub.qualifiers, rng, _P_QUALIFIER),
        colour=colour.name,
        size=pick(sub.sizes, rng),
    )
    spec = ImageSpec(
        motif=category.motif,
        variant=sub.variant,
        colour=colour.rgb,
        background=style.background,
        texture=style.texture,
        trim=style.trim,
        scale=float(rng.uniform(0.55, 0.8)),
        rotation=float(rng.uniform(-20.0, 20.0)),
        offset=(float(rng.uniform(-0.07, 0.07)), float(rng.uniform(-0.07, 0.07))),
        noise_sigma=config.noise_sigma,
        noise_seed=int(rng.integers(2**63)),
    )
    return {
        "text": title,
        "category": f"{domain.name} > {category.name} > {sub.name}",
        "profile_category": category.name,
        "category_idx": category_idx,
        "style_idx": style_idx,
        "colour_idx": colour_idx,
        "popularity": popularity,
        "image_spec": spec,
    }
