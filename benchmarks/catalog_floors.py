"""Floor and ceiling of a synthetic catalog: the model-free reference scorers and the attribute oracle.

    python -m benchmarks.catalog_floors --data data/synth-default

Prints, per eval split, Hit@5 and MRR with 95 % intervals over distinct query pairs for the reference
scorers (fitted on train edges, depth chosen on val; rcml_core.eval.reference) and for the attribute
oracle (a scorer told every item's hidden attributes, rcml_core.data.synth.oracle), whose attributes
come from regenerating the catalog's world from the parameters in its manifest. The numbers of
docs/synthetic-data.md and docs/evaluation.md section 3 come from this command.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from rcml_core.data.format.io import load_dataset
from rcml_core.data.synth import SynthConfig, simulate_world
from rcml_core.data.synth.oracle import attribute_codes, attribute_oracle_scores
from rcml_core.eval import keys
from rcml_core.eval.metrics import tie_aware_outcomes, tie_counts
from rcml_core.eval.reference import fit_reference, reference_result
from rcml_core.eval.results import QueryOutcomes, pair_clusters

ORACLE = "oracle_"


def floors(data: Path) -> dict[str, dict[str, float]]:
    """{split: flat metrics} of the reference scorers and the oracle on the split's retrieval queries."""
    dataset = load_dataset(data)
    source = dataset.manifest.source
    if source.get("kind") != "synth":
        raise SystemExit(f"{data}: not a synthetic catalog (manifest source kind {source.get('kind')!r})")
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in source["params"].items()}
    world = simulate_world(SynthConfig(**params))
    codes = None
    if world.attributes:
        table = pd.DataFrame(list(world.items["attributes"]), index=world.items["item_id"])
        codes = attribute_codes(table, dataset.items["item_id"], world.attributes)
    model = fit_reference(dataset)
    out = {}
    for split, queries in dataset.retrieval.items():
        metrics = dict(reference_result(dataset, queries, model).metrics)
        if codes is not None:
            values = tie_aware_outcomes(*tie_counts(attribute_oracle_scores(dataset, codes, queries)))
            oracle = QueryOutcomes(pair=pair_clusters(queries.src, queries.candidates[:, 0], dataset.n_items),
                                   values=values)
            metrics.update(oracle.report(split, ORACLE))
        out[split] = metrics
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="a synthetic catalog built by `rcml data synth`")
    p.add_argument("--json", type=Path, help="also write the metrics here")
    args = p.parse_args(argv)
    result = floors(args.data.resolve())
    for split, m in result.items():
        n = (m[keys.count_key(split, keys.N_QUERIES, keys.REF_POP)], m[keys.count_key(split, keys.N_PAIRS, keys.REF_POP)])
        print(f"{split}: {int(n[0])} queries over {int(n[1])} pairs")
        for prefix in (*keys.REFERENCES, ORACLE):
            row = []
            for metric in (keys.PRIMARY_METRIC, "mrr"):
                key = keys.metric_key(split, metric, None, prefix)
                if key in m:
                    lo, hi = keys.ci_keys(key)
                    row.append(f"{metric} {m[key]:.3f} [{m[lo]:.3f}, {m[hi]:.3f}]")
            depth = m.get(keys.count_key(split, keys.DEPTH, prefix))
            if row:
                print(f"  {prefix.rstrip('_'):<12} " + "  ".join(row) + (f"  (depth {int(depth)})" if depth else ""))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
