"""The five similarity types of paper 4.3.1 as pure functions.

TT: text A . text B;  II: image A . image B;  TI: text A . image B;  IT: image A . text B;
AVG: cosine between the averaged (text + image) embeddings of A and of B.
All inputs are unit vectors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rcml_core.eval.keys import SIMILARITIES

__all__ = ["SIMILARITIES", "average_embedding", "candidate_scores", "pair_scores", "relation_projection_scores"]


def average_embedding(text: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """(..., d) unit text and image embeddings -> (..., d) unit mean embedding."""
    return F.normalize(text + image, dim=-1)


def candidate_scores(
    a_text: torch.Tensor, a_image: torch.Tensor, c_text: torch.Tensor, c_image: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Scores of each query's candidates under the five similarity types.

    a_text, a_image: (Q, d) query item A; c_text, c_image: (Q, C, d) its candidates.
    Returns {sim: (Q, C)}.
    """
    a_avg = average_embedding(a_text, a_image)  # (Q, d)
    c_avg = average_embedding(c_text, c_image)  # (Q, C, d)
    dot = lambda a, c: torch.einsum("qd,qcd->qc", a, c)  # noqa: E731
    return {
        "tt": dot(a_text, c_text),
        "ii": dot(a_image, c_image),
        "ti": dot(a_text, c_image),
        "it": dot(a_image, c_text),
        "avg": dot(a_avg, c_avg),
    }


def pair_scores(
    a_text: torch.Tensor, a_image: torch.Tensor, b_text: torch.Tensor, b_image: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Scores of aligned pairs (A_p, B_p): inputs (P, d) -> {sim: (P,)}."""
    scores = candidate_scores(a_text, a_image, b_text[:, None, :], b_image[:, None, :])
    return {k: v[:, 0] for k, v in scores.items()}


def relation_projection_scores(
    a_text: torch.Tensor, a_image: torch.Tensor, c_text: torch.Tensor, c_image: torch.Tensor, relation: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Training-free baseline score (zA . zr)(zB . zr) for each similarity type.

    a_*: (Q, d); c_*: (Q, C, d); relation: (Q, d) unit CLIP embedding of each query's relation text.
    """
    a = {"t": a_text, "i": a_image, "a": average_embedding(a_text, a_image)}
    c = {"t": c_text, "i": c_image, "a": average_embedding(c_text, c_image)}
    pa = {k: (v * relation).sum(-1, keepdim=True) for k, v in a.items()}  # (Q, 1)
    pc = {k: torch.einsum("qcd,qd->qc", v, relation) for k, v in c.items()}  # (Q, C)
    return {
        "tt": pa["t"] * pc["t"],
        "ii": pa["i"] * pc["i"],
        "ti": pa["t"] * pc["i"],
        "it": pa["i"] * pc["t"],
        "avg": pa["a"] * pc["a"],
    }
