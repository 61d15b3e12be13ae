"""Shard sets: a store round-trips through tar shards; streams are seeded per rank and worker; bad
shards are skipped and counted; local paths, fsspec URLs and ``pipe:`` commands all read."""

import argparse
import io
import json
import shutil
import tarfile

import numpy as np
import pytest

pytest.importorskip("webdataset")
fsspec = pytest.importorskip("fsspec")

from omnimask.commands import shard as shard_command  # noqa: E402
from omnimask.data.shard_reader import ShardError, ShardSet, ShardSource, read_all, shuffled  # noqa: E402
from omnimask.data.shard_writer import shard_dataset  # noqa: E402
from omnimask.data.shards import resolve, split_member  # noqa: E402
from omnimask.data.token_store import TokenStore  # noqa: E402

VOCAB = {"tok_a@8": 64, "caption": 300, "metadata": 300}


def _samples(n, seed=0):
    rng = np.random.default_rng(seed)
    return [
        {
            "tok_a@8": rng.integers(0, 64, 4),
            "rgb@8": rng.integers(0, 256, (8, 8, 3), dtype=np.uint8),
            "caption": [rng.integers(5, 300, rng.integers(1, 6))],
            "metadata": [rng.integers(5, 300, 3) for _ in range(i % 3)],  # 0, 1 or 2 chunks
        }
        for i in range(n)
    ]


def _store(root, n=10, val=4):
    for split, count, seed in (("train", n, 0), ("val", val, 1)):
        keys = [f"{split}{i:04d}" for i in range(count)]
        TokenStore.from_samples(keys, _samples(count, seed), VOCAB).save(root / split)
    (root / "tokenizers").mkdir()
    (root / "tokenizers" / "card.json").write_text("{}")
    return root


def _equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], list):
            assert len(a[k]) == len(b[k]), k
            for x, y in zip(a[k], b[k]):
                np.testing.assert_array_equal(x, y)
        else:
            np.testing.assert_array_equal(a[k], b[k])
            assert np.asarray(a[k]).dtype == np.asarray(b[k]).dtype, k


@pytest.fixture
def shards(tmp_path):
    store = _store(tmp_path / "store")
    shard_dataset(store, tmp_path / "shards", samples_per_shard=3)
    return tmp_path / "shards"


def test_store_round_trips_through_shards(shards, tmp_path):
    manifest = json.loads((shards / "train" / "manifest.json").read_text())
    assert manifest["shards"] == 4 and manifest["samples"] == 10 and manifest["shard_sizes"] == [3, 3, 3, 1]
    assert manifest["modalities"] == {
        "tok_a@8": "npy",
        "rgb@8": "npy",
        "caption": "chunks.json",
        "metadata": "chunks.json",
    }
    assert sorted(p.name for p in (shards / "train" / "caption").iterdir()) == [f"shard-0000{i}.tar" for i in range(4)]
    store = TokenStore.load(tmp_path / "store" / "train")
    read = list(read_all(ShardSet.open(str(shards / "train"))))
    assert [s.pop("__key__") for s in read] == store.keys
    for got, row in zip(read, range(len(store))):
        _equal(got, store[row])
    assert (shards / "tokenizers" / "card.json").is_file()
    assert ShardSet.open(str(shards / "val")).num_samples == 4


def test_same_input_gives_the_same_bytes(shards, tmp_path):
    again = tmp_path / "again"
    shard_dataset(tmp_path / "store", again, samples_per_shard=3)
    for tar in (shards / "train").rglob("*.tar"):
        assert tar.read_bytes() == (again / tar.relative_to(shards)).read_bytes(), tar


def test_shuffled_sharding_keeps_every_sample_once(tmp_path):
    store = _store(tmp_path / "store")
    shard_dataset(store, tmp_path / "out", samples_per_shard=4, shuffle_seed=7)
    keys = [s["__key__"] for s in read_all(ShardSet.open(str(tmp_path / "out" / "train")))]
    assert sorted(keys) == TokenStore.load(store / "train").keys and keys != sorted(keys)


def test_raw_folder_dataset_is_copied_byte_for_byte(tmp_path):
    from PIL import Image

    raw = tmp_path / "raw"
    for m in ("rgb", "caption", "det"):
        (raw / "train" / m).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(5):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)).save(buf, format="PNG")
        (raw / "train" / "rgb" / f"{i:06d}.png").write_bytes(buf.getvalue())
        (raw / "train" / "caption" / f"{i:06d}.txt").write_text(f"scene {i}\n")
        if i != 3:  # sample 3 lacks boxes: it is left out
            (raw / "train" / "det" / f"{i:06d}.json").write_text(json.dumps([{"class": "cube", "box": [i, 0, 1, 1]}]))
    manifest = shard_dataset(raw, tmp_path / "out", samples_per_shard=2)["train"]
    assert manifest["samples"] == 4 and manifest["dropped_keys"] == 1 and not manifest["pretokenized"]
    read = list(read_all(ShardSet.open(str(tmp_path / "out" / "train"))))
    assert [s["__key__"] for s in read] == ["000000", "000001", "000002", "000004"]
    s = read[3]
    assert s["caption"] == "scene 4" and s["det"] == [{"class": "cube", "box": [4, 0, 1, 1]}]
    np.testing.assert_array_equal(s["rgb"], np.asarray(Image.open(raw / "train" / "rgb" / "000004.png")))


def test_stream_is_seeded_per_rank_and_worker(shards):
    source = ShardSource(ShardSet.open(str(shards / "train")), resampled=True, shuffle_buffer=4)

    def keys(seed, rank, worker, n=12):
        it = source.iterate(seed, rank, 2, worker, 2)
        return [next(it)["__key__"] for _ in range(n)]

    assert keys(0, 0, 0) == keys(0, 0, 0)
    assert len({tuple(keys(0, r, w)) for r in (0, 1) for w in (0, 1)}) == 4
    assert keys(1, 0, 0) != keys(0, 0, 0)


def test_unresampled_epoch_deals_every_sample_to_exactly_one_slot(shards):
    source = ShardSource(ShardSet.open(str(shards / "train")), resampled=False, shuffle_buffer=2, epochs=1)
    seen = [s["__key__"] for r in (0, 1) for w in (0, 1) for s in source.iterate(3, r, 2, w, 2)]
    assert sorted(seen) == [f"train{i:04d}" for i in range(10)]
    with pytest.raises(ValueError, match="cannot feed"):
        next(source.iterate(3, 0, 5, 0, 1))


def test_shuffle_buffer_permutes_and_keeps_everything():
    out = list(shuffled(iter(range(100)), 10, np.random.default_rng(0)))
    assert sorted(out) == list(range(100)) and out != list(range(100))
    assert list(shuffled(iter(range(5)), 0, np.random.default_rng(0))) == list(range(5))


def _break(shards, how):
    target = shards / "train" / "caption" / "shard-00001.tar"
    if how == "corrupt":
        target.write_bytes(target.read_bytes()[:700])  # truncated mid-member
    elif how == "garbage":
        target.write_bytes(b"not a tar file at all" * 40)
    elif how == "misaligned":
        shutil.copyfile(shards / "train" / "caption" / "shard-00002.tar", target)
    elif how == "missing":
        target.unlink()
    elif how == "wrong member":
        with tarfile.open(target, "w") as tar:
            info = tarfile.TarInfo("train0003.png")
            info.size = 3
            tar.addfile(info, io.BytesIO(b"abc"))


@pytest.mark.parametrize(
    ("how", "kind"),
    [
        ("corrupt", "corrupt"),
        ("garbage", "corrupt"),
        ("misaligned", "misaligned"),
        ("missing", "missing"),
        ("wrong member", "corrupt"),
    ],
)
def test_a_bad_shard_is_skipped_with_a_warning_and_counted(shards, how, kind):
    _break(shards, how)
    shard_set = ShardSet.open(str(shards / "train"))
    with pytest.raises(ShardError) as err:
        shard_set.read(1)
    assert err.value.kind == kind
    source = ShardSource(shard_set, resampled=False, shuffle_buffer=0, epochs=1)
    with pytest.warns(RuntimeWarning, match=f"skipping {kind} shard .*shard-00001.tar"):
        keys = [s["__key__"] for s in source.iterate(0)]
    assert sorted(keys) == [f"train{i:04d}" for i in (0, 1, 2, 6, 7, 8, 9)]
    assert source.skipped == {kind: 1}


def test_a_set_without_any_readable_shard_stops_the_run(shards):
    for tar in (shards / "train" / "caption").iterdir():
        tar.write_bytes(b"garbage")
    source = ShardSource(ShardSet.open(str(shards / "train")), resampled=True, shuffle_buffer=0)
    with pytest.warns(RuntimeWarning), pytest.raises(RuntimeError, match="no readable shard"):
        next(source.iterate(0))


def test_fsspec_urls_and_pipe_commands_read_the_same_samples(shards):
    local = [s["__key__"] for s in read_all(ShardSet.open(str(shards / "train")))]
    memory = fsspec.filesystem("memory")
    for path in (shards / "train").rglob("*"):
        if path.is_file():
            memory.pipe(f"/omnimask-test/{path.relative_to(shards)}", path.read_bytes())
    for location in ("memory://omnimask-test/train", f"file://{shards}/train", f"pipe:cat {shards}/train/{{file}}"):
        assert [s["__key__"] for s in read_all(ShardSet.open(location))] == local, location
    command = resolve("pipe:aws s3 cp s3://b/d/{file} -", "rgb/shard-00000.tar")
    assert command == "pipe:aws s3 cp s3://b/d/rgb/shard-00000.tar -"
    memory.rm("/omnimask-test", recursive=True)


def test_a_failing_pipe_is_a_missing_shard(shards):
    shard_set = ShardSet.open(f"pipe:cat {shards}/train/{{file}}")
    shard_set.location = f"pipe:cat {shards}/nowhere/{{file}}"
    with pytest.raises(ShardError) as err:
        shard_set.read(0)
    assert err.value.kind in ("missing", "corrupt")


def test_modalities_can_be_selected_and_unknown_ones_are_refused(shards):
    assert ShardSet.open(str(shards / "train"), ["caption", "depth"]).modalities == {"caption": "chunks.json"}
    with pytest.raises(ValueError, match="none of the modalities"):
        ShardSet.open(str(shards / "train"), ["depth"])
    with pytest.raises(FileNotFoundError, match="omnimask shard"):
        ShardSet.open(str(shards / "nowhere"))


def test_member_names_and_keys():
    assert split_member("a/000123.chunks.json") == ("000123", "chunks.json")
    with pytest.raises(ValueError, match=r"KEY\.EXT"):
        split_member("README")


def test_shard_command(tmp_path, capsys):
    store = _store(tmp_path / "store")
    parser = argparse.ArgumentParser()
    shard_command.register(parser.add_subparsers())
    args = parser.parse_args(
        ["shard", str(store), "--out", str(tmp_path / "out"), "--samples-per-shard", "4", "--verify"]
    )
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "train: 10 samples in 3 shard(s) x 4 modalities" in out and "train: verified" in out
    assert "val: 4 samples in 1 shard(s)" in out


@pytest.mark.parametrize(
    "array",
    [
        np.arange(64, dtype=np.uint16),
        np.arange(24, dtype=">i4").reshape(2, 3, 4),
        np.zeros((8, 8, 3), np.uint8),
        np.float32(2.5),
        np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3)),
        np.zeros(0, np.int64),
    ],
)
def test_npy_members_decode_exactly(array):
    from omnimask.data.shards import decode, encode

    got = decode("npy", encode("npy", array))
    np.testing.assert_array_equal(got, array)
    assert got.dtype == np.asarray(array).dtype and got.shape == np.shape(array) and got.flags.writeable


def test_sharding_into_the_store_itself_is_refused_and_deletes_nothing(tmp_path):
    from omnimask.config import ConfigError

    store = _store(tmp_path / "store")
    (store / "tokenizers").mkdir(exist_ok=True)
    (store / "tokenizers" / "manifest.json").write_text("{}")
    before = sorted(p.relative_to(store) for p in store.rglob("*"))
    for out in (store, store / "shards", tmp_path):
        with pytest.raises(ConfigError, match="write the shards to a separate folder"):
            shard_dataset(store, out)
    assert sorted(p.relative_to(store) for p in store.rglob("*")) == before
    with pytest.raises(ConfigError, match="is not a folder"):
        shard_dataset(tmp_path / "missing", tmp_path / "out")


def test_a_sample_with_a_token_id_outside_the_vocabulary_is_skipped_and_named(tmp_path):
    samples = _samples(6)
    samples[4]["tok_a@8"][2] = 999  # a corrupt id: the vocabulary has 64
    samples[1]["caption"][0][0] = -3
    keys = [f"train{i:04d}" for i in range(6)]
    TokenStore.from_samples(keys, samples, {**VOCAB, "tok_a@8": 1000}).save(tmp_path / "store" / "train")
    shard_dataset(tmp_path / "store", tmp_path / "shards", samples_per_shard=3)
    source = ShardSource(ShardSet.open(str(tmp_path / "shards" / "train")), resampled=False, shuffle_buffer=0,
                         epochs=1, vocab=dict(VOCAB))
    with pytest.warns(RuntimeWarning) as caught:
        kept = [s["__key__"] for s in source.iterate(0)]
    assert kept == ["train0000", "train0002", "train0003", "train0005"]
    messages = " ".join(str(w.message) for w in caught)
    assert "train0004" in messages and "token id 999 outside 0..63" in messages and "shard-00001.tar" in messages
    assert "train0001" in messages and "caption holds token id" in messages
    assert source.skipped == {"bad_ids": 2}


def test_an_interrupted_sharding_rerun_completes_with_the_same_bytes_and_no_partial_file(tmp_path, monkeypatch):
    from omnimask.data import shard_writer

    store = _store(tmp_path / "store")
    shard_dataset(store, tmp_path / "straight", samples_per_shard=3)
    real, calls = shard_writer._write_tar, []

    def dies_on_the_fifth_tar(path, members):
        calls.append(path)
        if len(calls) == 5:
            raise KeyboardInterrupt
        real(path, members)

    monkeypatch.setattr(shard_writer, "_write_tar", dies_on_the_fifth_tar)
    with pytest.raises(KeyboardInterrupt):
        shard_dataset(store, tmp_path / "again", samples_per_shard=3)
    assert not (tmp_path / "again" / "train" / "manifest.json").exists()  # incomplete, and says so
    monkeypatch.setattr(shard_writer, "_write_tar", real)
    shard_dataset(store, tmp_path / "again", samples_per_shard=3)
    files = sorted(p.relative_to(tmp_path / "straight") for p in (tmp_path / "straight").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "again") for p in (tmp_path / "again").rglob("*") if p.is_file())
    assert all((tmp_path / "straight" / f).read_bytes() == (tmp_path / "again" / f).read_bytes() for f in files)
    assert not list((tmp_path / "again").rglob("*.partial"))
