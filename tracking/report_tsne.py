"""The report's Figure 6: t-SNE of test item embeddings under two relations, RCML beside the CLIP baseline.

Each panel is one model under one relation: the same sampled test items, embedded by the checkpoint's
own evaluation protocol (rcml_core.eval.views), projected by scikit-learn's t-SNE (seeded, PCA start),
coloured by the items' category. RCML's map should reorganise with the relation; CLIP-concat's
changes only through the relation text appended to each title.

    fig = tsne_figure({"RCML (selected)": rcml_views, "CLIP-concat": clip_views}, dataset)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from rcml_core.data.format.schema import RelationalDataset
from rcml_core.eval.views import ItemViews
from tracking.reports import Report

FIGURE = "fig6_tsne"
TITLE_CHARS = 38  # a relation text's characters shown in a panel's title (the panel is ~4 inches wide)
MAX_COLOURS = 10  # category levels with more distinct values than this are too many colours to read


def project(embeddings: np.ndarray, seed: int = 0) -> np.ndarray:
    """(U, d) embeddings -> (U, 2) t-SNE coordinates (perplexity capped for small U)."""
    from sklearn.manifold import TSNE

    n = len(embeddings)
    if n < 4:
        raise ValueError(f"t-SNE needs at least 4 items, got {n}")
    perplexity = float(min(30.0, max(1.0, (n - 1) / 3)))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
        np.asarray(embeddings, dtype=np.float64))


def colour_labels(dataset: RelationalDataset, items: np.ndarray) -> tuple[str, list[str]]:
    """The items' category at the finest level with at most MAX_COLOURS values among them (else the top
    level): (what the colours mean, one label per item)."""
    paths = dataset.items["category"].iloc[items].fillna("").astype(str).str.split(" > ")
    depth = int(paths.map(len).max()) if len(paths) else 1
    chosen = 1
    for level in range(1, depth + 1):
        labels = paths.map(lambda p, k=level: " > ".join(p[:k]))
        if labels.nunique() <= MAX_COLOURS:
            chosen = level
    labels = paths.map(lambda p: " > ".join(p[:chosen])).tolist()
    return f"category (level {chosen})", labels


def tsne_figure(views: Mapping[str, ItemViews], dataset: RelationalDataset, seed: int = 0) -> Figure:
    """One row per model (`views`: label -> its ItemViews, same items and relations), one column per relation."""
    if not views:
        raise ValueError("tsne_figure: no model's views given")
    first = next(iter(views.values()))
    for label, v in views.items():
        if not np.array_equal(v.items, first.items) or v.relations != first.relations:
            raise ValueError(f"tsne_figure: {label!r} embedded other items or relations than the first model")
    meaning, labels = colour_labels(dataset, first.items)
    categories = sorted(set(labels))
    palette = {c: f"C{i % 10}" for i, c in enumerate(categories)}
    colours = [palette[c] for c in labels]
    texts = dataset.relations["text"]
    rows, cols = len(views), len(first.relations)
    fig = Figure(figsize=(4.2 * cols, 3.9 * rows), layout="constrained")
    axes = np.atleast_2d(fig.subplots(rows, cols, squeeze=False))
    for r, (label, v) in enumerate(views.items()):
        for c, relation in enumerate(v.relations):
            xy = project(v.embeddings[c], seed)
            ax = axes[r, c]
            ax.scatter(xy[:, 0], xy[:, 1], c=colours, s=9, alpha=0.8, linewidths=0)
            ax.set_xticks([])
            ax.set_yticks([])
            text = str(texts.iat[relation])
            short = text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1] + "…"
            ax.set_title(f"{label}\nunder r{relation}: {short}", fontsize=8)
    handles = [axes[0, 0].scatter([], [], c=palette[c], s=12, label=c[:40]) for c in categories]
    fig.legend(handles=handles, title=meaning, loc="outside right center", fontsize=7, title_fontsize=8)
    fig.suptitle(f"Figure 6: t-SNE of {len(first.items)} test items under two relations", fontsize=10)
    return fig


def tsne_report(views: Mapping[str, ItemViews], dataset: RelationalDataset, note: str | None = None) -> Report:
    """Figure 6 as a report figure, with the sampled items (`fig6_tsne_items.csv`); `note` goes under the table."""
    if not views:
        return Report(lines=[f"  Figure 6 (t-SNE): {note or 'no checkpoint to embed'}"])
    report = Report(figures={FIGURE: tsne_figure(views, dataset)})
    first = next(iter(views.values()))
    report.tables[f"{FIGURE}_items"] = pd.DataFrame(
        {"item_id": dataset.items["item_id"].iloc[first.items].to_numpy(), "item_index": first.items})
    if note:
        report.lines.append(f"  Figure 6 (t-SNE): {note}")
    return report
