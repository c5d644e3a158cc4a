"""Figure 6 of a sweep's report: the selected checkpoint's embedding space beside the CLIP baseline's.

After the test evaluation and the CLIP baselines, the driver embeds a seeded sample of the test items
(at most TSNE_ITEMS) under the two relations with the most test queries, with the selected trial's
best checkpoint (fetched from the sweep's storage, as registration does) and with the CLIP run of the
same seed (cluster/baselines.py, its `checkpoints/best`), and draws the t-SNE (tracking.report_tsne).
The CLIP run's folder is read where the driver sees it: on one machine, or on a runs folder every node
shares; when it is not there (--no-baselines, or it trained on a node of its own) the figure shows RCML
alone and the report says why.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from cluster.baselines import run_folder
from cluster.final_eval import fetch_best_checkpoint
from cluster.outcome import Selection
from cluster.study import SEED
from rcml_core.data.format.schema import RelationalDataset
from rcml_core.eval import keys
from rcml_core.eval.views import busiest_relations, checkpoint_views, sample_items
from rcml_core.runtime.layout import BEST, CHECKPOINTS_DIR, CONFIG_FILE
from tracking.report_tsne import tsne_report
from tracking.reports import Report

TSNE_ITEMS = 400  # test items drawn (seeded); t-SNE and the CPU encoding stay within seconds to a minute
RCML_LABEL = "RCML (selected)"


def figure6(selection: Selection, storage: str, runs_root: Path, dataset: RelationalDataset,
            max_items: int = TSNE_ITEMS) -> Report:
    """Figure 6 for the sweep's report: RCML's best seed and the CLIP run of that seed, on the same items."""
    try:
        relations = busiest_relations(dataset, "test", 2)
    except ValueError as exc:
        return tsne_report({}, dataset, f"not drawn: {exc}")
    items = sample_items(dataset, "test", max_items, seed=0)
    if len(items) < 4:
        return tsne_report({}, dataset, f"not drawn: {len(items)} test item(s), t-SNE needs 4")
    best = selection.trials.iloc[0]  # the configuration's best seed, the one registration fetches
    with tempfile.TemporaryDirectory(prefix="rcml-fig6-") as tmp:
        local = fetch_best_checkpoint(best["checkpoint_path"], storage, Path(tmp) / BEST)
        views = {RCML_LABEL: checkpoint_views(local, dataset, items, relations)}
    seed = best.get(SEED)
    if seed is None or pd.isna(seed):
        return tsne_report(views, dataset, "RCML only: the selected trial has no seed to find its CLIP run by")
    clip = run_folder(runs_root, int(seed)) / CHECKPOINTS_DIR / BEST
    if not (clip / CONFIG_FILE).is_file():
        return tsne_report(views, dataset, f"RCML only: no CLIP baseline checkpoint at {clip} (--no-baselines, "
                                           "or it trained on another node)")
    views[keys.LABELS[keys.CONCAT]] = checkpoint_views(clip, dataset, items, relations)
    return tsne_report(views, dataset)
