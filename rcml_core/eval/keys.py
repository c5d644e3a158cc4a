"""Every metric name the evaluation writes, in one place (docs/evaluation.md explains what each means).

Retrieval metrics (relation-guided retrieval, 21-way) are keyed

    {split}/{prefix}{metric}_{sim}      test/hit@5_tt, val/mrr_avg, test/free_hit@5_ii, test/plain_hit@1_it
    {split}/{prefix}{metric}            the AVG similarity again (`val/hit@5` is the selection metric), or,
                                        for a model-free reference scorer, its only value (no similarity type)

- `split`: val | test.
- `metric`: hit@1, hit@5, hit@10, mrr (`RANK_METRICS`).
- `sim` suffix: the similarity type of paper 4.3.1: `_tt` text A . text B, `_ii` image . image,
  `_ti` text A . image B, `_it` image A . text B, `_avg` the averaged (text + image) embeddings.
- `prefix`, which scorer produced the number, all on the same fixed queries:
    ""            the model under its own protocol: RCML conditioned on the relation; for `method=clip`
                  the protocol named by `eval.clip_protocol` (default "concat": the relation text appended
                  to the title, the paper's CLIP baseline);
    `plain_`      `method=clip` only: CLIP's own embeddings, the relation ignored ("CLIP fine-tuned");
    `concat_`     `method=clip` with `eval.clip_protocol=plain` only: the concatenated-text protocol;
    `free_`       the training-free score (zA.zr)(zB.zr) on the UNTRAINED backbone (random init of the
                  run's seed for `tiny`, the pretrained weights otherwise), never on a trained checkpoint;
    `ref_pop_`, `ref_cat_`, `ref_catrel_`
                  model-free reference scorers fitted on train edges (rcml_core.eval.reference):
                  category popularity, category-pair co-occurrence, category-pair co-occurrence under the
                  query's relation; their Hit@k / MRR are expectations under uniform random tie-breaking.
- Suffixes on any Hit@k / MRR key: `_ci_lo`, `_ci_hi`: the 95 % bootstrap interval over distinct query
  pairs (rcml_core.eval.bootstrap); `_std` (tables over seeds only): the standard deviation over seeds.
  In a table over seeds the key itself is the mean over seeds and `_ci_lo/_ci_hi` is the pooled
  interval (each query's outcome averaged over seeds, then bootstrapped over pairs).
- Counts: `{split}/{prefix}n_queries` queries and `{split}/{prefix}n_pairs` distinct unordered item pairs
  {A, B} among them (the bootstrap's clusters); `{split}/n_seeds` in tables over seeds.

Other tasks: `{split}/rtype_top1_{sim}`, `{split}/rtype_top3_{sim}`, `{split}/rtype_random_top3`,
`{split}/n_rtype_pairs` (relation-type prediction) and `{split}/validity_acc`, `{split}/n_validity`
(the relation-validity probe).
"""

from __future__ import annotations

SIMILARITIES: tuple[str, ...] = ("tt", "ii", "ti", "it", "avg")
HIT_KS: tuple[int, ...] = (1, 5, 10)
RANK_METRICS: tuple[str, ...] = tuple(f"hit@{k}" for k in HIT_KS) + ("mrr",)
PRIMARY_METRIC = "hit@5"
SELECTION_KEY = "val/hit@5"  # AVG similarity, per epoch (epoch 0 included)

MODEL = ""
PLAIN = "plain_"
CONCAT = "concat_"
FREE = "free_"
REF_POP = "ref_pop_"
REF_CAT = "ref_cat_"
REF_CATREL = "ref_catrel_"
REFERENCES: tuple[str, ...] = (REF_POP, REF_CAT, REF_CATREL)
PREFIXES: tuple[str, ...] = (MODEL, PLAIN, CONCAT, FREE, *REFERENCES)

# How each scorer is named in tables.
LABELS: dict[str, str] = {
    MODEL: "model",
    PLAIN: "CLIP fine-tuned (plain)",
    CONCAT: "CLIP-concat",
    FREE: "training-free (untrained backbone)",
    REF_POP: "reference: category popularity",
    REF_CAT: "reference: category pair",
    REF_CATREL: "reference: category pair | relation",
}

CI_LO = "_ci_lo"
CI_HI = "_ci_hi"
STD = "_std"
N_QUERIES = "n_queries"
N_PAIRS = "n_pairs"
N_SEEDS = "n_seeds"

# The other two tasks: `{split}/{name}` (relation type per similarity type: `{split}/rtype_top3_{sim}`).
RTYPE_TOP1 = "rtype_top1"
RTYPE_TOP3 = "rtype_top3"
RTYPE_CHANCE_TOP3 = "rtype_random_top3"
N_RTYPE_PAIRS = "n_rtype_pairs"
VALIDITY_ACC = "validity_acc"
N_VALIDITY = "n_validity"


def outcome_name(metric: str, sim: str | None = None) -> str:
    """The per-query outcome's name within one scorer: `hit@5_tt`, or `hit@5` for a model-free scorer."""
    return metric if sim is None else f"{metric}_{sim}"


def metric_key(split: str, metric: str, sim: str | None = None, prefix: str = MODEL) -> str:
    """`{split}/{prefix}{metric}[_{sim}]`, e.g. metric_key("test", "hit@5", "tt", FREE) == "test/free_hit@5_tt"."""
    return f"{split}/{prefix}{outcome_name(metric, sim)}"


def count_key(split: str, count: str, prefix: str = MODEL) -> str:
    """`{split}/{prefix}n_queries` or `{split}/{prefix}n_pairs`."""
    return f"{split}/{prefix}{count}"


def ci_keys(key: str) -> tuple[str, str]:
    """(`{key}_ci_lo`, `{key}_ci_hi`)."""
    return key + CI_LO, key + CI_HI


def std_key(key: str) -> str:
    return key + STD


def is_interval_or_spread(key: str) -> bool:
    """True for keys that describe another key's uncertainty (not averaged over seeds themselves)."""
    return key.endswith((CI_LO, CI_HI, STD))


def is_count(key: str) -> bool:
    """True for counts (`n_queries`, `free_n_pairs`, `n_validity`, ...): the same on every seed."""
    last = key.rsplit("/", 1)[-1]
    return last.startswith("n_") or last.endswith((N_QUERIES, N_PAIRS, N_SEEDS))


def reference_prefix(name: str) -> str:
    """"pop" | "cat" | "catrel" -> its key prefix."""
    prefix = f"ref_{name}_"
    if prefix not in REFERENCES:
        raise ValueError(f"unknown reference scorer {name!r}; known: {[p[4:-1] for p in REFERENCES]}")
    return prefix
