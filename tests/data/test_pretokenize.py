"""``omnimask pretokenize``: a SynthWorld folder → an aligned, resumable token store."""

import argparse
import json

import numpy as np
import pytest
import torch

from omnimask.commands import pretokenize
from omnimask.config import ConfigError
from omnimask.data.pretokenize import dataset_keys, pretokenize_dataset, select_specs
from omnimask.data.synth_tokens import vocabulary_corpus
from omnimask.data.synthworld import SHAPES, SynthWorldConfig, load_sample, render_sample, write_dataset
from omnimask.data.token_store import TokenStore
from omnimask.data.tokenize import SampleTokenizer
from omnimask.modalities import synthworld_modalities
from omnimask.tokenizers.base import ModalityTokenizer
from omnimask.tokenizers.bundle import save_tokenizers
from omnimask.tokenizers.entries import CardMapTokenizer, SequenceTokenizer
from omnimask.tokenizers.text import train_text_tokenizer
from omnimask.training.tokenizers.recipes import synth_config

RES = 16


def _card(kind: str) -> CardMapTokenizer:
    cfg = synth_config(kind, resolution=RES, encoder=(16, 1), decoder=(16, 1), codebook=16, latent_dim=4)
    torch.manual_seed(0)
    tok = ModalityTokenizer.create(cfg.model, name=kind, modality=kind, input=cfg.input, output=cfg.output)
    return CardMapTokenizer(kind, tok.eval())


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """An 8-scene SynthWorld folder at 16 px and a bundle (untrained depth + semseg tokenizers, text)."""
    root = tmp_path_factory.mktemp("world")
    cfg = SynthWorldConfig(resolution=RES)
    write_dataset(root / "synth", 8, seed=0, cfg=cfg, fractions=(0.5, 0.25, 0.25), progress=False)
    text = train_text_tokenizer(vocabulary_corpus([render_sample(0, i, cfg) for i in range(4)]), 4400,
                                class_names=SHAPES)  # fmt: skip
    bundle = {"tok_depth@16": _card("depth"), "tok_semseg@16": _card("semseg"),
              "caption": SequenceTokenizer("caption", text), "det": SequenceTokenizer("det", text)}  # fmt: skip
    save_tokenizers(bundle, root / "bundle")
    return root


def test_store_rows_are_the_samples_tokens_aligned_by_key(world, tmp_path):
    out = tmp_path / "tokens"
    manifest = pretokenize_dataset(world / "synth", out, tokenizers=world / "bundle", batch=2, progress=False)
    assert sorted(manifest["modalities"]) == ["caption", "det", "rgb@16", "tok_depth@16", "tok_semseg@16"]
    assert manifest["modalities"]["tok_depth@16"]["tokenizer_vocab"] == 16
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert (out / "tokenizers" / "manifest.json").is_file() and not (out / ".parts").exists()
    specs = {n: s for n, s in synthworld_modalities(resolution=RES).items() if n in manifest["modalities"]}
    direct = SampleTokenizer.load(world / "bundle", specs)
    for split, count in manifest["splits"].items():
        store = TokenStore.load(out / split)
        keys = dataset_keys(world / "synth", split)
        assert store.keys == keys and len(store) == count
        for row, key in list(enumerate(keys))[:2]:
            expected = direct(load_sample(world / "synth", split, key))
            got = store[row]
            assert np.array_equal(got["rgb@16"], expected["rgb@16"]) and got["rgb@16"].dtype == np.uint8
            for name in ("tok_depth@16", "tok_semseg@16"):
                assert np.array_equal(got[name], expected[name])
            for name in ("caption", "det"):
                assert [c.tolist() for c in got[name]] == [c.tolist() for c in expected[name]]
    assert sum(manifest["splits"].values()) == 8


def test_an_interrupted_run_resumes_to_the_same_store(world, tmp_path, monkeypatch):
    reference = tmp_path / "reference"
    pretokenize_dataset(world / "synth", reference, tokenizers=world / "bundle", splits=["train"], progress=False)
    calls = {"n": 0}
    batch = SampleTokenizer.batch

    def failing(self, samples):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return batch(self, samples)

    monkeypatch.setattr(SampleTokenizer, "batch", failing)
    out = tmp_path / "tokens"
    with pytest.raises(KeyboardInterrupt):
        pretokenize_dataset(world / "synth", out, tokenizers=world / "bundle", splits=["train"], batch=1, chunk=2,
                            progress=False)  # fmt: skip
    assert (out / ".parts" / "train" / "00000" / "keys.json").is_file()  # the first chunk survived
    monkeypatch.setattr(SampleTokenizer, "batch", batch)
    pretokenize_dataset(world / "synth", out, tokenizers=world / "bundle", splits=["train"], batch=1, chunk=2,
                        progress=False)  # fmt: skip
    a, b = TokenStore.load(reference / "train"), TokenStore.load(out / "train")
    assert a.keys == b.keys
    assert all(np.array_equal(a.grids[n], b.grids[n]) for n in a.grids)
    assert all(np.array_equal(x, y) for n in a.sequences for x, y in zip(a.sequences[n], b.sequences[n]))


def test_modality_selection_and_clear_errors(world, tmp_path):
    manifest = pretokenize_dataset(world / "synth", tmp_path / "a", tokenizers=world / "bundle",
                                   modalities=["tok_depth@16"], splits=["val"], progress=False)  # fmt: skip
    assert list(manifest["modalities"]) == ["tok_depth@16"] and list(manifest["splits"]) == ["val"]
    with pytest.raises(ConfigError, match="no tokenizer for 'tok_normal@16'"):
        pretokenize_dataset(world / "synth", tmp_path / "b", tokenizers=world / "bundle",
                            modalities=["tok_normal@16"], progress=False)  # fmt: skip
    with pytest.raises(ConfigError, match="same --modalities"):
        pretokenize_dataset(world / "synth", tmp_path / "a", tokenizers=world / "bundle", progress=False)
    with pytest.raises(ConfigError, match="not a dataset written by"):
        pretokenize_dataset(tmp_path, tmp_path / "c", tokenizers=world / "bundle", progress=False)


def test_cli(world, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    pretokenize.register(parser.add_subparsers())
    args = parser.parse_args(["pretokenize", str(world / "synth"), "--out", str(tmp_path / "t"), "--tokenizers",
                              str(world / "bundle"), "--modalities", "rgb@16,tok_semseg@16", "--splits", "test",
                              "--quiet"])  # fmt: skip
    assert args.func(args) == 0 and "2 modalities" in capsys.readouterr().out
    assert TokenStore.load(tmp_path / "t" / "test").modalities == ["rgb@16", "tok_semseg@16"]


def test_specs_take_the_tokenizers_larger_vocabulary():
    specs = select_specs(64, {"tok_semseg@64": 1024, "tok_depth@64": 16}, None)
    assert list(specs) == ["rgb@64", "tok_depth@64", "tok_semseg@64"]
    assert specs["tok_semseg@64"].vocab_size == 1024 and specs["tok_depth@64"].vocab_size == 512


def test_a_corrupt_file_skips_its_sample_names_it_and_the_rest_is_stored(world, tmp_path):
    import shutil

    synth = tmp_path / "synth"
    shutil.copytree(world / "synth", synth)
    keys = dataset_keys(synth, "train")
    bad = synth / "train" / "semseg" / f"{keys[1]}.png"
    bad.write_bytes(bad.read_bytes()[:40])  # truncated
    args = dict(tokenizers=world / "bundle", modalities=["rgb@16", "tok_semseg@16"], splits=["train"], progress=False)
    with pytest.warns(RuntimeWarning, match=rf"skipping sample {keys[1]}: .*{keys[1]}.png"):
        manifest = pretokenize_dataset(synth, tmp_path / "t", **args)
    store = TokenStore.load(tmp_path / "t" / "train")
    assert store.keys == [k for k in keys if k != keys[1]] and manifest["splits"]["train"] == len(keys) - 1
    assert [s["key"] for s in manifest["skipped"]["train"]] == [keys[1]]
    again = pretokenize_dataset(synth, tmp_path / "t", **args)  # a rerun keeps the finished split
    assert again["skipped"] == manifest["skipped"] and TokenStore.load(tmp_path / "t" / "train").keys == store.keys
