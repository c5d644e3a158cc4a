"""Batch conditioning: the (B, B) pair similarities from cached token features (the backbone ran once per
unique item; no (B, B, d) tensor is formed).

Pure functions. Inputs are one modality's TokenFeatures of the U unique items, `query` (R, d) and
`value_map` (d, d) with the attention parameters folded in (RCMLModel does the folding):

    query     = h_E W_Q^T W_K           so that query . H_t = (W_Q h_E)^T (W_K H_t)      (eq. 6)
    value_map = W_V^T W_o               so that (A H) value_map = A (W_V H)^T W_o         (eq. 4)

Two exact strategies for PairSimilarities, picked by `table_is_cheaper` (both are tested equal):
  table  z for every (relation, unique item), (R, U, d), then each row's anchor and candidates are
         read from it. Multiply-adds ~ R U n d (scores, pooling) + R U d^2 + 4 B^2 d: the right
         choice when a batch has few distinct relations (relation types: about 10 per domain).
  gram   per row r, the attention of all B candidates under e_r, (B, B, n), and the Gram-form cosine
         (attention.conditioned_cosine): never forms (B, B, d). ~ U n d^2 + 3 B^2 n d + B^2 n^2:
         the right choice when nearly every row carries its own relation text.

Data parallel (`step_pair_similarities`): the table strategy, each rank's candidates gathered from
every rank, so that a rank's rows are scored against the whole step's batch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from rcml_core.model.attention import (
    attention_weights,
    conditioned_dot,
    conditioned_sq_norm,
    cosine_from_parts,
    gram,
    paired_attention_weights,
    paired_pool,
    paired_relation_scores,
    pool,
    relation_scores,
    unit,
)
from rcml_core.model.encoders import TokenFeatures
from rcml_core.model.outputs import PairSimilarities

STRATEGIES: tuple[str, ...] = ("auto", "table", "gram")


def relation_kinds(num_relations: int, rel: Tensor, intra: Tensor) -> Tensor:
    """(R,) bool: relation k is used by intra rows. rel (B,) long, intra (B,) bool.

    Raises ValueError when one relation index serves both intra and inter rows (its conditioning
    would be ambiguous).
    """
    kinds = torch.zeros(num_relations, dtype=torch.bool, device=rel.device)
    kinds[rel[intra]] = True
    if not torch.equal(kinds[rel], intra):
        mixed = torch.unique(rel[kinds[rel] != intra]).tolist()
        raise ValueError(f"relations {mixed} are used by both intra and inter rows")
    return kinds


def relation_table(
    features: TokenFeatures, query: Tensor, value_map: Tensor, intra: Tensor, beta: float, summary_mix: str
) -> Tensor:
    """Unit z of every item under every relation: tokens (U, n, d), query (R, d), intra (R,) -> (R, U, d),
    item-major in memory (a transposed view; see attention.pool)."""
    scores = relation_scores(query, features.tokens, features.mask)  # (R, U, n)
    weights = attention_weights(scores, features.mask, features.summary_index, beta, summary_mix, intra)
    pooled = pool(weights, features.tokens).transpose(0, 1) @ value_map  # (U, R, d) contiguous: (A H) M, cheaper
    return unit(pooled).transpose(0, 1)  # than A (H M) when R < n; (R, U, d) view


def paired_condition(
    features: TokenFeatures, query: Tensor, value_map: Tensor, index: Tensor, intra: Tensor, beta: float,
    summary_mix: str,
) -> Tensor:
    """Unit z of item index[q] under query[q]: query (Q, d), index (Q,), intra (Q,) -> (Q, d)."""
    mask = features.mask[index]  # (Q, n)
    tokens = features.tokens.index_select(0, index)  # (Q, n, d)
    scores = paired_relation_scores(query, tokens, mask)  # (Q, n)
    weights = paired_attention_weights(scores, mask, features.summary_index[index], beta, summary_mix, intra)
    return unit(paired_pool(weights, tokens) @ value_map)  # (Q, d)


def stacked_relation_tables(
    text: TokenFeatures, image: TokenFeatures, query: Tensor, value_map: Tensor, intra: Tensor, beta: float,
    summary_mix: str,
) -> Tensor:
    """Unit z of every item under every relation in both modalities, item-major: -> (2, U, R, d), [0] text,
    [1] image, entry [x, k, e] = z_x of item k under relation e. The same numbers as relation_table for each
    modality; the two pooled tables share one value-map GEMM and one normalisation, and are laid out as
    the readout reads them (no transposed copies)."""
    pooled = []
    for f in (text, image):
        scores = relation_scores(query, f.tokens, f.mask)  # (R, U, n)
        weights = attention_weights(scores, f.mask, f.summary_index, beta, summary_mix, intra)  # (R, U, n)
        pooled.append(pool(weights, f.tokens).transpose(0, 1))  # (U, R, d), contiguous (pool is item-major)
    return unit(torch.stack(pooled) @ value_map)  # (2, U, R, d)


# A per-relation GEMM costs about this many multiply-adds in launch overhead (forward + backward, about
# 0.1 ms measured on the 2-core CPU with 11 relations at B = 64 and 256): it decides the table readout.
GROUP_OVERHEAD_MACS = 4_000_000
READOUTS: tuple[str, ...] = ("auto", "dense", "grouped")


def stacked_pair_similarities(
    tables: Tensor, src: Tensor, dst: Tensor, rel: Tensor, readout: str = "auto"
) -> PairSimilarities:
    """(B, C) cosines read from item-major tables (2, U, R, d) (stacked_relation_tables):
    [r, s] = z_x[src_r, rel_r] . z_y[dst_s, rel_r].

    src, rel (B,) are the rows, dst (C,) the candidates (C = B for a batch's own targets). No (B, C, d)
    tensor is formed. Two readouts, same numbers:
      dense    one GEMM of every anchor against every (item, relation) entry, (2B, 2UR), then one
               gather of each row's relation and targets: 4 B R U d multiply-adds, few operations.
      grouped  rows grouped by relation, one (2B_e, 2B) GEMM per relation: 4 B^2 d multiply-adds
               plus a launch overhead per relation; wins for large batches.
    The four directions are views of one (2, 2, B, B) tensor [x, y, r, s] (unbind: their backward stacks
    the gradients instead of zero-filling a full-size tensor for each).
    """
    if readout not in READOUTS:
        raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
    _, u, r, d = tables.shape
    b, c = src.shape[0], dst.shape[0]
    if readout == "auto":
        readout = "dense" if b * r * u * d <= b * c * d + r * GROUP_OVERHEAD_MACS // 4 else "grouped"
    flat = tables.reshape(2, u * r, d)  # entry k * R + e is item k under relation e; index_select's backward
    if readout == "dense":  # adds rows (index_add), far cheaper than indexing's index_put
        anchors = flat.index_select(1, src * r + rel)  # (2, B, d): [x, row] = z_x[src_row, rel_row]
        every = anchors.reshape(2 * b, d) @ flat.reshape(2 * u * r, d).T  # (2B, 2UR)
        every = every.view(2, b, 2, u * r)  # [x, row, y, k * R + e]
        own = (dst[None, :] * r + rel[:, None])[None, :, None, :].expand(2, b, 2, c)  # [x, row, y, s]: dst_s, rel_row
        sims = every.gather(3, own).transpose(1, 2)  # (2, 2, B, C) = [x, y, row, s]
    else:
        order = torch.argsort(rel, stable=True)  # rows grouped by relation
        used, counts = torch.unique_consecutive(rel[order], return_counts=True)
        anchors = flat.index_select(1, src[order] * r + rel[order])  # (2, B, d) rows grouped by relation
        candidates = flat.index_select(1, (dst[None, :] * r + used[:, None]).flatten()).view(2, -1, c, d)
        anchors = anchors.transpose(0, 1).reshape(b, 2, d)  # (B, 2, d): [row, x]
        candidates = candidates.transpose(0, 1).reshape(-1, 2 * c, d)  # (R_u, 2C, d): [e, y * C + s]
        # split / unbind (not indexing) per group: their backward concatenates instead of zero-filling copies
        groups = zip(torch.split(anchors, counts.tolist()), candidates.unbind(0))
        blocks = [a.reshape(-1, d) @ cand.T for a, cand in groups]  # (2 B_e, 2C) each: [row * 2 + x, y * C + s]
        sims = torch.cat(blocks).view(b, 2, 2, c).index_select(0, torch.argsort(order))  # [row, x, y, s]
        sims = sims.permute(1, 2, 0, 3)  # (2, 2, B, C) = [x, y, row, s]
    (tt, ti), (it, ii) = (pair.unbind(0) for pair in sims.unbind(0))
    return PairSimilarities(ti=ti, it=it, tt=tt, ii=ii)


def step_pair_similarities(
    z_text: Tensor, z_image: Tensor, src: Tensor, dst: Tensor, rel: Tensor, gather: Callable[[Tensor], Tensor]
) -> PairSimilarities:
    """(B, C) cosines of this rank's rows against the whole data-parallel step's candidates.

    z (R, U, d): this rank's items under every relation of the step; src, dst, rel (B,) its rows.
    `gather` (rcml_core.distributed.gather_with_grad) concatenates every rank's (B, ...) candidates in rank
    order, so column s is the step's row s: [r, s] = z_x[rel_r, src_r] . z_y^{rank of s}[rel_r, dst_s].
    Each rank conditions its own candidates under every relation of the step, (2, B, R, d), because a row on
    any rank may need them under its relation.
    """
    tables = torch.stack([z_text, z_image]).transpose(1, 2)  # (2, U, R, d) item-major
    u = tables.shape[1]
    own = tables.index_select(1, dst).transpose(0, 1)  # (B, 2, R, d): candidate-major for the gather
    step = gather(own).transpose(0, 1)  # (2, C, R, d): every rank's candidates, rank order
    merged = torch.cat([tables, step], dim=1)  # (2, U + C, R, d): anchors read from U, candidates from C
    columns = u + torch.arange(step.shape[1], device=dst.device)  # (C,)
    return stacked_pair_similarities(merged, src, columns, rel)


def gram_pair_similarities(
    text: TokenFeatures, image: TokenFeatures, query: Tensor, value_map: Tensor, src: Tensor, dst: Tensor,
    rel: Tensor, intra: Tensor, beta: float, summary_mix: str,
) -> PairSimilarities:
    """(B, B) cosines with per-row candidate attention (B, B, n) and the Gram-form norm; query (R, d)."""
    row_query = query[rel]  # (B, d)
    anchors, candidates = {}, {}
    for name, f in (("text", text), ("image", image)):
        anchors[name] = paired_condition(f, row_query, value_map, src, intra, beta, summary_mix)  # (B, d)
        mask = f.mask[dst]  # (B, n)
        tokens = f.tokens.index_select(0, dst)  # (B, n, d)
        scores = relation_scores(row_query, tokens, mask)  # (B, B, n)
        weights = attention_weights(scores, mask, f.summary_index[dst], beta, summary_mix, intra)  # (B, B, n)
        values = tokens @ value_map  # (B, n, d)
        candidates[name] = (weights, values, conditioned_sq_norm(weights, gram(values)))  # norm shared by anchors

    def cosine(x: str, y: str) -> Tensor:
        weights, values, sq_norm = candidates[y]
        return cosine_from_parts(conditioned_dot(anchors[x], weights, values), sq_norm)  # (B, B)

    return PairSimilarities(ti=cosine("text", "image"), it=cosine("image", "text"), tt=cosine("text", "text"),
                            ii=cosine("image", "image"))


def table_is_cheaper(relations_used: int, items: int, rows: int, tokens: int, token_sq: int, width: int) -> bool:
    """Compare the multiply-adds of both strategies (module docstring).

    tokens: n_text + n_image per item; token_sq: n_text^2 + n_image^2; width: d.
    """
    table = relations_used * items * (2 * tokens * width + 2 * width * width) + 4 * rows * rows * width
    gram_cost = items * tokens * width * width + rows * rows * (3 * tokens * width + token_sq)
    return table <= gram_cost


def pair_similarities(
    text: TokenFeatures, image: TokenFeatures, query: Tensor, value_map: Tensor, src: Tensor, dst: Tensor,
    rel: Tensor, intra: Tensor, beta: float, summary_mix: str, strategy: str = "auto",
) -> PairSimilarities:
    """(B, B) cosines [r, s] = cos(z_x^{src_r}(e_r), z_y^{dst_s}(e_r)) by the cheaper exact strategy."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if strategy == "auto":
        n_t, n_i = text.tokens.shape[1], image.tokens.shape[1]
        used = int(torch.unique(rel).numel())
        cheaper = table_is_cheaper(used, len(text), src.shape[0], n_t + n_i, n_t * n_t + n_i * n_i, query.shape[-1])
        strategy = "table" if cheaper else "gram"
    if strategy == "gram":
        return gram_pair_similarities(text, image, query, value_map, src, dst, rel, intra, beta, summary_mix)
    kinds = relation_kinds(query.shape[0], rel, intra)  # (R,)
    tables = stacked_relation_tables(text, image, query, value_map, kinds, beta, summary_mix)  # (2, U, R, d)
    return stacked_pair_similarities(tables, src, dst, rel)


def swap_similarities(z_text: Tensor, z_image: Tensor, src: Tensor, dst: Tensor) -> PairSimilarities:
    """(B, R') cosines of each row's pair under each tabled relation.

    z (R', U, d) -> [b, j] = z_x[j, src_b] . z_y[j, dst_b].
    """

    def cosine(zx: Tensor, zy: Tensor) -> Tensor:
        return (zx.index_select(1, src) * zy.index_select(1, dst)).sum(dim=-1).T  # (R', B) -> (B, R')

    return PairSimilarities(ti=cosine(z_text, z_image), it=cosine(z_image, z_text), tt=cosine(z_text, z_text),
                            ii=cosine(z_image, z_image))
