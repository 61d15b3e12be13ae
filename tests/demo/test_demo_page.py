"""The demo page built from a tiny random SynthWorld model folder: links, captions, notes, determinism."""

import re

import numpy as np
import torch

from omnimask.demo import DemoContext, DemoModel, build_demo
from omnimask.demo.figures import FIGURES, retrieval
from omnimask.demo.page import figure_html
from omnimask.model import FourM, config_for_specs


def test_the_page_references_every_figure_and_every_figure_has_a_caption(model_dir, tmp_path):
    lines = []
    result = build_demo(tmp_path, model_dir, seed=0, num=1, cell=48, log=lines.append)
    page = result.index.read_text()
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert sorted(re.findall(r'<img src="([^"]+)"', page)) == pngs == sorted(p.name for p in result.pictures)
    assert pngs == [f"{m.SLUG}.png" for m in FIGURES]  # the tiny model has every role: nothing skipped
    figures = re.findall(r"<figure id=\"([^\"]+)\">(.*?)</figure>", page, flags=re.S)
    assert [slug for slug, _ in figures] == [m.SLUG for m in FIGURES]
    for slug, body in figures:
        caption = re.search(r"<figcaption><h2>(.+?)</h2><p>(.+?)</p>", body)
        assert caption, f"{slug} has no caption"
        assert "<dt>plan</dt>" in body and "<dt>seed</dt><dd>0</dd>" in body and "<dt>time</dt>" in body
    for m in FIGURES:  # timing printed per figure
        assert any(line.startswith(f"demo: {m.SLUG}") and " s " in line for line in lines)
    assert "recall@3" in page and "brightness asked" in page


def test_a_figure_the_model_cannot_make_becomes_a_labelled_note(model_dir, tmp_path):
    full = DemoModel.load(model_dir)
    specs = {n: s for n, s in full.specs.items() if s.kind != "global_tokens"}
    torch.manual_seed(0)
    model = FourM(config_for_specs(specs, size=None, dim=32, encoder_depth=1, decoder_depth=1, num_heads=2))
    fig = retrieval.make(DemoContext(DemoModel(model, full.tokenizers), num=1, cell=48))
    assert fig.skipped and fig.slug == retrieval.SLUG
    assert fig.note.startswith("Skipped: this model lacks global")
    html = figure_html(fig)
    assert "<img" not in html and "Skipped: this model lacks global" in html and "<h2>" in html


def test_the_demo_is_deterministic_under_its_seed(model_dir, tmp_path):
    a = build_demo(tmp_path / "a", model_dir, seed=3, num=1, cell=32, only=["2"], log=lambda _: None)
    b = build_demo(tmp_path / "b", model_dir, seed=3, num=1, cell=32, only=["2_caption_to_all"], log=lambda _: None)
    assert [p.name for p in a.pictures] == [p.name for p in b.pictures] == ["2_caption_to_all.png"]
    assert a.pictures[0].read_bytes() == b.pictures[0].read_bytes()


def test_roles_and_chained_order_of_the_tiny_model(model_dir):
    dm = DemoModel.load(model_dir)
    assert dm.roles == {"rgb": "rgb@16", "tok_rgb": "tok_rgb@16", "depth": "tok_depth@16",
                        "semseg": "tok_semseg@16", "caption": "caption", "det": "det", "metadata": "metadata",
                        "global": "tok_clip_global"}
    assert dm.outputs(exclude=["tok_rgb"]) == ["depth", "semseg", "det", "caption", "metadata", "global"]
    assert dm.missing(inputs=["rgb", "normal"], outputs=["global", "edges"]) == ["normal", "edges"]
    assert dm.resolution == 16 and dm.title("tok_rgb") == "RGB (tok_rgb@16)" and dm.title("caption") == "caption"


class _VectorTokenizer:
    """A stand-in global tokenizer: ids (B, 2) -> vectors (B, 3) = (id0, id1, 1)."""

    vocab_size = 16

    def tokenize(self, raw):
        raise NotImplementedError("decoding only")

    def detokenize(self, ids, grid=None):
        return torch.stack([ids[:, 0].float(), ids[:, 1].float(), torch.ones(len(ids))], dim=1)


def test_retrieval_embeddings_are_decoded_unit_vectors(model_dir):
    from omnimask.generation.state import full_condition

    full = DemoModel.load(model_dir)
    ids = torch.tensor([[3, 4], [0, 0]])
    state = {"tok_clip_global": full_condition(full.specs["tok_clip_global"], ids)}
    decoded = retrieval.embeddings(DemoModel(full.model, {**full.tokenizers, "tok_clip_global": _VectorTokenizer()}),
                                   state)
    assert np.allclose(decoded, [[3 / 26**0.5, 4 / 26**0.5, 1 / 26**0.5], [0, 0, 1]])
    one_hot = retrieval.embeddings(full, state)  # no tokenizer: one-hot ids (vocabulary 8)
    assert one_hot.shape == (2, 16)
    assert np.allclose(one_hot[0, [3, 12]], 2**-0.5) and np.allclose(one_hot[1, [0, 8]], 2**-0.5)
