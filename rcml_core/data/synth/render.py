"""Product images rendered with Pillow: category motif x colour x style look x per-item jitter.

An image shows what the title says and nothing else: the category's shape family (a
bottle for Feeding, a crib for Nursery, ...) in the sub-category's proportions, filled
with the item's colour, with its style line's background tint, surface texture and trim,
placed with per-item size, rotation and offset, plus pixel noise. Rendering is a pure
function of an `ImageSpec` (its noise comes from `spec.noise_seed`), so the same spec
always gives the same PNG bytes.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from rcml_core.data.synth.vocab import RGB

_SUPERSAMPLE = 2  # draw at 2x and downsample: anti-aliased edges without a drawing library
_VARIANT_ASPECT = (0.85, 1.0, 1.2)  # sub-category variant -> height / width of the motif box


@dataclass(frozen=True)
class ImageSpec:
    """Everything that determines one item's image."""

    motif: str  # key of MOTIFS
    variant: int  # index into _VARIANT_ASPECT
    colour: RGB  # product fill colour
    background: RGB  # style background tint
    texture: str  # key of TEXTURES
    trim: RGB | None  # style outline colour, or None
    scale: float  # motif width as a fraction of the image side
    rotation: float  # degrees, counter-clockwise
    offset: tuple[float, float]  # (dx, dy) of the motif centre, as fractions of the side
    noise_sigma: float  # Gaussian pixel noise std in 0..255 units
    noise_seed: int


Box = tuple[float, float, float, float]  # (cx, cy, w, h) in canvas pixels
MotifFn = Callable[[ImageDraw.ImageDraw, Box], None]


def _polygon(d: ImageDraw.ImageDraw, b: Box, points: list[tuple[float, float]]) -> None:
    """Fill a polygon whose vertices (u, v) are fractions of the box: (cx + u * w, cy + v * h)."""
    cx, cy, w, h = b
    d.polygon([(cx + u * w, cy + v * h) for u, v in points], fill=255)


def _bottle(d: ImageDraw.ImageDraw, b: Box) -> None:
    cx, cy, w, h = b
    d.rounded_rectangle((cx - 0.3 * w, cy - 0.18 * h, cx + 0.3 * w, cy + 0.5 * h), radius=0.12 * w, fill=255)
    d.rectangle((cx - 0.22 * w, cy - 0.3 * h, cx + 0.22 * w, cy - 0.18 * h), fill=255)
    d.ellipse((cx - 0.11 * w, cy - 0.5 * h, cx + 0.11 * w, cy - 0.24 * h), fill=255)


def _crib(d: ImageDraw.ImageDraw, b: Box) -> None:
    cx, cy, w, h = b
    x0, x1, y0, y1 = cx - 0.5 * w, cx + 0.5 * w, cy - 0.4 * h, cy + 0.4 * h
    post, rail = 0.09 * w, 0.08 * h
    d.rectangle((x0, y0 - 0.1 * h, x0 + post, y1 + 0.1 * h), fill=255)
    d.rectangle((x1 - post, y0 - 0.1 * h, x1, y1 + 0.1 * h), fill=255)
    d.rectangle((x0, y0, x1, y0 + rail), fill=255)
    d.rectangle((x0, y1 - 2 * rail, x1, y1), fill=255)
    for k in range(1, 6):
        x = x0 + post + k * (x1 - x0 - 2 * post) / 6
        d.rectangle((x - 0.025 * w, y0, x + 0.025 * w, y1), fill=255)


def _diaper(d: ImageDraw.ImageDraw, b: Box) -> None:
    _polygon(d, b, [(-0.5, -0.45), (0.5, -0.45), (0.18, 0.05), (0.3, 0.45), (-0.3, 0.45), (-0.18, 0.05)])


def _tub(d: ImageDraw.ImageDraw, b: Box) -> None:
    cx, cy, w, h = b
    d.chord((cx - 0.5 * w, cy - 0.7 * h, cx + 0.5 * w, cy + 0.45 * h), 0, 180, fill=255)
    d.rounded_rectangle((cx - 0.52 * w, cy - 0.2 * h, cx + 0.52 * w, cy - 0.08 * h), radius=0.04 * w, fill=255)
    d.rectangle((cx - 0.3 * w, cy + 0.3 * h, cx - 0.22 * w, cy + 0.5 * h), fill=255)
    d.rectangle((cx + 0.22 * w, cy + 0.3 * h, cx + 0.3 * w, cy + 0.5 * h), fill=255)


def _gate(d: ImageDraw.ImageDraw, b: Box) -> None:
    cx, cy, w, h = b
    line = max(2.0, 0.07 * w)
    d.rectangle((cx - 0.5 * w, cy - 0.45 * h, cx + 0.5 * w, cy + 0.45 * h), outline=255, width=int(line))
    for k in range(1, 4):
        x = cx - 0.5 * w + k * w / 4
        d.rectangle((x - line / 2, cy - 0.45 * h, x + line / 2, cy + 0.45 * h), fill=255)
    d.rectangle((cx - 0.5 * w, cy - line / 2, cx + 0.5 * w, cy + line / 2), fill=255)


def _stroller(d: ImageDraw.ImageDraw, b: Box) -> None:
    cx, cy, w, h = b
    d.pieslice((cx - 0.45 * w, cy - 0.55 * h, cx + 0.35 * w, cy + 0.25 * h), 180, 270, fill=255)  # canopy
    d.rounded_rectangle((cx - 0.45 * w, cy - 0.15 * h, cx + 0.4 * w, cy + 0.18 * h), radius=0.08 * w, fill=255)
    d.rectangle((cx + 0.35 * w, cy - 0.45 * h, cx + 0.42 * w, cy - 0.1 * h), fill=255)  # handle
    for x in (cx - 0.3 * w, cx + 0.25 * w):
        r = 0.14 * w
        d.ellipse((x - r, cy + 0.3 * h - r, x + r, cy + 0.3 * h + r), outline=255, width=max(2, int(0.06 * w)))


def _seat(d: ImageDraw.ImageDraw, b: Box) -> None:
    cx, cy, w, h = b
    _polygon(d, b, [(-0.35, -0.5), (-0.05, -0.5), (0.05, 0.1), (0.5, 0.1), (0.45, 0.45), (-0.3, 0.45)])
    d.ellipse((cx - 0.32 * w, cy - 0.58 * h, cx - 0.08 * w, cy - 0.38 * h), fill=255)  # headrest


def _star(d: ImageDraw.ImageDraw, b: Box) -> None:
    cx, cy, w, h = b
    angles = np.pi / 2 + np.arange(10) * np.pi / 5  # (10,) outer and inner vertices alternate
    radii = np.where(np.arange(10) % 2 == 0, 0.5, 0.22)
    d.polygon(
        [(cx + r * w * np.cos(a), cy - r * h * np.sin(a)) for a, r in zip(angles, radii, strict=True)], fill=255
    )


def _onesie(d: ImageDraw.ImageDraw, b: Box) -> None:
    right = [(0.15, -0.5), (0.5, -0.3), (0.4, -0.1), (0.28, -0.15), (0.28, 0.3), (0.1, 0.5)]  # collar to leg
    _polygon(d, b, right + [(-u, v) for u, v in reversed(right)])  # and its mirror image, leg to collar


def _cross(d: ImageDraw.ImageDraw, b: Box) -> None:
    cx, cy, w, h = b
    d.rounded_rectangle((cx - 0.17 * w, cy - 0.5 * h, cx + 0.17 * w, cy + 0.5 * h), radius=0.05 * w, fill=255)
    d.rounded_rectangle((cx - 0.5 * w, cy - 0.17 * h, cx + 0.5 * w, cy + 0.17 * h), radius=0.05 * w, fill=255)


MOTIFS: dict[str, MotifFn] = {
    "bottle": _bottle,
    "crib": _crib,
    "diaper": _diaper,
    "tub": _tub,
    "gate": _gate,
    "stroller": _stroller,
    "seat": _seat,
    "star": _star,
    "onesie": _onesie,
    "cross": _cross,
}


_BOLD = 5.0  # pattern repeats across the image side (the object spans ~60 % of it)
_PATTERNS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    # (x, y) in [0, 1) -> whiten in [0, 1]: how far each object pixel is lightened toward white
    "solid": lambda x, y: np.zeros_like(x),
    "bold_stripes": lambda x, y: np.where((y * _BOLD * 2).astype(np.int64) % 2 == 1, 0.6, 0.0),
    "bold_dots": lambda x, y: np.where(((x * _BOLD) % 1 - 0.5) ** 2 + ((y * _BOLD) % 1 - 0.5) ** 2 < 0.09, 0.65, 0.0),
    "checks": lambda x, y: np.where(((x * _BOLD).astype(np.int64) + (y * _BOLD).astype(np.int64)) % 2 == 1, 0.6, 0.0),
    "zigzag": lambda x, y: np.where(np.abs(((y * _BOLD * 2 + 2 * np.abs((x * _BOLD * 2) % 2 - 1)) % 2) - 1) < 0.35,
                                    0.6, 0.0),
}


def _texture(name: str, side: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Surface pattern of a style: (gain, whiten), each (side, side) float32.

    The object's pixel is colour * gain, then mixed toward white by `whiten`. Patterns
    average close to gain 1 / whiten 0 so the product still reads as its colour.
    """
    y, x = np.mgrid[0:side, 0:side].astype(np.float32)  # (side, side) each
    gain = np.ones((side, side), np.float32)
    whiten = np.zeros((side, side), np.float32)
    period = side / 8
    if name == "speckle":  # organic: flecks of lighter fibre
        whiten = np.where(rng.random((side, side)) < 0.08, 0.35, 0.0).astype(np.float32)
    elif name == "gloss":  # deluxe: a sheen from top to bottom
        gain = (1.12 - 0.24 * y / side).astype(np.float32)
    elif name == "stripes":  # classic: horizontal stripes
        gain = np.where((y // (period / 2)) % 2 == 1, 0.86, 1.1).astype(np.float32)
    elif name == "hatch":  # travel: diagonal ripstop hatch
        gain = np.where(((x + y) // (period / 2)) % 3 == 0, 0.82, 1.07).astype(np.float32)
    elif name == "dots":  # playful: polka dots
        r2 = (x % period - period / 2) ** 2 + (y % period - period / 2) ** 2
        whiten = np.where(r2 < (0.22 * period) ** 2, 0.5, 0.0).astype(np.float32)
    elif name in _PATTERNS:  # the missions store's patterns: coarse and high-contrast, legible at 32 px
        whiten = _PATTERNS[name](x / side, y / side).astype(np.float32)
    else:
        raise ValueError(f"unknown texture {name!r}; known: speckle, gloss, stripes, hatch, dots, {', '.join(_PATTERNS)}")
    return gain, whiten


def render_image(spec: ImageSpec, size: int) -> Image.Image:
    """Render one item as a (size, size) RGB image. Deterministic in `spec`."""
    if spec.motif not in MOTIFS:
        raise ValueError(f"unknown motif {spec.motif!r}; known: {sorted(MOTIFS)}")
    rng = np.random.default_rng(spec.noise_seed)
    side = size * _SUPERSAMPLE
    w = spec.scale * side
    box = (side / 2 + spec.offset[0] * side, side / 2 + spec.offset[1] * side, w, w * _VARIANT_ASPECT[spec.variant])

    mask_img = Image.new("L", (side, side), 0)
    MOTIFS[spec.motif](ImageDraw.Draw(mask_img), box)
    mask_img = mask_img.rotate(spec.rotation, resample=Image.Resampling.BICUBIC, center=box[:2])
    mask = np.asarray(mask_img, np.float32)[..., None] / 255.0  # (side, side, 1) object coverage

    gain, whiten = _texture(spec.texture, side, rng)
    colour = np.asarray(spec.colour, np.float32)  # (3,)
    obj = np.clip(colour * gain[..., None], 0, 255)  # (side, side, 3)
    obj = obj + (255.0 - obj) * whiten[..., None]
    canvas = np.broadcast_to(np.asarray(spec.background, np.float32), (side, side, 3))
    canvas = canvas * (1.0 - mask) + obj * mask  # (side, side, 3)

    if spec.trim is not None:  # an outline band just outside the object
        grown = np.asarray(mask_img.filter(ImageFilter.MaxFilter(3)), np.float32)[..., None] / 255.0
        ring = np.clip(grown - mask, 0.0, 1.0)  # (side, side, 1)
        canvas = canvas * (1.0 - ring) + np.asarray(spec.trim, np.float32) * ring

    small = Image.fromarray(canvas.round().astype(np.uint8), "RGB").resize((size, size), Image.Resampling.BOX)
    pixels = np.asarray(small, np.float32)  # (size, size, 3)
    if spec.noise_sigma > 0:
        pixels = pixels + rng.normal(0.0, spec.noise_sigma, pixels.shape).astype(np.float32)
    return Image.fromarray(np.clip(pixels.round(), 0, 255).astype(np.uint8), "RGB")


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes of an image; identical pixels give identical bytes."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()
