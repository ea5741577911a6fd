"""Lightning's DDP on the CPU with 2 processes (gloo): the module's manual optimization, several
backward passes per batch (truncated backpropagation) and a trick that draws random numbers keep
both processes' parameters equal, bit for bit. Starts 2 processes (10 to 30 s on a small machine)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import lightning_ddp_run
import torch
from safetensors.torch import load_file

SCRIPT = str(Path(lightning_ddp_run.__file__))


def test_two_processes_end_with_equal_parameters(tmp_path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rank0, rank1 = load_file(tmp_path / "rank0.safetensors"), load_file(tmp_path / "rank1.safetensors")
    initial = load_file(tmp_path / "initial.safetensors")
    assert set(rank0) == set(rank1) == set(initial)
    assert all(torch.equal(rank0[name], rank1[name]) for name in rank0)
    assert all(not torch.equal(rank0[name], initial[name]) for name in rank0)  # it trained
    # 16 samples, 2 processes, 4 a batch: 2 steps an epoch on each process
    assert (tmp_path / "steps.txt").read_text() == "4"
