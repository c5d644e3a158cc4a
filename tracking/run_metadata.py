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

METRIC_NAMING = """\
RCML sweeps. One parent run per sweep (tag rcml.role=sweep); under it one child run per trial
(rcml.role=trial), i.e. one configuration (tag rcml.configuration, e.g. "summary_mix=logit beta=0.6")
trained with one seed (tag seed). Group the runs by rcml.configuration to compare configurations over seeds.

One naming scheme for every number: [stage/]split/[scorer]metric[_sim][_statistic]
- stage: which model state or aggregate the number belongs to.
  none    (children) per epoch, step = epoch (0 = before training): val/ only, the selection curve;
  best/   (children) the best value so far of the selection metric (best/val/hit_at_5);
  final/  one trained checkpoint (the run's best epoch) evaluated at the end: on children final/val/ and,
          for the selected configuration's trials, final/test/ (that seed's test result); the registered
          model version's tags are the same final/test/ numbers of the one checkpoint it holds;
  selected/        (parent) the selected configuration over its seeds: selected/val/hit_at_5 (its
                   selection score), selected/test/... (its test results);
  baselines/       (parent) scorers beside the selection on the same queries: the CLIP runs trained with
                   the same budget and seeds (baselines/test/concat_, plain_), the training-free score and
                   the reference scorers on val (baselines/val/free_, ref_);
  ood/             (parent, with --ood-data) the selected configuration on the out-of-domain dataset's test
                   queries over its seeds (ood/test/...), beside the scorers that need no training there;
  configurations/<label>/  (parent) every configuration's val Hit@5 over its seeds (val/hit_at_5, _std,
                   _ci_lo, _ci_hi, val/n_seeds); trials/, cost/, confirm/: the sweep's bookkeeping.
- split: val/ (validation: selection) or test/ (held out: reported once, for the selected configuration).
- metric: hit_at_1, hit_at_5, hit_at_10, mrr (relation-guided retrieval: the partner among 21 candidates);
  rtype_top1/rtype_top3 (relation-type prediction), validity_acc (relation-validity probe).
- sim: similarity type: _tt text.text, _ii image.image, _ti text A.image B, _it image A.text B; no suffix =
  AVG, the averaged text+image embeddings (val/hit_at_5 is AVG and the selection metric; there is no
  val/hit_at_5_avg). Relation-type metrics name all five (rtype_top3_avg). Model-free reference scorers
  have one value and no suffix.
- scorer: none = the trained model under its own protocol; free_ = training-free score on the UNTRAINED
  backbone; ref_pop_, ref_cat_, ref_catrel_ = model-free reference scorers fitted on train edges (category
  popularity, category pair, category pair given the relation); concat_ = CLIP-concat (the relation text
  appended to the title), plain_ = CLIP fine-tuned, relation ignored.
- statistic: none = the value (over seeds: the mean over seeds); _std = standard deviation over seeds;
  _ci_lo/_ci_hi = 95% bootstrap interval over distinct query pairs (over seeds: pooled per query).
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


OOD_CONTEXT = "ood_test"  # the dataset input of a sweep's --ood-data (the training data's context is "train")


def dataset_input(data: Path | str, context: str = "train") -> DatasetInput | None:
    """The dataset folder as an MLflow dataset input (digest: its manifest's content hash), None without one;
    `context`: what the run did with it ("train", or OOD_CONTEXT for the out-of-domain evaluation)."""
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
    return DatasetInput(dataset=dataset, tags=[InputTag(key=MLFLOW_DATASET_CONTEXT, value=context)])


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


def version_description(study: str, configuration: str, seed: int | str, seeds: Sequence[int], rule: str,
                        sweep: str) -> str:
    """The registered model version's description (Markdown in the UI)."""
    return (f"RCML, study `{study}`, sweep `{sweep}`.\n\n"
            f"- configuration: `{configuration}`\n"
            f"- this checkpoint: seed {seed} (the configuration's best seed on val Hit@5); the configuration ran "
            f"seeds {', '.join(map(str, seeds))}\n"
            f"- selection rule: {rule}\n"
            f"- the version's final/test/* tags are this checkpoint's (this seed's) test metrics, as on its trial's "
            f"run; the configuration's mean, std over seeds and pooled 95% intervals are the parent run's "
            f"selected/test/* metrics, and its report is the parent run's report/ artifacts.")
