"""The decoded image cache: CLIP preprocessing, reuse, rebuild on change, clear errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tiny_catalog import build_tiny

from rcml_core.data.format import images
from rcml_core.data.format.images import cache_path, image_array
from rcml_core.data.format.io import load_dataset
from rcml_core.errors import DataError


@pytest.fixture(scope="module")
def src_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("src-images")


@pytest.fixture()
def ds(src_images: Path, tmp_path: Path):
    build_tiny(tmp_path / "ds", src_images)
    return load_dataset(tmp_path / "ds")


@pytest.mark.slow  # importing transformers takes seconds on the 2-core machines
def test_cached_pixels_match_clip_image_processor_after_normalisation(ds) -> None:
    from transformers import CLIPImageProcessor

    size = 8  # the source images are 12 x 10: resize the short side to 8, then crop the long side
    arr = image_array(ds, size, progress=False)
    assert arr.shape == (60, size, size, 3) and arr.dtype == np.uint8
    proc = CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    idx = [0, 17, 59]
    ref = proc(images=[Image.open(ds.image_path(i)) for i in idx], return_tensors="np")["pixel_values"]  # (3, 3, 8, 8)
    mean, std = np.array(proc.image_mean), np.array(proc.image_std)
    ours = ((arr[idx] / 255.0 - mean) / std).transpose(0, 3, 1, 2)  # (3, H, W, C) -> (3, C, H, W)
    np.testing.assert_allclose(ours, ref, atol=1e-3)


def test_the_cache_is_reused_without_decoding_again(ds, monkeypatch) -> None:
    first = image_array(ds, 8, progress=False)
    monkeypatch.setattr(images, "_decode", lambda *a: pytest.fail("decoded again"))
    second = image_array(ds, 8, progress=False)
    assert isinstance(second, np.memmap) and np.array_equal(first, second)
    assert [p.name for p in cache_path(ds, 8).parent.iterdir()] == [cache_path(ds, 8).name]


def test_another_size_or_other_dataset_content_gets_its_own_cache(ds, src_images: Path, tmp_path: Path) -> None:
    small, large = image_array(ds, 4, progress=False), image_array(ds, 6, progress=False)
    assert small.shape[1:3] == (4, 4) and large.shape[1:3] == (6, 6)
    build_tiny(tmp_path / "ds2", src_images, seed=5)  # other splits and relations: other content hash
    rebuilt = load_dataset(tmp_path / "ds2")
    shared = tmp_path / "shared-cache"
    a, b = image_array(ds, 4, cache_dir=shared, progress=False), image_array(rebuilt, 4, cache_dir=shared, progress=False)
    assert cache_path(ds, 4, shared) != cache_path(rebuilt, 4, shared)
    assert len(list(shared.glob("*.npy"))) == 2 and a.shape == b.shape


def test_a_cache_file_of_the_wrong_shape_is_rebuilt(ds) -> None:
    path = cache_path(ds, 8)
    path.parent.mkdir(parents=True)
    np.save(path, np.zeros((3, 8, 8, 3), dtype=np.uint8))
    assert image_array(ds, 8, progress=False).shape == (60, 8, 8, 3)


def test_a_missing_image_is_an_error_naming_item_and_file_and_leaves_no_cache(ds) -> None:
    victim = ds.image_path(7)
    victim.unlink()
    with pytest.raises(DataError, match=rf"item 'I007': image file '{victim}' is missing"):
        image_array(ds, 8, progress=False, workers=1)
    assert list((ds.root / images.CACHE_DIR).glob("*")) == []


def test_a_corrupt_image_is_an_error_naming_item_and_file(ds) -> None:
    victim = ds.image_path(3)
    victim.unlink()  # break the hardlink first: the source image is shared with other tests
    victim.write_bytes(b"not a png")
    with pytest.raises(DataError, match=rf"item 'I003': image file '{victim}' cannot be decoded"):
        image_array(ds, 8, progress=False)


def test_image_size_is_validated(ds) -> None:
    with pytest.raises(DataError, match=r"image size must be an integer in \[1, 4096\], got 0"):
        image_array(ds, 0)


def test_processes_starting_together_decode_the_cache_once(ds, monkeypatch) -> None:
    import threading
    import time

    decoded = []
    real = images._decode

    def slow_decode(dataset, index, size):
        decoded.append(index)
        time.sleep(0.002)  # long enough for the other builders to arrive while this one decodes
        return real(dataset, index, size)

    monkeypatch.setattr(images, "_decode", slow_decode)
    results = [None] * 3
    start = threading.Barrier(3)

    def build(k: int) -> None:  # a lock per open file: threads contend exactly as processes do
        start.wait()
        results[k] = image_array(ds, 8, progress=False, workers=1)

    threads = [threading.Thread(target=build, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(decoded) == ds.n_items  # one build, not three
    assert all(np.array_equal(r, results[0]) for r in results)
    assert [p.name for p in cache_path(ds, 8).parent.iterdir()] == [cache_path(ds, 8).name]  # lock file removed


def test_a_cache_never_outlives_an_image_file_it_was_decoded_from(ds) -> None:
    image_array(ds, 8, progress=False)  # built while every image is there
    victim = ds.image_path(11)
    victim.unlink()
    with pytest.raises(DataError, match=rf"^item 'I011': image file '{victim}' is missing$"):
        image_array(ds, 8, progress=False)  # not the pixels decoded before the file went away


def test_an_edited_image_gets_a_new_cache_and_the_stale_one_is_removed(ds) -> None:
    import os

    before = image_array(ds, 8, progress=False)
    old_path = cache_path(ds, 8)
    victim = ds.image_path(5)
    victim.unlink()  # break the hardlink: the source image is shared with other tests
    Image.new("RGB", (12, 10), (0, 0, 0)).save(victim)
    os.utime(victim, ns=(1, 1))  # a different modification time, whatever the clock's resolution
    after = image_array(ds, 8, progress=False)
    assert cache_path(ds, 8) != old_path and not old_path.exists()
    assert (after[5] == 0).all() and not (before[5] == 0).all()
    assert np.array_equal(np.delete(after, 5, axis=0), np.delete(before, 5, axis=0))
