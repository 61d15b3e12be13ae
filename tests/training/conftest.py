"""A tiny pre-tokenized store and matching config, so training tests need no rendering."""

import numpy as np
import pytest

from omnimask.data.config import DataConfig
from omnimask.data.token_store import TokenStore
from omnimask.masking import MaskingConfig, all2all
from omnimask.model import ModelConfig
from omnimask.training.config import TrainConfig
from omnimask.training.optim import OptimConfig

SPECS = {
    "tok_a": {"kind": "image_tokens", "vocab_size": 16, "num_tokens": 16, "grid": [4, 4], "patch_size": 4},
    "tok_b": {"kind": "image_tokens", "vocab_size": 16, "num_tokens": 16, "grid": [4, 4], "patch_size": 4},
    "caption": {"kind": "sequence", "vocab_size": 260, "num_tokens": 12, "max_length": 12},
}


def _write_store(root, n=24, seed=0):
    rng = np.random.default_rng(seed)
    for split, count in (("train", n), ("val", 8)):
        samples = []
        for _ in range(count):
            a = rng.integers(0, 16, 16)
            samples.append({"tok_a": a, "tok_b": (a + 1) % 16,
                            "caption": [rng.integers(210, 260, rng.integers(3, 9))]})
        keys = [f"{i:06d}" for i in range(count)]
        TokenStore.from_samples(keys, samples, {"tok_a": 16, "tok_b": 16, "caption": 260}).save(root / split)
    return root


@pytest.fixture
def store_writer():
    """``write(root, n=24, seed=0)``: a tiny train + val store of the kind :func:`tiny_config` reads."""
    return _write_store


@pytest.fixture
def tiny_config(tmp_path):
    store = _write_store(tmp_path / "store")
    return TrainConfig(
        out_dir=str(tmp_path / "run"),
        model=ModelConfig(size="tiny", modality_set=None, modality_overrides=SPECS),
        data=DataConfig(source="store", path=str(store)),
        masking=MaskingConfig(num_input_tokens=12, num_target_tokens=12, mixture=all2all(1.0, list(SPECS))),
        optim=OptimConfig(lr=3e-3, warmup_steps=2),
        batch_size=4,
        steps=6,
        precision="fp32",
        log_every=1,
        eval_every=3,
        eval_batches=1,
        save_every=0,
        tensorboard=False,
        progress=False,
    )
