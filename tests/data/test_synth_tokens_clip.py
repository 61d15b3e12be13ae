"""SampleTokenizer on the MiniCLIP feature modalities: ``tok_clip@R`` and ``tok_clip_global`` ids from a
scene's RGB, MiniCLIP run once per batch, k-means stand-ins that save and load."""

import numpy as np
import pytest

from omnimask.data.labelers.registry import load_labeler
from omnimask.data.synth_tokens import fit_synth_tokenizer
from omnimask.data.synthworld import SynthWorldConfig, render_sample
from omnimask.data.tokenize import SampleTokenizer
from omnimask.modalities import synthworld_modalities

KEEP = ("rgb@32", "tok_depth@32", "tok_clip@32", "tok_clip_global")


class CountingLabeler:
    """MiniCLIP that counts its forward calls."""

    def __init__(self) -> None:
        self.inner, self.calls = load_labeler("miniclip"), 0

    def features(self, rgb):
        self.calls += 1
        return self.inner.features(rgb)


@pytest.fixture(scope="module")
def scenes() -> list[dict]:
    return [render_sample(2, i, SynthWorldConfig(resolution=32)) for i in range(6)]


@pytest.fixture(scope="module")
def specs() -> dict:
    full = synthworld_modalities(resolution=32, vocab=16)
    return {n: full[n] for n in KEEP}


def test_clip_modalities_in_the_synthworld_set():
    for r in (64, 128):
        specs = synthworld_modalities(resolution=r)
        clip, glob = specs[f"tok_clip@{r}"], specs["tok_clip_global"]
        assert (clip.kind, clip.grid, clip.image_size, clip.vocab_size) == ("image_tokens", (8, 8), (r, r), 512)
        assert (glob.kind, glob.num_tokens, glob.vocab_size, glob.tokenizer) == ("global_tokens", 4, 512, "clip_global")
    assert specs["tok_rgb@128"].grid == (16, 16)  # the maps follow the resolution, MiniCLIP's grid does not


def test_batch_gives_clip_ids_with_one_miniclip_pass(specs, scenes, tmp_path):
    labeler = CountingLabeler()
    tok = fit_synth_tokenizer(specs, scenes, seed=0, labeler=labeler)
    labeler.calls = 0
    out = tok.batch(scenes[:4])
    assert labeler.calls == 1
    clip = np.stack([o["tok_clip@32"] for o in out])
    glob = np.stack([o["tok_clip_global"] for o in out])
    assert clip.shape == (4, 64) and glob.shape == (4, 4) and clip.dtype == glob.dtype == np.int64
    assert clip.min() >= 0 and clip.max() < 16 and glob.min() >= 0 and glob.max() < 16
    assert len(np.unique(clip)) > 1  # positions of a scene differ
    tok.save(tmp_path)
    again = SampleTokenizer.load(tmp_path, specs).batch(scenes[:4])
    for name in ("tok_clip@32", "tok_clip_global"):
        assert all(np.array_equal(a[name], b[name]) for a, b in zip(out, again))


def test_clip_grid_other_than_miniclips_is_refused(specs, scenes):
    tok = fit_synth_tokenizer(specs, scenes, seed=0)
    tok.specs["tok_clip@32"] = specs["tok_clip@32"].with_(grid=(4, 4), num_tokens=16)
    with pytest.raises(ValueError, match=r"feature grid \(8, 8\) is not the spec's grid \(4, 4\)"):
        tok.batch(scenes[:1])


def test_a_token_grid_without_its_map_is_refused_by_name(specs, scenes):
    bare = {"tok_depth@32": specs["tok_depth@32"].with_(tokenizer=None)}
    with pytest.raises(ValueError, match=r"tok_depth@32: .*`tokenizer` names.*set both"):
        fit_synth_tokenizer(bare, scenes, seed=0)


def test_a_token_grid_without_a_tokenizer_name_reads_the_sample_field_of_its_own_name(specs, scenes):
    tok = fit_synth_tokenizer({"tok_depth@32": specs["tok_depth@32"]}, scenes, seed=0)
    expected = tok.batch(scenes[:2])
    tok.specs["tok_depth@32"] = specs["tok_depth@32"].with_(tokenizer=None)  # the pretokenize check's field
    renamed = [{**s, "tok_depth@32": s["depth"]} for s in scenes[:2]]
    got = tok.batch(renamed)
    assert all(np.array_equal(a["tok_depth@32"], b["tok_depth@32"]) for a, b in zip(expected, got))
