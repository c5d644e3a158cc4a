"""Every metric name the evaluation writes, in one place (docs/evaluation.md explains what each means).

Retrieval metrics (relation-guided retrieval, 21-way) are keyed

    {split}/{prefix}{metric}_{sim}      test/hit@5_tt, val/mrr_ii, test/free_hit@5_ii, test/plain_hit@1_it
    {split}/{prefix}{metric}            the AVG similarity (`val/hit@5` is the selection metric), or, for a
                                        model-free reference scorer, its only value (no similarity type)

One name per number: the AVG similarity is written without a suffix (`val/hit@5`, never also
`val/hit@5_avg`). Per-query outcome arrays (`QueryOutcomes.values`, `rcml compare --metric`) keep
the explicit `_avg` (`hit@5_avg`): there the five similarity types are five arrays side by side.

- `split`: val | test.
- `metric`: hit@1, hit@5, hit@10, mrr (`RANK_METRICS`).
- `sim` suffix: the similarity type of paper 4.3.1: `_tt` text A . text B, `_ii` image . image,
  `_ti` text A . image B, `_it` image A . text B; none: AVG, the averaged (text + image) embeddings.
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
  {A, B} among them (the bootstrap's clusters); `{split}/n_seeds` in tables over seeds;
  `{split}/ref_<scorer>_depth`: the category depth a reference scorer reads, chosen on val.

Other tasks: `{split}/rtype_top1_{sim}`, `{split}/rtype_top3_{sim}` (all five types named, `_avg` included:
there is no unsuffixed relation-type metric), `{split}/rtype_random_top3`,
`{split}/n_rtype_pairs` (relation-type prediction) and `{split}/validity_acc`, `{split}/n_validity`
(the relation-validity probe).
"""

from __future__ import annotations

SIMILARITIES: tuple[str, ...] = ("tt", "ii", "ti", "it", "avg")
HIT_KS: tuple[int, ...] = (1, 5, 10)
MRR = "mrr"


def hit_name(k: int) -> str:
    return f"hit@{k}"


RANK_METRICS: tuple[str, ...] = tuple(hit_name(k) for k in HIT_KS) + (MRR,)
PRIMARY_METRIC = hit_name(5)
SELECTION_METRIC = "val/hit@5"  # what runs are selected on: AVG similarity, per epoch (epoch 0 included)
BEST_PREFIX = "best/"  # the best value so far, logged every epoch: `best/val/hit@5`, `best/epoch`
BEST_SELECTION = BEST_PREFIX + SELECTION_METRIC
BEST_SELECTION_FIELD = "best_val_hit@5"  # the same value in a run's metrics.json

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

# Stages: a prefix before `{split}/` that says which model state or aggregate a number belongs to
# (docs/evaluation.md, "Metric names"; the experiment's description in MLflow says the same).
FINAL = "final"  # one trained checkpoint (a run's best epoch) evaluated at the run's end: child runs, model versions
SELECTED = "selected"  # the parent run: the selected configuration over its seeds (mean, _std, pooled _ci_lo/_ci_hi)
BASELINES = "baselines"  # the parent run: scorers beside the selection (CLIP runs, training-free, reference scorers)
CONFIGURATIONS = "configurations"  # the parent run: `configurations/<label>/val/...`, every configuration over seeds
OOD = "ood"  # the parent run: the selected configuration on the out-of-domain dataset (--ood-data), over seeds


def staged(stage: str, key: str) -> str:
    """`{stage}/{key}`: staged(SELECTED, "test/hit@5") == "selected/test/hit@5"."""
    return f"{stage}/{key}"


CI_LO = "_ci_lo"
CI_HI = "_ci_hi"
STD = "_std"
N_QUERIES = "n_queries"
N_PAIRS = "n_pairs"
N_SEEDS = "n_seeds"
DEPTH = "depth"  # a reference scorer's category depth, chosen on val (rcml_core.eval.reference)

# The other two tasks: `{split}/{name}` (relation type per similarity type: `{split}/rtype_top3_{sim}`).
RTYPE_TOP1 = "rtype_top1"
RTYPE_TOP3 = "rtype_top3"
RTYPE_CHANCE_TOP3 = "rtype_random_top3"
N_RTYPE_PAIRS = "n_rtype_pairs"
VALIDITY_ACC = "validity_acc"
N_VALIDITY = "n_validity"


AVG = "avg"


def outcome_name(metric: str, sim: str | None = None) -> str:
    """The per-query outcome's name within one scorer: `hit@5_tt`, `hit@5_avg`, or `hit@5` for a model-free scorer."""
    return metric if sim is None else f"{metric}_{sim}"


def outcome_key(split: str, prefix: str, outcome: str) -> str:
    """The flat metric key of a per-query outcome: `hit@5_tt` -> `{split}/{prefix}hit@5_tt`; the AVG outcome
    `hit@5_avg` -> `{split}/{prefix}hit@5` (one name per number)."""
    return f"{split}/{prefix}{outcome.removesuffix('_' + AVG)}"


def metric_key(split: str, metric: str, sim: str | None = None, prefix: str = MODEL) -> str:
    """`{split}/{prefix}{metric}[_{sim}]`, e.g. metric_key("test", "hit@5", "tt", FREE) == "test/free_hit@5_tt";
    the AVG similarity carries no suffix: metric_key("val", "hit@5", "avg") == "val/hit@5"."""
    return outcome_key(split, prefix, outcome_name(metric, sim))


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
    return last.startswith("n_") or last.endswith((N_QUERIES, N_PAIRS, N_SEEDS, DEPTH))


def reference_prefix(name: str) -> str:
    """"pop" | "cat" | "catrel" -> its key prefix."""
    prefix = f"ref_{name}_"
    if prefix not in REFERENCES:
        raise ValueError(f"unknown reference scorer {name!r}; known: {[p[4:-1] for p in REFERENCES]}")
    return prefix
