"""docs/reproduce.md end to end on CPU, shrunk: raw Amazon Reviews 2023 and Goodreads files in the real format
-> `rcml data amazon` / `rcml data goodreads` -> a sweep with `--preset clip-vit-b32 name_or_path=DIR` (a tiny
random CLIP saved with save_pretrained: the loading code of the real ViT-B/32 weights) and `--ood-data` on
Goodreads -> `rcml report`, whose out-of-domain column equals `rcml eval` of the selected checkpoint there."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from amazon_raw import make_amazon
from goodreads_raw import make_goodreads
from mlflow.tracking import MlflowClient

from rcml_cli.main import main as rcml
from sweeps import ablation_sweep
from tests.model.rcml_testkit import legacy_clip_folder

pytestmark = pytest.mark.slow

SMALL = ["--n-clusters", "4", "--n-negatives", "5", "--no-progress"]  # a 96-item domain: fewer clusters, negatives


@pytest.fixture(scope="module")
def ray_instance():
    import ray

    from cluster.connect import connect

    connect(num_cpus=2)
    yield
    ray.shutdown()


def test_raw_dumps_and_a_local_clip_folder_give_table_1_and_the_out_of_domain_score(tmp_path: Path,
                                                                                    ray_instance) -> None:
    clip = tmp_path / "clip-vit-b32"  # stands for the downloaded openai/clip-vit-base-patch32 folder
    legacy_clip_folder(clip)
    amazon = make_amazon(tmp_path / "raw" / "amazon")
    goodreads = make_goodreads(tmp_path / "raw" / "goodreads")
    data = tmp_path / "data"
    assert rcml(["data", "amazon", "--reviews", str(amazon.reviews), "--meta", str(amazon.meta),
                 "--images-dir", str(amazon.images_dir), "--out", str(data / "baby"), *SMALL]) == 0
    assert rcml(["data", "goodreads", "--books", str(goodreads.books), "--interactions",
                 str(goodreads.interactions_json), "--images-dir", str(goodreads.images_dir),
                 "--out", str(data / "goodreads"), *SMALL]) == 0
    home = tmp_path / "home"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert ablation_sweep.main(["--smoke-test", "--cpu", "--data", str(data / "baby"), "--preset", "clip-vit-b32",
                                    "--home", str(home), "--ood-data", str(data / "goodreads"),
                                    f"name_or_path={clip}",
                                    "backbone.max_text_tokens=40"]) == 0  # the tiny folder's text positions
    command = re.search(r"report page: rcml report (\S+) --home \S+ --out (\S+)", printed.getvalue())
    assert command, printed.getvalue()[-2000:]
    run_id, sweep_report = command.group(1), Path(command.group(2)).parent
    out = tmp_path / "table1"
    assert rcml(["report", run_id, "--home", str(home), "--out", str(out)]) == 0
    table = pd.read_csv(out / "table1_hit5.csv", keep_default_na=False, na_values=[""]).set_index("scorer")
    assert {"RCML (selected)", "CLIP-concat", "CLIP fine-tuned (plain)"} <= set(table.index)
    assert 0.0 <= table.loc["RCML (selected)", "avg_mean"] <= 1.0
    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    params = client.get_run(run_id).data.params
    trial = client.search_runs([client.get_run(run_id).info.experiment_id],
                               f"tags.`mlflow.parentRunId` = '{run_id}'", max_results=1)[0]
    assert trial.data.params["backbone.preset"] == "clip-vit-b32"
    assert trial.data.params["backbone.name_or_path"] == str(clip)  # the weights came from the folder
    assert str(data / "baby") in params["sweep.data"]
    # out of domain: the sweep tested the selected checkpoint on Goodreads' test queries (--ood-data); Table 1's
    # OOD column is that number, and `rcml eval` of the registered checkpoint there gives it again (one seed)
    stored = client.get_run(run_id).data.metrics
    assert table.loc["RCML (selected)", "ood_mean"] == pytest.approx(stored["ood/test/hit_at_5"])
    assert "OOD AVG" in (out / "report.md").read_text()
    best = sweep_report / "model" / "checkpoint"
    ood = tmp_path / "goodreads-test.json"
    assert rcml(["eval", "--checkpoint", str(best), "--data", str(data / "goodreads"), "--split", "test",
                 "--device", "cpu", "--out", str(ood)]) == 0
    metrics = json.loads(ood.read_text())
    assert metrics["test/n_queries"] == stored["ood/test/n_queries"] > 0
    assert metrics["test/hit@5"] == pytest.approx(stored["ood/test/hit_at_5"], abs=1e-6)
