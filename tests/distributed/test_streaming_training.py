"""Training from shard streams: one process, several ranks' streams, and a mixture of shard datasets."""

import dataclasses
import shutil

import pytest
import torch

pytest.importorskip("webdataset")

from omnimask.data.config import DataConfig
from omnimask.data.shard_writer import shard_dataset
from omnimask.training.loop import Trainer, train
from omnimask.training.metrics import read_metrics
from omnimask.training.setup import build_data


def _shards(write_store, root, tmp_path, **store):
    write_store(tmp_path / f"{root}-store", **store)
    shard_dataset(tmp_path / f"{root}-store", tmp_path / root, samples_per_shard=8)
    return str(tmp_path / root)


def _on_shards(cfg, tmp_path, **data):
    return dataclasses.replace(cfg, out_dir=str(tmp_path / "run"), data=DataConfig(source="shards", **data))


def _weights(trainer):
    return trainer.model.state_dict()


def test_training_streams_shards_validates_on_them_and_resumes_on_a_fresh_stream(tiny_run, tmp_path, store_writer):
    """As the README says: a shard-streamed run resumes on a fresh stream seeded by (seed, samples seen), the same
    every time it resumes from that checkpoint, not the samples an uninterrupted run reads next (a shuffle
    buffer and a shard position are not replayed)."""
    path = _shards(store_writer, "data", tmp_path, splits=("train", "val"))
    cfg = dataclasses.replace(
        _on_shards(tiny_run, tmp_path, path=path, shuffle_buffer=8), steps=4, eval_every=2, eval_batches=2
    )
    first = Trainer(cfg)
    first.total_steps = 2
    first.run()
    shutil.copytree(tmp_path / "run", tmp_path / "again")
    resumed = train(cfg, resume=True)
    assert resumed.state.step == 4 and resumed.state.samples_seen == 4 * 8
    records = read_metrics(tmp_path / "run" / "metrics.jsonl")
    val = [r for r in records if r["split"] == "val"]
    assert [r["step"] for r in val] == [2, 4] and all(r["loss"] > 0 for r in val)
    again = train(dataclasses.replace(cfg, out_dir=str(tmp_path / "again")), resume=True)
    torch.testing.assert_close(_weights(again), _weights(resumed), rtol=0, atol=0)
    straight = train(dataclasses.replace(cfg, out_dir=str(tmp_path / "straight")))
    assert not all(torch.equal(a, b) for a, b in zip(_weights(straight).values(), _weights(resumed).values()))


def test_a_pipe_command_names_the_whole_dataset(tiny_run, tmp_path, store_writer):
    path = _shards(store_writer, "data", tmp_path, splits=("train", "val"))
    cfg = _on_shards(tiny_run, tmp_path, path=f"pipe:cat {path}/{{file}}", shuffle_buffer=0)
    data = build_data(cfg)
    assert data.train_source.shards.location == f"pipe:cat {path}/train/{{file}}"
    assert data.val_source is not None and next(data.val_batches(4, 1))["tok_x"].tensor.shape == (4, 4)


def test_each_rank_and_worker_reads_its_own_reproducible_stream(tiny_run, tmp_path, store_writer):
    cfg = _on_shards(tiny_run, tmp_path, path=_shards(store_writer, "data", tmp_path), shuffle_buffer=4, num_workers=2)
    data = build_data(cfg)

    def ids(rank, start=0):
        stream = data.train_batches(start, 4, rank=rank, world_size=2)
        return [next(stream)["tok_x"].tensor for _ in range(4)]

    first = ids(0)
    assert all(torch.equal(a, b) for a, b in zip(first, ids(0)))
    assert not all(torch.equal(a, b) for a, b in zip(first, ids(1)))
    assert not all(torch.equal(a, b) for a, b in zip(first, ids(0, start=64)))  # a resumed run reads on


def test_mixture_of_shard_datasets_with_a_missing_modality(tiny_run, tmp_path, store_writer):
    full = _shards(store_writer, "full", tmp_path)
    partial = _shards(store_writer, "partial", tmp_path, seed=1, modalities=("tok_x", "caption"))
    cfg = _on_shards(tiny_run, tmp_path, paths=[full, partial], weights=[1, 3], shuffle_buffer=4)
    batches = build_data(cfg).train_batches(0, 16)
    batch = next(batches)
    lacking = ~batch["tok_y"].input_keep.any(1) & ~batch["tok_y"].target_keep.any(1)
    assert 0 < int(lacking.sum()) < 16  # samples of the partial dataset carry no tok_y
    trainer = train(dataclasses.replace(cfg, steps=2))
    assert trainer.state.step == 2
