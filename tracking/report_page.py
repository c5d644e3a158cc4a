"""`rcml report`: a sweep's results as one Markdown file and one self-contained HTML page, from MLflow.

Reads the sweep's parent run: Table 1 (Hit@5 and MRR of the selected configuration on test per similarity
type, tracking.report_table1) from its metrics, and the figures the sweep logged under `report/` (Figure 5
for a beta sweep, Figure 4 with CIs for an ablation, importances for a search), embedded in the HTML as
data URIs so the page opens anywhere, and Figures 2 and 3 (relation-type Top-1/Top-3 against the random
Top-3, relation-validity accuracy) drawn from the parent's `selected/test/` metrics; Figure 6 (t-SNE of test
items under two relations, RCML beside CLIP-concat: cluster.embedding_figure) is one of the sweep's own figures.
With --ood-data, Table 1 has an out-of-domain column (`ood/test/...`), named after the run's dataset input of
context `ood_test`. Writes `<out>/report.md`, `report.html`, the numeric tables as CSV and the figures as PNG,
and logs them to the parent run under `report/rcml_report/`.
"""

from __future__ import annotations

import base64
import html
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from rcml_core.errors import RCMLError
from rcml_core.eval import keys
from tracking import figures as figures_
from tracking import report_table1
from tracking.reports import Report
from tracking.run_metadata import OOD_CONTEXT
from tracking.sweep_runs import TAG_ROLE, get_run

ARTIFACT_DIR = "report/rcml_report"
TABLE_METRICS = (keys.PRIMARY_METRIC, keys.MRR)


@dataclass(frozen=True)
class WrittenReport:
    folder: Path
    files: tuple[Path, ...]
    figures: tuple[str, ...]  # the embedded figures' names


def _parent(client: MlflowClient, run_id: str):
    run = get_run(client, run_id)
    if run.data.tags.get(TAG_ROLE) != "sweep":
        raise RCMLError(f"run {run_id!r} is not a sweep's parent run (tag {TAG_ROLE}="
                        f"{run.data.tags.get(TAG_ROLE)!r}); give the parent run id the sweep printed")
    return run


def _figures(client: MlflowClient, run_id: str, dest: Path) -> list[Path]:
    """The parent run's report/*.png, downloaded to `dest`."""
    out = []
    for artifact in client.list_artifacts(run_id, "report"):
        if artifact.path.endswith(".png"):
            local = Path(client.download_artifacts(run_id, artifact.path, str(dest / "download")))
            out.append(Path(shutil.copy(local, dest / local.name)))
    return sorted(out)


def _task_figures(metrics: dict[str, float], dest: Path) -> list[Path]:
    """Figures 2 and 3 (relation type, validity) drawn from the parent's `selected/test/` metrics."""
    # rtype_* and validity_* names hold no '@': the parent stores them as written
    drawn = {"fig2_relation_type": figures_.relation_type_bars(metrics),
             "fig3_validity": figures_.validity_bar(metrics)}
    return Report(figures={name: fig for name, fig in drawn.items() if fig is not None}).write(dest)


def _ood_name(run) -> str | None:
    """The name of the run's out-of-domain dataset input (run_metadata.OOD_CONTEXT), if it has one."""
    for dataset_input in (run.inputs.dataset_inputs if run.inputs else []):
        if any(t.key == MLFLOW_DATASET_CONTEXT and t.value == OOD_CONTEXT for t in dataset_input.tags):
            return dataset_input.dataset.name
    return None


def write_report(client: MlflowClient, run_id: str, out: Path, log: bool = True) -> WrittenReport:
    """Write the report of the sweep whose parent run is `run_id` into `out` (and log it to that run)."""
    run = _parent(client, run_id)
    metrics = run.data.metrics
    tables = {m: report_table1.table1(metrics, m) for m in TABLE_METRICS}
    tables = {m: t for m, t in tables.items() if not t.empty}
    if not tables:
        raise RCMLError(f"run {run_id!r} has no selected/test metrics: the sweep did not finish its selection")
    out.mkdir(parents=True, exist_ok=True)
    sweep = run.data.tags.get("rcml.sweep", run.info.run_name)
    selected = run.data.tags.get("rcml.selected", "?")
    files: list[Path] = []
    for metric, table in tables.items():
        files.append(out / f"table1_{metric.replace('@', '')}.csv")
        table.to_csv(files[-1], index=False)
    with tempfile.TemporaryDirectory(prefix="rcml-report-") as tmp:
        figures = sorted(_figures(client, run_id, Path(tmp)) + _task_figures(metrics, Path(tmp)), key=lambda p: p.name)
        for figure in figures:
            files.append(Path(shutil.copy(figure, out / figure.name)))
        md = [f"# Sweep {sweep}", "", f"Selected configuration: `{selected}` (parent run `{run_id}`).", ""]
        page = [f"<h1>Sweep {html.escape(sweep)}</h1>",
                f"<p>Selected configuration: <code>{html.escape(selected)}</code> (parent run "
                f"<code>{html.escape(run_id)}</code>).</p>"]
        ood = _ood_name(run)
        for metric, table in tables.items():
            md += [f"## Table 1: {metric}", "", report_table1.markdown(table, metric, ood_name=ood)]
            page.append(f"<h2>Table 1: {html.escape(metric)}</h2>"
                        f"{report_table1.html_table(table, metric, ood_name=ood)}")
        for figure in figures:
            md += [f"## {figure.stem}", "", f"![{figure.stem}]({figure.name})", ""]
            data = base64.b64encode(figure.read_bytes()).decode("ascii")
            page.append(f"<h2>{html.escape(figure.stem)}</h2><img alt=\"{html.escape(figure.stem)}\" "
                        f"src=\"data:image/png;base64,{data}\">")
    files.append(out / "report.md")
    files[-1].write_text("\n".join(md))
    files.append(out / "report.html")
    files[-1].write_text("<!doctype html><html><head><meta charset=\"utf-8\"><title>"
                         f"{html.escape(sweep)}</title><style>body{{font-family:sans-serif;max-width:1100px;"
                         "margin:auto}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
                         "padding:3px 8px;text-align:right}caption{text-align:left;font-style:italic}"
                         "img{max-width:100%}</style></head><body>" + "".join(page) + "</body></html>")
    if log:
        for path in files:
            client.log_artifact(run_id, str(path), artifact_path=ARTIFACT_DIR)
    return WrittenReport(out, tuple(files), tuple(f.stem for f in figures))
