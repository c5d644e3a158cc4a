"""Beta sweep (paper Figure 5): validation Hit@5 of RCML against the attention balance beta.

beta in {0, 0.2, 0.4, 0.6, 0.8, 1.0} x seeds; beta = 0 uses the relation-guided attention
only, beta = 1 is CLIP's summary token (exactly CLIP on intra pairs). The parent MLflow
run gets the figure (Hit@5 against beta, one line per similarity type) and the table;
the best beta by mean validation Hit@5 is evaluated on test and registered.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file, also from Ray's working-dir copy

from sweeps.cli import main_for  # noqa: E402

BETAS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def build(args):
    from cluster.study import Study
    from tracking.reports import beta_report

    return Study(name="beta_sweep", grid={"beta": BETAS}), beta_report, None


def main(argv: list[str] | None = None) -> int:
    return main_for("beta_sweep", __doc__, build, argv)


if __name__ == "__main__":
    raise SystemExit(main())
