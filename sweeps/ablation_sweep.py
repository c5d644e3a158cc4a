"""Ablation sweep (paper Figure 4): what each part of RCML contributes.

Five settings x seeds: full, no_inter_edges (intra pairs only: CLIP-style training),
no_intra_loss (lambda = 0), no_edge_text (every inter relation text replaced by one
neutral text, connectivity kept) and frozen_backbone (only the attention and the
projections train). The parent MLflow run gets the figures and each setting's drop
against the full model with its paired 95 % interval and significance mark; the sweep
selects, tests and registers `full` (an ablated setting is never the sweep's model).
"""

from __future__ import annotations

from sweeps.cli import Script

VARIANTS = {
    "full": {},
    "no_inter_edges": {"no_inter_edges": True},
    "no_intra_loss": {"no_intra_loss": True},
    "no_edge_text": {"no_edge_text": True},
    "frozen_backbone": {"frozen_backbone": True},
}


def build(args):
    from cluster.study import Study
    from tracking.reports import ablation_report

    return Study(name="ablation_sweep", grid={"variant": list(VARIANTS)}, variants=VARIANTS, reference_variant="full",
                 report=ablation_report)


main = Script("ablation_sweep", __doc__, build).main


if __name__ == "__main__":
    raise SystemExit(main())
