"""Beta sweep (paper Figure 5): Hit@5 of RCML against the attention balance beta, in both summary_mix modes.

beta in {0, 0.2, 0.4, 0.6, 0.8, 1.0} x summary_mix in {prob, logit} x seeds. beta = 0 is the
relation-guided attention only. Where beta acts depends on the mode (docs/method.md):
- "logit" (eq. 5 of the paper read literally, what its Figure 5 sweeps): softmax((1 - beta) q + beta B),
  so beta scales the relation logits of every row, the inter rows that every evaluation query uses
  included; beta = 1 on an inter row is uniform attention over the tokens;
- "prob": (1 - beta) softmax(q) + beta onehot(summary) on intra rows only, exactly CLIP at beta = 1 on
  them; an inter row is softmax(q) whatever beta is, so beta acts only through the intra training rows.
The parent MLflow run gets the figure (Hit@5 against beta per similarity type, a panel per mode) and the
table; the best (summary_mix, beta) by mean validation Hit@5 over seeds is evaluated on test and registered.
"""

from __future__ import annotations

from sweeps.cli import Script

BETAS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
SUMMARY_MIXES = ("prob", "logit")


def build(args):
    from cluster.study import Study
    from tracking.reports import beta_report

    return Study(name="beta_sweep", grid={"summary_mix": SUMMARY_MIXES, "beta": BETAS}, report=beta_report)


main = Script("beta_sweep", __doc__, build).main

if __name__ == "__main__":
    raise SystemExit(main())
