"""Natural-language relation texts from user-cluster centroids (paper appendix A.2).

A centroid is the mean category distribution of a cluster's users (weights sum to 1).
Its description lists every category once, in descending weight, in the appendix's
style:

    "Co-purchased by people who primarily buy Feeding, followed by Nursery and
     Diapering, with moderate interest in Safety, while showing minimal interest in
     Gifts and Potty Training."

Wording is decided by the weights with these thresholds (share of the cluster's
purchases):

    top category  w >= 0.70  "overwhelmingly favor"
                  w >= 0.45  "strongly prefer"
                  otherwise  "primarily buy"
    the others    w >= 0.15  "followed by"               (secondary categories)
                  w >= 0.07  "moderate interest in"
                  w >= 0.03  "lower interest in"
                  w >= 0.005 "minimal interest in"
                  otherwise  "almost no interest in"

Descriptions of different clusters must differ (a relation is identified by its
text). When several centroids fall into the same wording, each colliding description
gets the cluster's leading shares appended, e.g. "(Feeding 62%, Nursery 21%)", with
as many leading categories — and, if needed, decimals — as it takes to tell them
apart; centroids identical even at 0.01% are numbered "(...; group 1)", "(...; group 2)".

When the clusters were also profiled on item attributes (relations.attribute_agreement), the
description leads with the behaviour, then the categories that hold at least SECONDARY_MIN of the
cluster's purchases (the top one always):

    "Co-purchased by people who keep to one colour, mostly buying Nursery, Apparel, and Bath."
    "Co-purchased by people who mostly buy Feeding and Toys, whatever the colour, material, or brand."

An attribute is "kept to" when the cluster's mean agreement is at least AGREEMENT_MIN (1 = every
pair of a user's items shares the value, 0 = chance).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

LEAD_TIERS: tuple[tuple[float, str], ...] = (
    (0.70, "overwhelmingly favor"),
    (0.45, "strongly prefer"),
    (0.0, "primarily buy"),
)
SECONDARY_MIN = 0.15
INTEREST_TIERS: tuple[tuple[float, str], ...] = (
    (0.07, "moderate"),
    (0.03, "lower"),
    (0.005, "minimal"),
    (0.0, "almost no"),
)
# Tiers introduced by "with ..." (still some interest) versus "while showing ..." (little).
_WITH_TIERS = ("moderate", "lower")
_WHILE_TIERS = ("minimal", "almost no")
_EPS = 1e-9  # a share on a threshold (up to float rounding of the normalisation) belongs to the upper tier


def join_names(names: Sequence[str], conjunction: str = "and") -> str:
    """English list: "A", "A and B", "A, B, and C" (serial comma, as in the paper); "A, B, or C" with "or"."""
    if len(names) <= 2:
        return f" {conjunction} ".join(names)
    return ", ".join(names[:-1]) + f", {conjunction} " + names[-1]


def _order(weights: np.ndarray, categories: Sequence[str]) -> list[int]:
    """Category indices by descending weight, ties broken by name for determinism."""
    return sorted(range(len(categories)), key=lambda i: (-float(weights[i]), categories[i]))


def _interest_tier(w: float) -> str:
    return next(name for low, name in INTEREST_TIERS if w >= low - _EPS)


def describe_centroid(weights: np.ndarray, categories: Sequence[str], verb: str = "Co-purchased") -> str:
    """One description of a cluster centroid.

    weights: (C,) non-negative category shares of the cluster (normalised here);
    categories: (C,) category names; verb: "Co-purchased" | "Co-read" | ...
    Every category appears exactly once, in descending weight.
    """
    w = np.asarray(weights, dtype=np.float64)  # (C,)
    if w.ndim != 1 or len(w) != len(categories) or len(w) == 0:
        raise ValueError(f"weights shape {w.shape} does not match {len(categories)} categories")
    if (w < 0).any() or w.sum() <= 0:
        raise ValueError("centroid weights must be non-negative with a positive sum")
    w = w / w.sum()
    order = _order(w, categories)
    top = order[0]
    lead = next(name for low, name in LEAD_TIERS if w[top] >= low - _EPS)
    text = f"{verb} by people who {lead} {categories[top]}"
    rest = order[1:]
    is_secondary = w >= SECONDARY_MIN - _EPS  # (C,)
    secondary = [categories[i] for i in rest if is_secondary[i]]
    if secondary:
        text += f", followed by {join_names(secondary)}"
    tiers: dict[str, list[str]] = defaultdict(list)
    for i in rest:
        if not is_secondary[i]:
            tiers[_interest_tier(float(w[i]))].append(categories[i])
    with_parts = [f"{t} interest in {join_names(tiers[t])}" for t in _WITH_TIERS if tiers[t]]
    while_parts = [f"{t} interest in {join_names(tiers[t])}" for t in _WHILE_TIERS if tiers[t]]
    if with_parts:
        text += ", with " + " and ".join(with_parts)
    if while_parts:
        text += ", while showing " + " and ".join(while_parts)
    return text + "."


AGREEMENT_MIN = 0.4


def _main_categories(weights: np.ndarray, categories: Sequence[str]) -> list[str]:
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    order = _order(w, categories)
    return [categories[i] for k, i in enumerate(order) if k == 0 or w[i] >= SECONDARY_MIN - _EPS]


def describe_behaviour(
    weights: np.ndarray, agreement: np.ndarray, categories: Sequence[str], attributes: Sequence[str],
    verb: str = "Co-purchased",
) -> str:
    """One description of a cluster profiled on categories and attribute agreement.

    weights: (C,) category shares; agreement: (A,) mean agreement per attribute; attributes: (A,)
    names as a reader would say them ("colour", "age range"). See the module docstring.
    """
    w = np.asarray(weights, dtype=np.float64)
    a = np.asarray(agreement, dtype=np.float64)
    if w.ndim != 1 or len(w) != len(categories) or len(w) == 0 or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights shape {w.shape} must be non-negative shares of {len(categories)} categories")
    if a.shape != (len(attributes),):
        raise ValueError(f"agreement shape {a.shape} does not match {len(attributes)} attributes")
    cats = join_names(_main_categories(w, categories))
    kept = [attributes[i] for i in sorted(range(len(a)), key=lambda i: (-a[i], attributes[i])) if a[i] >= AGREEMENT_MIN]
    if kept:
        return f"{verb} by people who keep to one {' and one '.join(kept)}, mostly buying {cats}."
    return f"{verb} by people who mostly buy {cats}, whatever the {join_names(list(attributes), 'or')}."


def _shares(weights: np.ndarray, categories: Sequence[str], n_top: int, decimals: int) -> str:
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    parts = [f"{categories[i]} {100 * w[i]:.{decimals}f}%" for i in _order(w, categories)[:n_top]]
    return "(" + ", ".join(parts) + ")"


def describe_clusters(
    centroids: np.ndarray, categories: Sequence[str], verb: str = "Co-purchased",
    agreement: np.ndarray | None = None, attributes: Sequence[str] = (),
) -> list[str]:
    """Distinct descriptions, one per centroid row.

    centroids: (K, C) cluster category shares; agreement: (K, A) mean attribute agreement when the
    clusters were profiled on `attributes` (then the behaviour template is used). Returns K strings,
    pairwise distinct (see the module docstring for how collisions are resolved).
    """
    if agreement is not None and len(attributes):
        base = [describe_behaviour(row, agr, categories, attributes, verb) for row, agr in zip(centroids, agreement)]
    else:
        base = [describe_centroid(row, categories, verb) for row in centroids]
    groups: dict[str, list[int]] = defaultdict(list)
    for k, text in enumerate(base):
        groups[text].append(k)
    out = list(base)
    for text, members in groups.items():
        if len(members) > 1:
            for k, t in zip(members, _disambiguate(text, members, centroids, categories)):
                out[k] = t
    return out


def _disambiguate(text: str, members: list[int], centroids: np.ndarray, categories: Sequence[str]) -> list[str]:
    """Append the fewest leading shares (coarsest precision first) that separate the members."""
    stem = text[:-1]  # drop the final "."
    finest = [_shares(centroids[k], categories, len(categories), 2) for k in members]
    reachable = len(set(finest))  # centroids equal even at 0.01% stay together
    for decimals in (0, 1, 2):
        for n_top in range(1, len(categories) + 1):
            suffixes = [_shares(centroids[k], categories, n_top, decimals) for k in members]
            if len(set(suffixes)) == reachable:
                break
        else:
            continue
        break
    seen: dict[str, int] = defaultdict(int)
    out = []
    for s in suffixes:
        if suffixes.count(s) > 1:  # identical centroids: number them
            seen[s] += 1
            s = f"{s[:-1]}; group {seen[s]})"
        out.append(f"{stem} {s}.")
    return out
