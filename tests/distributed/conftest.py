"""Launching test functions on several gloo ranks, and a tiny run that trains in a second.

Ranks are forked from the test process (``torch.multiprocessing.start_processes``), so they start
without re-importing torch; each one gets ``RANK`` / ``WORLD_SIZE`` / ``MASTER_*`` like ``torchrun``
would set them, and a single BLAS thread (the test machine has two cores).
"""

import os
import socket
import sys

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from omnimask.data.config import DataConfig
from omnimask.data.token_store import TokenStore
from omnimask.masking import MaskingConfig, all2all
from omnimask.model import ModelConfig
from omnimask.training.config import TrainConfig
from omnimask.training.optim import OptimConfig

SPECS = {
    "tok_x": {"kind": "image_tokens", "vocab_size": 8, "num_tokens": 4, "grid": [2, 2], "patch_size": 4},
    "tok_y": {"kind": "image_tokens", "vocab_size": 8, "num_tokens": 4, "grid": [2, 2], "patch_size": 4},
    "caption": {"kind": "sequence", "vocab_size": 260, "num_tokens": 6, "max_length": 6},
}


def _entry(rank, fn, world_size, port, args):
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank)
    )
    torch.set_num_threads(1)
    # Keep the process group until the rank leaves, and leave at once, before any destructor runs: a
    # forked rank whose peer had already finished hung now and then in gloo's teardown
    # (destroy_process_group from Trainer.close, or ~ProcessGroupGloo joining its threads when the last
    # reference to the group went with the DDP reducer; torch 2.13, seen with py-spy), stalling the
    # suite. torchrun's processes are not forked and leave the group normally (checked by hand).
    from omnimask.training import distributed

    distributed.teardown = lambda ctx: None
    fn(rank, *args)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def run_ranks(fn, world_size, *args):
    """Run ``fn(rank, *args)`` on ``world_size`` forked processes; a failure on any rank fails the test."""
    # DDP imports torch._dynamo on construction and FSDP2 its DTensor machinery: import them once
    # here, before forking, instead of in every rank.
    import torch._dynamo
    import torch.distributed.checkpoint.state_dict
    import torch.distributed.fsdp  # noqa: F401

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.start_processes(_entry, args=(fn, world_size, port, args), nprocs=world_size, start_method="fork")


@pytest.fixture
def ranks():
    """:func:`run_ranks`, for test modules (the tests folder is not a package)."""
    return run_ranks


def write_store(root, n=32, seed=0, splits=("train",), modalities=tuple(SPECS)):
    """A pre-tokenized store of ``n`` samples per split (only ``modalities``)."""
    rng = np.random.default_rng(seed)
    for split in splits:
        samples = []
        for _ in range(n):
            x = rng.integers(0, 8, 4)
            sample = {"tok_x": x, "tok_y": (x * 3) % 8, "caption": [rng.integers(210, 260, rng.integers(2, 5))]}
            samples.append({m: sample[m] for m in modalities})
        keys = [f"{split}{i:04d}" for i in range(n)]
        TokenStore.from_samples(keys, samples, {"tok_x": 8, "tok_y": 8, "caption": 260}).save(root / split)
    return root


@pytest.fixture
def store_writer():
    """:func:`write_store`, for test modules."""
    return write_store


@pytest.fixture
def tiny_run(tmp_path):
    """A 4-step run of a 2+2-layer width-64 model on 32 samples (global batch 8)."""
    store = write_store(tmp_path / "store")
    return TrainConfig(
        out_dir=str(tmp_path / "run"),
        model=ModelConfig(size="tiny", modality_set=None, modality_overrides=SPECS),
        data=DataConfig(source="store", path=str(store)),
        masking=MaskingConfig(num_input_tokens=6, num_target_tokens=6, mixture=all2all(1.0, list(SPECS))),
        # lr scales with the global batch (16 here); eps: Adam amplifies rounding in ~0 gradients
        optim=OptimConfig(lr=1.5e-3, warmup_steps=1, eps=1e-6, scale_lr=True, base_batch_size=8),
        batch_size=4,
        grad_accum=2,
        steps=4,
        precision="fp32",
        log_every=1,
        eval_every=0,
        save_every=0,
        tensorboard=False,
        progress=False,
    )
