"""A checkpoint write killed at any point, or failing for lack of space, never costs the previous checkpoint.

The kill tests run the write in a child process that announces where it is, then SIGKILL it there (what
the OOM killer or a preempted node does: no handler, no clean-up) and load `last` in this process.
"""

from __future__ import annotations

import errno
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from rcml_core.runtime import checkpoint
from rcml_core.runtime.checkpoint import CheckpointWriteError, TrainState, load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parents[2]

# The child: saves epoch 1 (seeded weights), then starts saving epoch 2 (weights all 7.0) and stalls at `where`.
CHILD = r"""
import sys, time
from pathlib import Path
import torch
from torch import nn
from rcml_core.runtime import checkpoint
from rcml_core.runtime.checkpoint import TrainState, save_checkpoint

folder, where = Path(sys.argv[1]), sys.argv[2]
torch.manual_seed(0)
model = nn.Linear(4, 3)
opt = torch.optim.AdamW(model.parameters(), lr=0.1)
save_checkpoint(folder / "last", model, opt, None, TrainState(epoch=1), {"epoch": 1})

def stall():
    print("STALLED", flush=True)
    time.sleep(120)

if where == "mid-file":  # half of trainer.pt is on disk when the process dies
    def torch_save(obj, f):  # save_checkpoint hands torch.save an open file
        f.write(b"PK\x03\x04 half a file")
        f.flush()
        stall()
    checkpoint.torch.save = torch_save
elif where == "between-renames":  # `last` moved aside, the new folder not yet renamed into place
    real_rename = Path.rename
    def rename(self, target):
        out = real_rename(self, target)
        if Path(target).name == ".last.old":
            stall()
        return out
    Path.rename = rename
with torch.no_grad():
    for p in model.parameters():
        p.fill_(7.0)
save_checkpoint(folder / "last", model, opt, None, TrainState(epoch=2), {"epoch": 2})
print("DONE", flush=True)
"""


def _seeded_weights() -> list[torch.Tensor]:
    torch.manual_seed(0)
    return [p.detach().clone() for p in nn.Linear(4, 3).parameters()]


@pytest.mark.parametrize("where", ["mid-file", "between-renames"])
def test_a_write_killed_midway_leaves_the_previous_checkpoint_loadable(tmp_path: Path, where: str) -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), where], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline().strip()
        assert line == "STALLED", (line, child.stderr.read()[-3000:])
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    if where == "between-renames":
        assert not (tmp_path / "last").exists()  # the kill landed in the window the recovery is for
    model = nn.Linear(4, 3)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    state = load_checkpoint(tmp_path / "last", model, opt)
    assert state.epoch == 1
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), _seeded_weights()))
    # and the next write goes through, leaving only the new checkpoint
    save_checkpoint(tmp_path / "last", model, opt, None, TrainState(epoch=3), {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]
    assert load_checkpoint(tmp_path / "last", nn.Linear(4, 3)).epoch == 3


def test_a_full_disk_is_an_error_naming_the_checkpoint_and_keeps_the_previous_one(tmp_path: Path,
                                                                                 monkeypatch) -> None:
    model = nn.Linear(4, 3)
    save_checkpoint(tmp_path / "last", model, None, None, TrainState(epoch=1), {})

    def no_space(tensors, filename, *args, **kwargs):
        with open(filename, "wb") as f:
            f.write(b"\0" * 16)  # a few bytes fit, then the file system is full
        raise OSError(errno.ENOSPC, "No space left on device", filename)

    monkeypatch.setattr(checkpoint, "save_file", no_space)
    with pytest.raises(CheckpointWriteError, match=rf"cannot write checkpoint {tmp_path / 'last'} .*"
                                                  r"No space left on device; the previous checkpoint is kept"):
        save_checkpoint(tmp_path / "last", model, None, None, TrainState(epoch=2), {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]  # the partial temporary folder is gone
    assert load_checkpoint(tmp_path / "last", nn.Linear(4, 3)).epoch == 1
