"""The synthetic store's domain: categories, style lines and colours.

A Baby-like store (paper appendix A.2.1 clusters users of the real Amazon Baby domain).
Each category has its own title vocabulary (sub-categories with their nouns, materials,
qualifiers, sizes) and a visual motif (a shape family drawn by `render`). Styles and
colours cut across categories and show in both modalities: a style line puts its brand
and adjectives in the title and its background, texture and trim in the image; a colour
is named in the title and fills the drawn product.

This module is pure data plus the lookup types; sampling lives in `catalog`.
"""

from __future__ import annotations

from dataclasses import dataclass

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class SubCategory:
    """A sub-category and the title words its products use."""

    name: str
    nouns: tuple[str, ...]  # product nouns, e.g. "Feeding Spoon Set"
    materials: tuple[str, ...]  # e.g. "Silicone"
    qualifiers: tuple[str, ...]  # optional title suffix, e.g. "Dishwasher Safe", "for 6+ Months"
    sizes: tuple[str, ...]  # last title field, e.g. "4-Pack", "0-3 Months"
    variant: int  # motif proportion variant (0, 1, 2) so sub-categories look different


@dataclass(frozen=True)
class Category:
    name: str  # top level: what users' category distributions are over
    motif: str  # shape family drawn by render.MOTIFS
    subcategories: tuple[SubCategory, ...]


@dataclass(frozen=True)
class Style:
    """A product line: brands and adjectives in the title, a look in the image."""

    name: str
    brands: tuple[str, ...]
    adjectives: tuple[str, ...]
    background: RGB  # image background tint
    texture: str  # object texture drawn by render.TEXTURES
    trim: RGB | None  # outline colour around the object, None for no outline


@dataclass(frozen=True)
class Colour:
    name: str  # as written in the title
    rgb: RGB  # fill colour of the drawn product


@dataclass(frozen=True)
class Domain:
    name: str
    categories: tuple[Category, ...]
    styles: tuple[Style, ...]
    colours: tuple[Colour, ...]

    @property
    def colour_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.colours)


def _sub(
    name: str, variant: int, nouns: str, materials: str, qualifiers: str, sizes: str
) -> SubCategory:
    """A sub-category from '|'-separated word lists (keeps the table below readable)."""
    return SubCategory(
        name=name,
        nouns=tuple(nouns.split("|")),
        materials=tuple(materials.split("|")),
        qualifiers=tuple(qualifiers.split("|")),
        sizes=tuple(sizes.split("|")),
        variant=variant,
    )


BABY_CATEGORIES: tuple[Category, ...] = (
    Category("Feeding", "bottle", (
        _sub("Bottles", 0, "Baby Bottle|Anti-Colic Bottle|Bottle Nipple Set|Wide-Neck Bottle",
             "Glass|Silicone|BPA-Free Plastic|Stainless Steel", "Slow Flow|for 0+ Months|Leak-Proof|with Vent",
             "4 oz|8 oz|2-Pack|3-Pack"),
        _sub("Bibs", 1, "Bib|Bandana Bib|Pocket Bib|Smock Bib", "Silicone|Cotton|Waterproof|Muslin",
             "Dishwasher Safe|Adjustable Snap|Stain Resistant|with Food Catcher", "2-Pack|3-Pack|5-Pack"),
        _sub("Utensils", 2, "Feeding Spoon Set|Toddler Fork and Spoon|Suction Bowl|Divided Plate",
             "Silicone|Bamboo|Stainless Steel|BPA-Free Plastic", "for 6+ Months|Dishwasher Safe|with Storage Lid",
             "2-Pack|4-Pack|6-Piece"),
        _sub("Cups", 1, "Sippy Cup|Straw Cup|Snack Cup|Transition Cup", "Silicone|Stainless Steel|BPA-Free Plastic",
             "Spill-Proof|with Handles|for 9+ Months", "5 oz|9 oz|2-Pack"),
    )),
    Category("Nursery", "crib", (
        _sub("Bedding", 0, "Crib Sheet|Swaddle Blanket|Sleep Sack|Muslin Blanket", "Cotton|Bamboo|Jersey Knit|Linen",
             "Breathable|Fits Standard Crib Mattress|Soft Touch|Machine Washable", "2-Pack|3-Pack|0-6 Months|Standard"),
        _sub("Furniture", 1, "Convertible Crib|Changing Dresser|Rocking Glider|Toddler Bed",
             "Pine Wood|Solid Oak|Beech Wood|Upholstered", "Easy Assembly|Non-Toxic Finish|3-in-1|with Drawer",
             "Standard|Mini|Full Size"),
        _sub("Decor", 2, "Night Light|Wall Decal Set|Crib Mobile|Blackout Curtains", "Felt|Linen|Cotton|LED",
             "Dimmable|Room Darkening|Peel and Stick|with Timer", "Set of 2|Set of 3|Large|Small"),
    )),
    Category("Diapering", "diaper", (
        _sub("Diaper Bags", 0, "Diaper Bag Backpack|Diaper Tote|Changing Clutch",
             "Waterproof Polyester|Canvas|Vegan Leather|Nylon", "with Changing Pad|Insulated Pockets|Large Capacity",
             "One Size|Large"),
        _sub("Changing", 1, "Changing Pad|Changing Pad Cover|Wipes Dispenser|Diaper Caddy",
             "Memory Foam|Cotton|Waterproof|Felt", "Contoured|Non-Slip|Machine Washable", "Standard|2-Pack"),
        _sub("Cloth Diapers", 2, "Cloth Diaper Set|Diaper Insert Set|Swim Diaper", "Cotton|Bamboo|Microfiber|Hemp",
             "Reusable|Adjustable Snaps|Leak Guard", "6-Pack|12-Pack|One Size"),
        _sub("Disposal", 1, "Diaper Pail|Pail Refill Bags", "Steel|Plastic|Biodegradable",
             "Odor Lock|Hands-Free|Foot Pedal", "Standard|12-Pack|3-Pack"),
    )),
    Category("Bath", "tub", (
        _sub("Tubs", 0, "Baby Bathtub|Bath Seat|Bath Sponge Cushion", "Plastic|Foam|Silicone",
             "Non-Slip|with Drain Plug|Foldable", "Newborn|Toddler|Standard"),
        _sub("Towels", 1, "Hooded Towel|Washcloth Set|Bath Robe", "Terry Cotton|Bamboo|Muslin",
             "Quick Dry|Extra Soft|Absorbent", "Newborn|Toddler|2-Pack|6-Pack"),
        _sub("Bath Care", 2, "Rinse Cup|Bath Thermometer|Tub Spout Cover|Shampoo Visor", "Silicone|Plastic|Rubber",
             "Tear-Free|Soft Edge|Waterfall", "Single|2-Pack"),
    )),
    Category("Safety", "gate", (
        _sub("Gates", 0, "Baby Gate|Walk-Through Gate|Playpen Fence|Stair Gate", "Steel|Aluminum|Wood|Mesh",
             "Extra Tall|Pressure Mounted|Auto Close|No Drilling", "Standard|Wide|Extra Wide"),
        _sub("Childproofing", 1, "Cabinet Lock Set|Outlet Covers|Corner Guards|Door Stopper",
             "Silicone|ABS Plastic|Foam|Magnetic", "Easy Install|No Drilling|Child Proof|Adhesive",
             "4-Pack|8-Pack|12-Pack"),
        _sub("Monitors", 2, "Video Baby Monitor|Audio Monitor|Breathing Monitor", "Wireless|HD|Wi-Fi",
             "Night Vision|Two-Way Talk|Long Range", "Single|with 2 Cameras"),
    )),
    Category("Strollers", "stroller", (
        _sub("Strollers", 0, "Lightweight Stroller|Jogging Stroller|Double Stroller|Umbrella Stroller",
             "Aluminum|Steel Frame|Mesh", "One-Hand Fold|All Terrain|with Canopy|Reclining Seat",
             "Single|Standard|Full Size"),
        _sub("Stroller Accessories", 1, "Stroller Organizer|Stroller Fan|Rain Cover|Cup Holder",
             "Oxford Fabric|Polyester|Clear Vinyl|Silicone", "Universal Fit|Clip-On|Insulated", "Single|2-Pack"),
        _sub("Travel Systems", 2, "Travel System|Stroller Frame|Bassinet Attachment", "Aluminum|Steel Frame|Polyester",
             "Universal Fit|Car Seat Compatible|Lightweight", "Single|Full Size"),
    )),
    Category("Car Seats", "seat", (
        _sub("Seats", 0, "Infant Car Seat|Convertible Car Seat|Booster Seat|All-in-One Car Seat",
             "Memory Foam|Steel Frame|Breathable Mesh|Polyester", "Side Impact Protection|Rear Facing|Easy Latch",
             "4-35 lbs|5-65 lbs|40-120 lbs"),
        _sub("Seat Accessories", 1, "Seat Protector Mat|Backseat Mirror|Car Seat Canopy|Head Support",
             "Leatherette|Shatterproof Acrylic|Polyester|Memory Foam", "Crash Tested|Universal Fit|Adjustable",
             "One Size|Large|2-Pack"),
        _sub("Bases", 2, "Car Seat Base|Car Seat Travel Bag", "Steel|Nylon|Padded Polyester",
             "Easy Latch|Gate Check|Level Indicator", "One Size|Standard"),
    )),
    Category("Toys", "star", (
        _sub("Infant Toys", 0, "Rattle Set|Teether|Crinkle Book|Soft Blocks", "Silicone|Rubber|Wood|Fabric",
             "for 3+ Months|Sensory|BPA-Free", "3-Piece|6-Piece|Single"),
        _sub("Activity", 1, "Activity Cube|Play Mat|Stacking Rings|Busy Board", "Wood|Foam|Felt|Plastic",
             "Montessori|Educational|for 12+ Months", "Large|Small|10-Piece"),
        _sub("Plush", 2, "Plush Teddy Bear|Lovey Blanket|Plush Bunny|Plush Elephant", "Plush|Minky|Knit|Velour",
             "Gift Box|Extra Soft|Machine Washable", "Small|Large|12 Inch"),
    )),
    Category("Apparel", "onesie", (
        _sub("Bodysuits", 0, "Short Sleeve Bodysuit|Long Sleeve Bodysuit|Romper", "Cotton|Bamboo Rayon|Jersey Knit",
             "Tagless|Snap Closure|Unisex", "Newborn|0-3 Months|3-6 Months|5-Pack"),
        _sub("Sleepwear", 1, "Footed Pajamas|Sleep Gown|Zip Sleeper", "Cotton|Fleece|Bamboo Rayon",
             "2-Way Zipper|Snug Fit|Unisex", "0-3 Months|3-6 Months|6-12 Months|2-Pack"),
        _sub("Accessories", 2, "Knit Hat|Scratch Mittens|Socks Set|Booties", "Knit|Cotton|Fleece|Wool",
             "Stay-On|Non-Slip Grip|Unisex", "Newborn|0-6 Months|6-Pack"),
    )),
    Category("Health", "cross", (
        _sub("Thermometers", 0, "Digital Thermometer|Forehead Thermometer|Ear Thermometer", "Digital|Infrared|Contact",
             "Fast Reading|Fever Alarm|Pediatrician Recommended", "Single|with Case"),
        _sub("Grooming", 1, "Grooming Kit|Nail Clipper Set|Hair Brush Set|Nail File",
             "Stainless Steel|Soft Bristle|Goat Hair|Electric", "Gentle|with Case|Safety Guard",
             "4-Piece|10-Piece|Single"),
        _sub("Care", 2, "Nasal Aspirator|Medicine Dispenser|Cool Mist Humidifier|Teething Gel Applicator",
             "Silicone|Glass|Electric|Plastic", "Gentle|Pediatrician Recommended|Quiet", "Single|2-Pack|Travel Size"),
    )),
)

BABY_STYLES: tuple[Style, ...] = (
    Style(
        name="organic",
        brands=("Little Sprout", "Willow Nest", "Meadow & Moss"),
        adjectives=("Organic", "Natural", "Eco-Friendly"),
        background=(240, 234, 214),  # cream
        texture="speckle",
        trim=None,
    ),
    Style(
        name="deluxe",
        brands=("Regal Cub", "Velvet Crown", "Maison Bebe"),
        adjectives=("Deluxe", "Premium", "Luxury"),
        background=(214, 216, 228),  # cool grey
        texture="gloss",
        trim=(212, 175, 55),  # gold outline
    ),
    Style(
        name="classic",
        brands=("Heritage Kids", "Old Orchard", "Tiny Tailor"),
        adjectives=("Classic", "Timeless", "Traditional"),
        background=(250, 250, 250),  # white
        texture="stripes",
        trim=(60, 60, 60),  # thin dark outline
    ),
    Style(
        name="travel",
        brands=("Roam Tots", "Wayfarer Wee", "Trek Kiddo"),
        adjectives=("On-the-Go", "Portable", "Compact"),
        background=(218, 234, 244),  # pale blue
        texture="hatch",
        trim=None,
    ),
    Style(
        name="playful",
        brands=("Bright Bean", "Giggle Jar", "Rainbow Kite"),
        adjectives=("Playful", "Colorful", "Fun"),
        background=(252, 244, 204),  # pale yellow
        texture="dots",
        trim=None,
    ),
)

BABY_COLOURS: tuple[Colour, ...] = (
    Colour("Sage Green", (118, 158, 104)),
    Colour("Sky Blue", (86, 168, 232)),
    Colour("Navy Blue", (30, 48, 122)),
    Colour("Blush Pink", (236, 146, 170)),
    Colour("Coral Red", (226, 84, 68)),
    Colour("Sunflower Yellow", (240, 196, 30)),
    Colour("Lavender", (160, 124, 212)),
    Colour("Mint", (110, 214, 176)),
    Colour("Charcoal Grey", (66, 68, 76)),
    Colour("Terracotta", (186, 98, 56)),
    Colour("Teal", (18, 128, 138)),
    Colour("Plum", (118, 36, 88)),
)

BABY_DOMAIN = Domain(name="Baby", categories=BABY_CATEGORIES, styles=BABY_STYLES, colours=BABY_COLOURS)
