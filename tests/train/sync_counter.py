"""Counting the host-device synchronisations a training step would make on a GPU, on the CPU.

On the CPU nothing synchronises, so the counter tracks which tensors *would* live on the device:
the model's parameters and whatever crosses `rcml_core.train.inputs.to_device`, and, through every
op, whatever is computed from them (dispatch-level taint tracking). A synchronisation is an op that
makes the host wait for such a tensor's value: reading a scalar (`item`, `bool`, `int`, `float`,
`isfinite` in an `if`), `tolist` / `numpy` / `cpu`, ops whose output size depends on values
(`nonzero`, `unique`, `masked_select`, boolean-mask indexing, `repeat_interleave` without a size),
`torch.equal`. On CUDA the same step runs under `torch.cuda.set_sync_debug_mode`.
"""

from __future__ import annotations

import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.weak import WeakTensorKeyDictionary

import rcml_core.train.batching as batching_module
import rcml_core.train.inputs as inputs_module

ROOT = Path(__file__).resolve().parents[2]
SYNCING_OPS = {"aten::_local_scalar_dense", "aten::nonzero", "aten::_unique2", "aten::unique_consecutive",
               "aten::unique_dim", "aten::equal", "aten::masked_select", "aten::is_nonzero"}
SYNCING_METHODS = {"tolist", "numpy", "cpu"}


@dataclass
class Sync:
    what: str
    where: str  # "file.py:line" of the innermost frame in this repository


@dataclass
class SyncCounter:
    """`with counter.tracking(): ...` records `counter.syncs`; `counter.device(t)` marks a tensor."""

    syncs: list[Sync] = field(default_factory=list)
    _device: WeakTensorKeyDictionary = field(default_factory=WeakTensorKeyDictionary)

    def device(self, *tensors: torch.Tensor) -> None:
        for t in tensors:
            self._device[t] = True

    def on_device(self, value) -> bool:
        return isinstance(value, torch.Tensor) and value in self._device

    def record(self, what: str) -> None:
        frames = [f for f in traceback.extract_stack()
                  if f.filename.startswith(str(ROOT)) and not f.filename.endswith("sync_counter.py")
                  and "site-packages" not in f.filename]  # a virtualenv inside the checkout (CI's .venv) is not ours
        where = f"{Path(frames[-1].filename).relative_to(ROOT)}:{frames[-1].lineno}" if frames else "?"
        self.syncs.append(Sync(what, where))

    def by_place(self) -> Counter:
        return Counter(s.where for s in self.syncs)

    def tracking(self, model: torch.nn.Module, monkeypatch) -> _Tracking:
        self.device(*model.parameters())
        real = inputs_module.to_device

        def to_device(t, device):
            moved = real(t, device)
            self.device(moved)
            return moved

        for module in (inputs_module, batching_module):  # every module that uploads, by its own name
            monkeypatch.setattr(module, "to_device", to_device)
        return _Tracking(self)


class _Dispatch(TorchDispatchMode):
    def __init__(self, counter: SyncCounter) -> None:
        super().__init__()
        self.counter = counter

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        flat, _ = tree_flatten((args, kwargs))
        tainted = any(self.counter.on_device(a) for a in flat)
        name = func._schema.name
        if tainted:
            bool_index = name in ("aten::index.Tensor", "aten::index_put_", "aten::index_put") and any(
                isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in args[1] if i is not None)
            unsized_repeat = name == "aten::repeat_interleave" and kwargs.get("output_size") is None
            if name in SYNCING_OPS or bool_index or unsized_repeat:
                self.counter.record(name)
        out = func(*args, **kwargs)
        if tainted:
            self.counter.device(*(t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)))
        return out


class _Function(TorchFunctionMode):
    def __init__(self, counter: SyncCounter) -> None:
        super().__init__()
        self.counter = counter

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in SYNCING_METHODS and args and self.counter.on_device(args[0]):
            self.counter.record(name)
        return func(*args, **(kwargs or {}))


class _Tracking:
    def __init__(self, counter: SyncCounter) -> None:
        self.modes = (_Function(counter), _Dispatch(counter))

    def __enter__(self) -> None:
        for mode in self.modes:
            mode.__enter__()

    def __exit__(self, *exc) -> None:
        for mode in reversed(self.modes):
            mode.__exit__(*exc)
