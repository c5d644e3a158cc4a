"""How build_dataset derives relations: fitted on train purchases only, and on item attributes when asked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tiny_catalog import build_tiny, tiny_interactions, tiny_items

from rcml_core.data.build.dataset import BuildConfig
from rcml_core.data.format.io import load_dataset
from rcml_core.data.build.splits import assign_splits
from rcml_core.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("src-images")


def _eval_items(image_dir: Path) -> set[str]:
    split = assign_splits(tiny_items(image_dir)["item_id"], (0.6, 0.2, 0.2), seed=0)
    return set(split.index[split.to_numpy() != "train"])


def test_relations_fitted_on_train_do_not_change_when_eval_purchases_change(image_dir: Path, tmp_path: Path) -> None:
    """Moving every purchase of val/test items to other val/test items leaves the relation texts as they
    were: no evaluation item shapes the clusters (BuildConfig.cluster_fit = "train")."""
    inter = tiny_interactions()
    held_out = sorted(_eval_items(image_dir))
    rng = np.random.default_rng(1)
    moved = inter.copy()
    rows = moved["item_id"].isin(held_out).to_numpy()
    moved.loc[rows, "item_id"] = rng.choice(held_out, size=int(rows.sum()))
    moved = moved.drop_duplicates(["user_id", "item_id"])
    build_tiny(tmp_path / "a", image_dir, interactions=inter)
    build_tiny(tmp_path / "b", image_dir, interactions=moved)
    a, b = load_dataset(tmp_path / "a"), load_dataset(tmp_path / "b")
    assert a.relations["text"].tolist() == b.relations["text"].tolist()
    # with the clustering fitted on every purchase, the same change moves the centroids
    build_tiny(tmp_path / "c", image_dir, interactions=inter, cluster_fit="all")
    build_tiny(tmp_path / "d", image_dir, interactions=moved, cluster_fit="all")
    c, d = load_dataset(tmp_path / "c"), load_dataset(tmp_path / "d")
    assert c.relations["text"].tolist() != d.relations["text"].tolist()


def _with_colours(image_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tiny catalog with a colour per item and shoppers who keep to one colour (users 0-23) or mix
    them freely (24-47), all buying across every category."""
    items = tiny_items(image_dir)
    colours = np.array(["red", "green", "blue"])[np.arange(len(items)) % 3]
    items["attributes"] = [{"colour": c} for c in colours]
    rng = np.random.default_rng(0)
    rows = []
    for u in range(48):
        own = colours == colours[u % 3]
        pool = np.flatnonzero(own) if u < 24 else np.arange(len(items))
        for k in rng.choice(pool, size=6, replace=False):
            rows.append({"user_id": f"U{u:03d}", "item_id": items["item_id"].iat[int(k)]})
    return items, pd.DataFrame(rows)


def test_users_clustered_on_an_attribute_give_relations_that_say_they_keep_to_it(image_dir, tmp_path) -> None:
    items, inter = _with_colours(image_dir)
    manifest = build_tiny(tmp_path / "ds", image_dir, items=items, interactions=inter, n_clusters=2,
                          behaviour_attributes=("colour",))
    texts = load_dataset(tmp_path / "ds").relations["text"].tolist()[1:]
    assert any("keep to one colour" in t for t in texts) and any("whatever the colour" in t for t in texts), texts
    assert manifest.source["build"]["behaviour_attributes"] == ["colour"]
    assert "attributes" not in pd.read_parquet(tmp_path / "ds" / "items.parquet").columns  # metadata stays out


def test_behaviour_attributes_the_items_do_not_state_are_a_one_line_error(image_dir, tmp_path) -> None:
    items, inter = _with_colours(image_dir)
    with pytest.raises(DataError, match=r"no item states the behaviour attribute\(s\) \['material'\]"):
        build_tiny(tmp_path / "x", image_dir, items=items, interactions=inter, behaviour_attributes=("material",))
    with pytest.raises(DataError, match="the items have no 'attributes' column"):
        build_tiny(tmp_path / "y", image_dir, behaviour_attributes=("colour",))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("behaviour_attributes", ("colour", "colour"), "distinct non-empty names"),
     ("behaviour_attributes", "colour", "distinct non-empty names"),
     ("behaviour_weight", 0.0, "behaviour_weight must be > 0, got 0.0"),
     ("cluster_fit", "val", r"cluster_fit must be one of \('train', 'all'\)")],
)
def test_bad_relation_settings_are_config_errors_naming_the_field(field, value, message) -> None:
    with pytest.raises(ConfigError, match=message):
        BuildConfig(name="x", **{field: value})


def test_an_attributes_value_that_is_not_a_dict_is_a_bad_record_naming_the_item(image_dir, tmp_path) -> None:
    items, inter = _with_colours(image_dir)
    items.at[5, "attributes"] = "red"
    with pytest.raises(DataError, match=r"item 'I005' \(items row 5\): attributes must be a dict"):
        build_tiny(tmp_path / "z", image_dir, items=items, interactions=inter, behaviour_attributes=("colour",))
