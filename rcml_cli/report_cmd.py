"""`rcml report SWEEP_RUN_ID --out DIR`: a sweep's Table 1 and figures as Markdown and one HTML page.

Reads the sweep's parent run from MLflow (tracking.report_page): Hit@5 and MRR of the selected configuration
on test per similarity type (mean ± std over seeds, pooled 95 % CI, counts; the CLIP baselines, the
training-free score and the reference scorers as rows; an out-of-domain column when the sweep had
--ood-data), Figures 2 and 3 from its metrics and the figures the sweep logged (Figure 4 or 5, Figure 6:
t-SNE of test items under two relations, RCML beside CLIP); writes report.md, report.html (figures
embedded), the tables as CSV, and logs them to the parent run under report/rcml_report/.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rcml_cli.compare_cmd import STORE_HELP, mlflow_client


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help="a sweep's Table 1 and figures (Markdown + HTML) from MLflow",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", metavar="SWEEP_RUN_ID", help="the sweep's parent run id (printed by the sweep)")
    p.add_argument("--out", type=Path, required=True, help="folder to write the report into")
    p.add_argument("--tracking-uri", help=STORE_HELP)
    p.add_argument("--home", type=Path, help="sweep home folder whose mlflow.db to read")
    p.add_argument("--no-log", action="store_true", help="do not log the report to the parent run")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tracking.report_page import write_report

    written = write_report(mlflow_client(args), args.run, args.out, log=not args.no_log)
    print(f"report: {written.folder / 'report.html'} and report.md ({len(written.figures)} figure(s): "
          f"{', '.join(written.figures) or '-'})" + ("" if args.no_log else "; logged to the parent run"))
    return 0
