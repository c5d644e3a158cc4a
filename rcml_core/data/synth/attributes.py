"""The attributes of the "missions" store: which modality shows each, and their values.

Shoppers on a mission buy items that share one attribute (a nursery in one colour, a wardrobe
in one material, everything for one age). Each attribute is visible in exactly one modality,
so that a model has to read the right one for the relation at hand:

    image only   colour (the drawn product's fill), pattern (its surface: stripes, dots, ...)
    text only    material, age range, brand (words of the title)

Categories and their sub-categories (nouns, qualifiers, motifs) come from vocab.BABY_DOMAIN
and show in both modalities (a title noun and the drawn shape). Which materials and brands a
category offers is fixed here, overlapping across categories so that a shopper loyal to a
material or a brand can find it in several categories.

This module is data plus lookup types; sampling lives in mission_catalog and missions.
"""

from __future__ import annotations

from dataclasses import dataclass

from rcml_core.data.synth.vocab import BABY_DOMAIN, RGB, Domain

IMAGE_ATTRIBUTES: tuple[str, ...] = ("colour", "pattern")
TEXT_ATTRIBUTES: tuple[str, ...] = ("material", "age range", "brand")
ATTRIBUTES: tuple[str, ...] = IMAGE_ATTRIBUTES + TEXT_ATTRIBUTES

# Surface patterns the renderer draws (render._PATTERNS), never named in a title.
PATTERNS: tuple[str, ...] = ("solid", "bold_stripes", "bold_dots", "checks", "zigzag")

MATERIALS: tuple[str, ...] = (
    "Organic Cotton", "Bamboo", "Silicone", "Beech Wood", "Stainless Steel",
    "Linen", "Merino Wool", "Recycled Plastic", "Glass", "Felt",
)

AGE_RANGES: tuple[str, ...] = ("Newborn", "0-6 Months", "6-12 Months", "12-24 Months", "2-4 Years")

BRANDS: tuple[str, ...] = (
    "Little Sprout", "Willow Nest", "Regal Cub", "Maison Bebe", "Heritage Kids", "Old Orchard",
    "Roam Tots", "Trek Kiddo", "Bright Bean", "Giggle Jar", "Rainbow Kite", "Velvet Crown",
)

# Background tints: a nuisance that varies per item and carries no attribute.
BACKGROUNDS: tuple[RGB, ...] = (
    (246, 244, 238), (236, 238, 242), (250, 250, 250), (240, 236, 230), (232, 240, 236), (244, 240, 246),
)

# Per category (vocab.BABY_CATEGORIES order): the materials and brands it is offered in.
_CATEGORY_MATERIALS: dict[str, tuple[str, ...]] = {
    "Feeding": ("Silicone", "Bamboo", "Stainless Steel", "Glass", "Recycled Plastic", "Organic Cotton"),
    "Nursery": ("Organic Cotton", "Bamboo", "Linen", "Beech Wood", "Felt", "Merino Wool"),
    "Diapering": ("Organic Cotton", "Bamboo", "Recycled Plastic", "Felt", "Linen"),
    "Bath": ("Organic Cotton", "Bamboo", "Silicone", "Recycled Plastic", "Linen"),
    "Safety": ("Beech Wood", "Stainless Steel", "Recycled Plastic", "Silicone", "Felt"),
    "Strollers": ("Stainless Steel", "Recycled Plastic", "Organic Cotton", "Linen", "Merino Wool"),
    "Car Seats": ("Merino Wool", "Organic Cotton", "Stainless Steel", "Recycled Plastic", "Bamboo"),
    "Toys": ("Beech Wood", "Felt", "Organic Cotton", "Silicone", "Merino Wool", "Recycled Plastic"),
    "Apparel": ("Organic Cotton", "Bamboo", "Merino Wool", "Linen", "Felt"),
    "Health": ("Silicone", "Glass", "Stainless Steel", "Bamboo", "Recycled Plastic"),
}
_CATEGORY_BRANDS: dict[str, tuple[str, ...]] = {
    "Feeding": ("Little Sprout", "Willow Nest", "Bright Bean", "Giggle Jar", "Maison Bebe"),
    "Nursery": ("Willow Nest", "Regal Cub", "Maison Bebe", "Heritage Kids", "Velvet Crown"),
    "Diapering": ("Little Sprout", "Roam Tots", "Giggle Jar", "Old Orchard", "Trek Kiddo"),
    "Bath": ("Little Sprout", "Bright Bean", "Rainbow Kite", "Willow Nest", "Old Orchard"),
    "Safety": ("Heritage Kids", "Old Orchard", "Trek Kiddo", "Regal Cub", "Roam Tots"),
    "Strollers": ("Roam Tots", "Trek Kiddo", "Velvet Crown", "Maison Bebe", "Heritage Kids"),
    "Car Seats": ("Regal Cub", "Roam Tots", "Trek Kiddo", "Velvet Crown", "Old Orchard"),
    "Toys": ("Bright Bean", "Giggle Jar", "Rainbow Kite", "Heritage Kids", "Little Sprout"),
    "Apparel": ("Rainbow Kite", "Little Sprout", "Velvet Crown", "Giggle Jar", "Willow Nest"),
    "Health": ("Bright Bean", "Rainbow Kite", "Maison Bebe", "Regal Cub", "Trek Kiddo"),
}


@dataclass(frozen=True)
class AttributeDomain:
    """The categories of a `vocab.Domain` plus the attribute values every category offers."""

    base: Domain
    patterns: tuple[str, ...]
    materials: tuple[tuple[str, ...], ...]  # per category index
    brands: tuple[tuple[str, ...], ...]  # per category index
    age_ranges: tuple[str, ...]
    backgrounds: tuple[RGB, ...]

    @property
    def n_categories(self) -> int:
        return len(self.base.categories)

    def values(self, attribute: str, category: int) -> tuple[str, ...]:
        """Every value of `attribute` an item of `category` can have."""
        if attribute == "colour":
            return self.base.colour_names
        if attribute == "pattern":
            return self.patterns
        if attribute == "material":
            return self.materials[category]
        if attribute == "age range":
            return self.age_ranges
        if attribute == "brand":
            return self.brands[category]
        raise ValueError(f"unknown attribute {attribute!r}; known: {ATTRIBUTES}")


def _check_words_do_not_collide(domain: AttributeDomain) -> None:
    """Materials and brands are the title's only signal of themselves: none of their words may occur
    in a noun or qualifier (else a title would name a material it is not made of)."""
    words = {w for c in domain.base.categories for s in c.subcategories for p in s.nouns + s.qualifiers for w in p.split()}
    for value in MATERIALS + BRANDS:
        clash = set(value.split()) & words
        if clash:
            raise ValueError(f"attribute value {value!r} shares the word(s) {sorted(clash)} with the title vocabulary")


MISSION_DOMAIN = AttributeDomain(
    base=BABY_DOMAIN,
    patterns=PATTERNS,
    materials=tuple(_CATEGORY_MATERIALS[c.name] for c in BABY_DOMAIN.categories),
    brands=tuple(_CATEGORY_BRANDS[c.name] for c in BABY_DOMAIN.categories),
    age_ranges=AGE_RANGES,
    backgrounds=BACKGROUNDS,
)
_check_words_do_not_collide(MISSION_DOMAIN)
