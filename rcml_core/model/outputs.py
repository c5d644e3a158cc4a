"""Typed outputs of the RCML model (no bare tuples)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from rcml_core.model.encoders import TokenFeatures


@dataclass
class ItemFeatures:
    """Token features of the unique items of a batch: the backbone ran once per item (docs/method.md)."""

    text: TokenFeatures  # tokens (U, n, d)
    image: TokenFeatures  # tokens (U, m, d)

    def __len__(self) -> int:
        return len(self.text)


@dataclass
class PairSimilarities:
    """Cosine similarities for the four directions x -> y of eq. 1, each (B, C).

    From `RCMLModel.pair_similarities` (C = B): [r, s] = cos(z_x^{src_r}(e_r), z_y^{dst_s}(e_r)), the
    positive of row r on the diagonal. From `relation_swap_similarities` (C = R'):
    [b, j] = cos(z_x^{src_b}(e'_j), z_y^{dst_b}(e'_j)).
    """

    ti: Tensor  # text anchor -> image candidates
    it: Tensor  # image anchor -> text candidates
    tt: Tensor  # text -> text
    ii: Tensor  # image -> image


@dataclass
class ConditionedEmbeddings:
    """Unit text / image embeddings: of Q (item, relation) queries (Q, d), of plain CLIP (U, d), or a
    relation x item table (R, U, d) from RCMLModel.relation_table."""

    text: Tensor  # (..., d), unit L2 norm
    image: Tensor  # (..., d), unit L2 norm

    def __len__(self) -> int:
        return int(self.text.shape[0])
