"""The registered model: an MLflow pyfunc wrapping a trained RCML checkpoint.

    model = mlflow.pyfunc.load_model("models:/rcml-beta_sweep@champion")
    out = model.predict(pd.DataFrame({"text": [...], "image": [paths], "relation": [...]}))

Each input row is an item (title, image file path) and the relation text to condition
it on; the output has the unit relation-conditioned embeddings `z_text`, `z_image` and
their normalised mean `z_avg` (what the AVG similarity compares), one list per row.
Rows are grouped by relation, so the backbone runs once per item and the attention
once per relation.
"""

from __future__ import annotations

import mlflow.pyfunc
import numpy as np
import pandas as pd
import torch

from rcml_core.eval.similarity import average_embedding
from rcml_core.serve import RCMLEncoder

CHECKPOINT_ARTIFACT = "checkpoint"
INPUT_COLUMNS = ("text", "image", "relation")


class RCMLPyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        self.encoder = RCMLEncoder.from_checkpoint(context.artifacts[CHECKPOINT_ARTIFACT], device="auto")

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        missing = [c for c in INPUT_COLUMNS if c not in model_input.columns]
        if missing:
            raise ValueError(f"input is missing column(s) {missing}; expected {list(INPUT_COLUMNS)}")
        rows = model_input.reset_index(drop=True)
        items = self.encoder.encode_items(rows["text"].astype(str).tolist(), rows["image"].tolist())
        d = items.text.tokens.shape[-1]
        out = {name: np.zeros((len(rows), d), dtype=np.float32) for name in ("z_text", "z_image", "z_avg")}
        for relation, group in rows.groupby("relation", sort=False):
            idx = torch.as_tensor(group.index.to_numpy().copy())
            z = self.encoder.condition(items, [str(relation)])  # (1, U, d)
            text, image = z.text[0, idx], z.image[0, idx]
            out["z_text"][group.index] = text.cpu().numpy()
            out["z_image"][group.index] = image.cpu().numpy()
            out["z_avg"][group.index] = average_embedding(text, image).cpu().numpy()
        return pd.DataFrame({k: list(v) for k, v in out.items()})


def signature():
    """The model's input columns (recorded with it, checked by MLflow on predict)."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    return ModelSignature(inputs=Schema([ColSpec("string", name) for name in INPUT_COLUMNS]))


# Models from code (mlflow.org/docs/latest/ml/model/models-from-code): MLflow logs this file and runs it
# when the model is loaded; the registry logs `__file__` instead of pickling an instance.
mlflow.models.set_model(RCMLPyfunc())
