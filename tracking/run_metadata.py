"""What makes a sweep's MLflow store readable by someone who did not write it.

- the experiment's description (`mlflow.note.content`, shown above the runs) explains the metric names;
- every child run says which configuration (`rcml.configuration`, e.g. "summary_mix=logit beta=0.6") and
  which seed (`seed`) it is, so the UI can group runs by configuration and show the spread over seeds;
- every run records the code (`mlflow.source.git.commit`, in a git checkout), the dataset (an MLflow dataset
  input whose digest is the dataset manifest's content hash) and its resolved config (`config.json`);
- every child records where its best checkpoint lives (`rcml.best_checkpoint`);
- the registered model version's description says what it is: configuration, seed, selection rule.

    link = ui_link("http://127.0.0.1:5000", experiment_id)   # lands on the training runs, not the GenAI page
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlflow.entities import Dataset, DatasetInput, InputTag
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT, MLFLOW_GIT_COMMIT

TAG_NOTE = "mlflow.note.content"
DIGEST_CHARS = 32  # MLflow stores a dataset digest in at most 36 characters; the full hash is in the profile
RUNS_VIEW = "runs?workflowType=machine_learning"  # MLflow 3 opens an experiment on its GenAI page otherwise

METRIC_NAMING = """\
RCML sweeps. One parent run per sweep (tag rcml.role=sweep); under it one child run per trial
(rcml.role=trial), i.e. one configuration (tag rcml.configuration, e.g. "summary_mix=logit beta=0.6")
trained with one seed (tag seed). Group the runs by rcml.configuration to compare configurations over seeds.

Metric names: [stage/]split/[scorer]metric[_sim][statistic]
- stage: none on children = per epoch (step = epoch, 0 = before training); final/ on children = the best
  checkpoint's full evaluation at the end of the trial (final/test/ only for the selected configuration);
  on the parent: selected/ = the selected configuration over its seeds, baselines/ = scorers that need no
  trial (reference scorers, training-free score) on the same val queries, trials/ and cost/ = the sweep.
- split: val/ (validation: selection) or test/ (held out: reported once, for the selected configuration).
- metric: hit_at_1, hit_at_5, hit_at_10, mrr (relation-guided retrieval: the partner among 21 candidates);
  rtype_top1/rtype_top3 (relation-type prediction), validity_acc (relation-validity probe).
- sim: similarity type: _tt text.text, _ii image.image, _ti text A.image B, _it image A.text B, _avg the
  averaged text+image embeddings; a retrieval metric without a suffix is _avg again (val/hit_at_5, the
  selection metric); model-free reference scorers have no suffix.
- scorer: none = the trained model; free_ = training-free score on the UNTRAINED backbone; ref_pop_,
  ref_cat_, ref_catrel_ = model-free reference scorers fitted on train edges (category popularity,
  category pair, category pair given the relation); plain_ / concat_ = the CLIP baseline's other protocol.
- statistic: none = the value (over seeds: the mean); _std = standard deviation over seeds; _ci_lo/_ci_hi =
  95% bootstrap interval over distinct query pairs (over seeds: pooled per query); selected/val/hit_at_5_mean
  and _std: the selection score over seeds.
- counts: n_queries (retrieval queries), n_pairs (distinct item pairs, the bootstrap's clusters), n_seeds.
"""


def git_commit(root: Path | str) -> str | None:
    """HEAD's commit of the checkout holding `root`, or None (no git, not a checkout: e.g. Ray's copy)."""
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None


def dataset_input(data: Path | str) -> DatasetInput | None:
    """The dataset folder as an MLflow dataset input (digest: its manifest's content hash), None without one."""
    manifest_path = Path(data) / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return None
    content_hash = str(manifest.get("content_hash") or "")
    if not content_hash:
        return None
    profile = {"content_hash": content_hash, "schema_version": manifest.get("schema_version"),
               "counts": manifest.get("counts")}
    dataset = Dataset(name=str(manifest.get("name") or Path(data).name), digest=content_hash[:DIGEST_CHARS],
                      source_type="local", source=json.dumps({"uri": Path(data).resolve().as_uri()}),
                      profile=json.dumps(profile, default=str))
    return DatasetInput(dataset=dataset, tags=[InputTag(key=MLFLOW_DATASET_CONTEXT, value="train")])


def describe_experiment(client: MlflowClient, experiment_id: str) -> None:
    """The experiment's description: how the runs and metric names read (shown at the top of its page)."""
    client.set_experiment_tag(experiment_id, TAG_NOTE, METRIC_NAMING)


def describe_run(client: MlflowClient, run_id: str, commit: str | None, dataset: DatasetInput | None,
                 config: Mapping[str, Any] | None = None, tags: Mapping[str, str] | None = None) -> None:
    """The git commit, the dataset input, extra tags and, when the run has none yet, `config` as config.json."""
    all_tags = {**({MLFLOW_GIT_COMMIT: commit} if commit else {}), **(tags or {})}
    for key, value in all_tags.items():
        client.set_tag(run_id, key, str(value))
    if dataset is not None:
        client.log_inputs(run_id, datasets=[dataset])
    if config is not None and "config.json" not in {a.path for a in client.list_artifacts(run_id)}:
        client.log_dict(run_id, dict(config), "config.json")


def ui_link(base_url: str, experiment_id: str) -> str:
    """The MLflow UI address of the experiment's training runs (MLflow 3 otherwise opens its GenAI overview)."""
    return f"{base_url.rstrip('/')}/#/experiments/{experiment_id}/{RUNS_VIEW}"


def version_description(study: str, configuration: str, seed: int | str, seeds: Sequence[int], rule: str,
                        sweep: str) -> str:
    """The registered model version's description (Markdown in the UI)."""
    return (f"RCML, study `{study}`, sweep `{sweep}`.\n\n"
            f"- configuration: `{configuration}`\n"
            f"- this checkpoint: seed {seed} (the configuration's best seed on val Hit@5); the configuration ran "
            f"seeds {', '.join(map(str, seeds))}\n"
            f"- selection rule: {rule}\n"
            f"- the version's test/* tags are this seed's test metrics; the configuration's mean, std over seeds "
            f"and pooled 95% intervals are the parent run's selected/test/* metrics, and its report is the "
            f"parent run's report/ artifacts.")
