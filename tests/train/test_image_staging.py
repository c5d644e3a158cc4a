"""Images are read from the cache's shared memory map into a reused staging buffer, never copied whole
into a process (a 100k-item catalog at 224 px is 15 GB per copy)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rcml_core.runtime.inputs import ImageStaging
from rcml_core.runtime.run_config import resolve_run_config
from rcml_core.runtime.session import build_session


@pytest.fixture(scope="module")
def inputs(tiny_data: Path):
    return build_session(resolve_run_config("tiny", overrides=[f"data={tiny_data}", "device=cpu"])).inputs


def test_the_image_cache_stays_a_read_only_memory_map_shared_with_the_page_cache(inputs) -> None:
    cache = inputs.image_cache
    assert isinstance(cache, np.memmap) and cache.mode == "r" and not cache.flags.writeable
    assert np.shares_memory(inputs.images.numpy(), cache)  # the tensor reads the map's pages, no copy
    assert np.array_equal(inputs.images.numpy(), np.load(cache.filename, mmap_mode="r"))


def test_batches_reuse_one_staging_buffer_and_get_their_own_pixels(inputs) -> None:
    staging = ImageStaging(pin=False)
    first = inputs.pixels(np.array([3, 1, 4]), "cpu", staging)
    buffer = staging.buffer.data_ptr()
    second = inputs.pixels(np.array([5, 9]), "cpu", staging)
    assert staging.buffer.data_ptr() == buffer  # no new allocation for a batch that fits
    def expected(idx):
        return ((inputs.images[idx].permute(0, 3, 1, 2).float() / 255.0) - inputs.mean) / inputs.std

    assert torch.equal(first, expected(torch.tensor([3, 1, 4])))  # not overwritten by the second batch
    assert torch.equal(second, expected(torch.tensor([5, 9])))
    inputs.pixels(np.arange(20), "cpu", staging)  # a larger batch grows the buffer once
    assert staging.buffer.shape[0] >= 20


def test_the_normalisation_constants_are_uploaded_once_per_device(inputs) -> None:
    assert inputs.normalisation(torch.device("cpu"))[0] is inputs.normalisation(torch.device("cpu"))[0]


def test_a_gather_split_over_threads_copies_the_same_bytes(inputs) -> None:
    index = torch.tensor([0, 7, 8, 21, 22, 40, 59, 3])
    one, four = ImageStaging(pin=False), ImageStaging(pin=False, threads=4)
    try:
        assert torch.equal(one.gather(inputs.images, index), four.gather(inputs.images, index))
        assert torch.equal(four.gather(inputs.images, index), inputs.images[index])
        with pytest.raises(IndexError, match=r"image index out of range \[0, 60\)"):
            four.gather(inputs.images, torch.tensor([1, 60]))
    finally:
        four.close()


@pytest.mark.gpu
def test_on_cuda_the_staging_buffer_is_pinned_and_reused_after_its_copy(inputs) -> None:
    staging = ImageStaging(pin=True)
    first = inputs.pixels(np.array([3, 1, 4]), "cuda", staging)
    assert staging.buffer.is_pinned() and staging.copied is not None
    second = inputs.pixels(np.array([5, 9]), "cuda", staging)  # waits for the first copy, then refills
    assert torch.allclose(first.cpu(), inputs.pixels(np.array([3, 1, 4]), "cpu"), atol=1e-6)
    assert torch.allclose(second.cpu(), inputs.pixels(np.array([5, 9]), "cpu"), atol=1e-6)
