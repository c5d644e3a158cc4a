"""The training loss, kept on the device between the reads that logging needs.

Reading a loss back (`float(loss)`, `if not torch.isfinite(loss)`) makes the host wait for the
device to finish the step, so a loop that reads it every step cannot queue the next step ahead.
`LossLog` sums the loss terms on the device and remembers the first non-finite step there; the
loop reads them every `train.log_every` steps and at the end of the epoch, and raises
`DivergedError` then, naming the first step whose loss was not finite.
"""

from __future__ import annotations

import torch

from rcml_core.errors import DivergedError
from rcml_core.loss import LossOutput

LOSS_KEYS: tuple[str, ...] = ("loss", "loss_ti", "loss_it", "loss_tt", "loss_ii")  # LossOutput.to_dict's keys


class LossLog:
    def __init__(self, device: torch.device) -> None:
        self.sums = torch.zeros(len(LOSS_KEYS), dtype=torch.float64, device=device)  # (5,)
        self.last = torch.zeros(len(LOSS_KEYS), device=device)  # (5,) the latest step's terms
        self.first_bad_step = torch.full((), -1, dtype=torch.long, device=device)
        self.first_bad_value = torch.zeros((), device=device)
        self.steps = 0

    def add(self, out: LossOutput, step: int) -> None:
        """Record a step's loss terms; `step` is the number of optimiser steps taken before it. No sync."""
        self.last = torch.stack([out.total, out.ti, out.it, out.tt, out.ii]).detach().float()  # (5,)
        self.sums += self.last.double()  # the same float64 sums as adding Python floats, step by step
        total = self.last[0]
        newly_bad = ~torch.isfinite(total) & (self.first_bad_step < 0)
        self.first_bad_step = torch.where(newly_bad, step, self.first_bad_step)
        self.first_bad_value = torch.where(newly_bad, total, self.first_bad_value)
        self.steps += 1

    def _read(self, values: torch.Tensor) -> list[float]:
        """`values` (float64) read back together with the divergence record, in one transfer; raises
        DivergedError at the first step whose loss was not finite."""
        bad = torch.stack([self.first_bad_step.double(), self.first_bad_value.double()])
        *read, step, value = torch.cat([values, bad]).tolist()
        if step >= 0:
            raise DivergedError(int(step), value)
        return read

    def latest(self) -> dict[str, float]:
        """The latest step's terms (one read from the device)."""
        return dict(zip(LOSS_KEYS, self._read(self.last.double())))

    def means(self) -> dict[str, float]:
        """Mean of each term over the steps added (one read from the device)."""
        sums = self._read(self.sums)
        return {k: v / self.steps for k, v in zip(LOSS_KEYS, sums)} if self.steps else {}
