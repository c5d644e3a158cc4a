"""Building the next batches while the device trains on the current one.

A batch of 512 relation pairs at 224 px means sampling and the false-negative mask, ~900 titles
and images gathered from the caches, packing, and ~135 MB of uint8 pixels copied to the device;
built serially in the training thread that is time the GPU waits (docs/performance.md §8).
`prefetch_batches` runs the building in a producer thread, `depth` batches ahead:

- the producer gathers each batch's images into one of two staging buffers (pinned), in turn,
  so it fills one while the other's copy may still be running, on `gather_threads` threads;
- on CUDA it issues the batch's host-to-device copies (and the images' normalisation) on its own
  stream; the training stream waits for that stream's event before it uses the batch, and each
  tensor is recorded as used by the training stream so the allocator does not hand its memory
  back to the copy stream early;
- the batches come out in the sampler's order, identical to building them inline (`depth=0`);
  an error in the producer is raised in the training thread at the batch where it happened.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import fields

import torch

from rcml_core.model.batch import BatchShard, PairBatch
from rcml_core.model.packing import PackedText
from rcml_core.runtime.inputs import ImageStaging
from rcml_core.train.sampler import PairIndexBatch

PREFETCH_DEPTH = 2  # batches built ahead on CUDA
BuildBatch = Callable[[PairIndexBatch, ImageStaging], PairBatch]
_DONE = object()


def prefetch_batches(index_batches: Iterable[PairIndexBatch], build: BuildBatch, device: torch.device,
                     depth: int = PREFETCH_DEPTH, gather_threads: int | None = None) -> Iterator[PairBatch]:
    """`build(index_batch, staging)` for every index batch, in order; depth > 0: in a producer thread.

    gather_threads: threads copying each batch's images (default: 1 inline, else torch's intra-op
    thread count, at most 4: the training thread mostly waits for the GPU).
    """
    device = torch.device(device)
    if gather_threads is None:
        gather_threads = 1 if depth <= 0 else min(4, torch.get_num_threads())
    stagings = [ImageStaging(pin=device.type == "cuda", threads=gather_threads) for _ in range(2)]
    try:
        if depth <= 0:
            for k, index_batch in enumerate(index_batches):
                yield build(index_batch, stagings[k % 2])
            return
        yield from _Producer(index_batches, build, device, depth, stagings)
    finally:
        for staging in stagings:
            staging.close()


class _Producer:
    def __init__(self, index_batches: Iterable[PairIndexBatch], build: BuildBatch, device: torch.device, depth: int,
                 stagings: list[ImageStaging]) -> None:
        self.index_batches, self.build, self.device, self.stagings = index_batches, build, device, stagings
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.stop = threading.Event()
        self.stream = torch.cuda.Stream(device) if device.type == "cuda" else None
        self.thread = threading.Thread(target=self._run, name="rcml-batch-producer", daemon=True)

    def __iter__(self) -> Iterator[PairBatch]:
        self.thread.start()
        try:
            while True:
                item = self.queue.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                batch, ready = item
                yield self._use_on_current_stream(batch, ready)
        finally:
            self.stop.set()
            while self.thread.is_alive():  # unblock a producer waiting on a full queue
                try:
                    self.queue.get_nowait()
                except queue.Empty:
                    pass
                self.thread.join(timeout=0.05)

    def _put(self, item) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            if self.stream is not None:
                torch.cuda.set_device(self.device)
            for k, index_batch in enumerate(self.index_batches):
                if self.stop.is_set():
                    return
                ready = None
                if self.stream is not None:
                    with torch.cuda.stream(self.stream):
                        batch = self.build(index_batch, self.stagings[k % 2])
                        ready = torch.cuda.Event()
                        ready.record(self.stream)
                else:
                    batch = self.build(index_batch, self.stagings[k % 2])
                if not self._put((batch, ready)):
                    return
            self._put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the training thread, raised there
            self._put(exc)

    def _use_on_current_stream(self, batch: PairBatch, ready) -> PairBatch:
        if ready is None:
            return batch
        current = torch.cuda.current_stream(self.device)
        current.wait_event(ready)
        for tensor in _tensors(batch):
            tensor.record_stream(current)
        return batch


def _tensors(batch: PairBatch) -> Iterator[torch.Tensor]:
    for f in fields(batch):
        value = getattr(batch, f.name)
        if isinstance(value, torch.Tensor):
            yield value
        elif isinstance(value, PackedText):
            yield from (getattr(value, g.name) for g in fields(value))
        elif isinstance(value, BatchShard):
            yield value.relation_intra
