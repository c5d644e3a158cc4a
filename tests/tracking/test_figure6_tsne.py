"""Figure 6: two small trained checkpoints (RCML and the CLIP baseline) embed the same test items under two
relations; RCML's embeddings move with the relation, CLIP-plain's do not, and the t-SNE figure is drawn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rcml_core.data.format.io import load_dataset
from rcml_core.eval.views import busiest_relations, checkpoint_views, sample_items
from rcml_core.runtime.run_config import resolve_run_config
from rcml_core.train.loop import train
from tests.eval.conftest import tiny_data  # noqa: F401 - the shared built catalog
from tracking.report_tsne import FIGURE, tsne_report


@pytest.fixture(scope="module")
def checkpoints(tiny_data: Path, tmp_path_factory) -> dict[str, Path]:  # noqa: F811
    out = {}
    for method in ("rcml", "clip", "clip_plain"):
        folder = tmp_path_factory.mktemp(method)
        config = resolve_run_config("tiny", overrides=[f"data={tiny_data}", "epochs=1", "max_steps_per_epoch=2",
                                                       "batch_size=8", f"out_dir={folder}", f"method={method}",
                                                       "device=cpu"])
        out[method] = train(config, final_splits=()).best_checkpoint
    return out


def test_each_checkpoint_embeds_the_same_items_under_each_relation_with_its_own_protocol(
        tiny_data: Path, checkpoints: dict[str, Path]) -> None:  # noqa: F811
    dataset = load_dataset(tiny_data)
    relations = busiest_relations(dataset, "test", 2)
    counts = {r: int((dataset.retrieval["test"].relation == r).sum()) for r in relations}
    assert all(r in set(dataset.inter_relation_ids.tolist()) for r in relations) and min(counts.values()) > 0
    items = sample_items(dataset, "test", 15, seed=0)
    assert len(items) == min(15, len(dataset.item_indices("test"))) and np.all(np.diff(items) > 0)
    views = {m: checkpoint_views(p, dataset, items, relations) for m, p in checkpoints.items()}
    for method, v in views.items():
        assert v.method == method and v.embeddings.shape[:2] == (2, len(items))
        np.testing.assert_allclose(np.linalg.norm(v.embeddings, axis=-1), 1.0, atol=1e-5)
    moved = {m: float(np.abs(v.embeddings[0] - v.embeddings[1]).max()) for m, v in views.items()}
    assert moved["rcml"] > 1e-4 and moved["clip"] > 1e-4  # conditioned on the relation / its text appended
    assert moved["clip_plain"] == 0.0  # the relation ignored


def test_figure_6_is_drawn_with_one_panel_per_model_and_relation(tiny_data: Path, checkpoints: dict[str, Path],
                                                                 tmp_path: Path) -> None:  # noqa: F811
    dataset = load_dataset(tiny_data)
    relations = busiest_relations(dataset, "test", 2)
    items = sample_items(dataset, "test", 400)
    views = {"RCML (selected)": checkpoint_views(checkpoints["rcml"], dataset, items, relations),
             "CLIP-concat": checkpoint_views(checkpoints["clip"], dataset, items, relations)}
    report = tsne_report(views, dataset)
    fig = report.figures[FIGURE]
    panels = [ax for ax in fig.axes if ax.collections]
    assert len(panels) == 4 and all(len(ax.collections[0].get_offsets()) == len(items) for ax in panels)
    assert "RCML (selected)" in panels[0].get_title() and "CLIP-concat" in panels[2].get_title()
    written = report.write(tmp_path)
    assert (tmp_path / f"{FIGURE}.png").stat().st_size > 10_000 and len(written) == 2
    assert tsne_report({}, dataset, "not drawn: x").lines == ["  Figure 6 (t-SNE): not drawn: x"]
