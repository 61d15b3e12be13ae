"""Masked, collated batches streamed from shards, pinned to values recorded before the loader speed-ups.

Shard reading (tar decoding, shuffle buffer), pixel normalisation, 4M masking and collation together:
the digest was recorded with the straightforward implementation (commit df08aff), so a faster loader
must still deliver the very same batches for the same seed.
"""

import hashlib

import numpy as np
import pytest
from torch.utils.data import DataLoader

pytest.importorskip("webdataset")

from omnimask.data.shard_reader import ShardSet, ShardSource
from omnimask.data.shard_writer import shard_dataset
from omnimask.data.stream_samples import StreamSamples
from omnimask.data.token_store import TokenStore
from omnimask.data.transforms import model_inputs
from omnimask.masking import Masker, MaskingConfig, all2all, collate, combine_mixtures, rgb2all
from omnimask.modalities import ModalitySpec

SPECS = {
    s.name: s
    for s in [
        ModalitySpec(name="rgb@16", kind="pixels", num_tokens=4, grid=(2, 2), patch_size=8),
        ModalitySpec(name="tok_a@16", kind="image_tokens", vocab_size=64, num_tokens=4, grid=(2, 2), patch_size=8),
        ModalitySpec(name="tok_global", kind="global_tokens", vocab_size=64, num_tokens=2),
        ModalitySpec(name="caption", kind="sequence", vocab_size=300, num_tokens=12, max_length=12),
        ModalitySpec(name="metadata", kind="sequence", vocab_size=300, num_tokens=10, max_length=10),
    ]
}
#: sha256 of the first 6 batches of 4 (recorded before the speed-ups).
DIGEST = "b4002087fae5c8a5e905390c647ef78c03c0dcf54f876b81f48683d6aa82b9b5"


def _samples(n):
    rng = np.random.default_rng(5)
    return [
        {
            "rgb@16": rng.integers(0, 256, (16, 16, 3), dtype=np.uint8),
            "tok_a@16": rng.integers(0, 64, 4),
            "tok_global": rng.integers(0, 64, 2),
            "caption": [rng.integers(5, 300, rng.integers(1, 6)) for _ in range(int(rng.integers(1, 3)))],
            "metadata": [rng.integers(5, 300, 2) for _ in range(i % 4)],
        }
        for i in range(n)
    ]


def _mask(raw, rng, masker):
    return masker(model_inputs(raw, SPECS), rng)


def batch_digest(tmp_path, num_batches=6):
    vocab = {n: s.vocab_size for n, s in SPECS.items()}
    TokenStore.from_samples([f"{i:04d}" for i in range(24)], _samples(24), vocab).save(tmp_path / "store" / "train")
    shard_dataset(tmp_path / "store", tmp_path / "shards", samples_per_shard=5)
    source = ShardSource(ShardSet.open(str(tmp_path / "shards" / "train"), SPECS), shuffle_buffer=7)
    names = list(SPECS)
    mixture = combine_mixtures([rgb2all(0.5, names, rgb="rgb@16"), all2all(0.5, names, input_only=["rgb@16"])])
    masker = Masker(SPECS, MaskingConfig(num_input_tokens=10, num_target_tokens=10, mixture=mixture))
    dataset = StreamSamples(source, lambda raw, rng: _mask(raw, rng, masker), seed=3, start_sample=8)
    loader = iter(DataLoader(dataset, batch_size=4, collate_fn=lambda items: collate(items, SPECS)))
    h = hashlib.sha256()
    for _ in range(num_batches):
        for name, m in next(loader).items():
            h.update(name.encode())
            for tensor in (m.tensor, m.input_keep, m.target_keep):
                h.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
                h.update(tensor.contiguous().numpy().tobytes())
    return h.hexdigest()


def test_streamed_batches_match_the_recorded_digest(tmp_path):
    assert batch_digest(tmp_path) == DIGEST
