"""A tiny randomly initialised 4M model and conditions shared by the generation tests."""

from __future__ import annotations

import pytest
import torch

from omnimask.batch import Batch
from omnimask.generation.state import full_condition, sequence_from_ids
from omnimask.modalities import ModalitySpec
from omnimask.model import FourM, config_for_specs

SPECS = {
    "rgb": ModalitySpec(name="rgb", kind="pixels", num_tokens=9, grid=(3, 3), patch_size=4),
    "tok_a": ModalitySpec(name="tok_a", kind="image_tokens", vocab_size=24, num_tokens=9, grid=(3, 3), patch_size=4),
    "tok_b": ModalitySpec(name="tok_b", kind="image_tokens", vocab_size=20, num_tokens=9, grid=(3, 3), patch_size=4),
    "cap": ModalitySpec(name="cap", kind="sequence", vocab_size=240, num_tokens=10, max_length=10),
    "glob": ModalitySpec(name="glob", kind="global_tokens", vocab_size=12, num_tokens=3),
}
ARCH = {"size": None, "dim": 32, "encoder_depth": 2, "decoder_depth": 2, "num_heads": 2}


@pytest.fixture(scope="session")
def model() -> FourM:
    torch.manual_seed(0)
    m = FourM(config_for_specs(SPECS, **ARCH)).eval()
    with torch.no_grad():  # break the init's symmetry so logits have clear argmaxes
        for p in m.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())) * 0.2)
    return m


@pytest.fixture()
def conditions() -> Batch:
    """B = 2: an RGB image and a short caption (``[EOS]``-terminated)."""
    g = torch.Generator().manual_seed(1)
    ids, lengths = sequence_from_ids([[210, 220, 231], [230, 222]])  # word pieces (ids >= 204)
    return {
        "rgb": full_condition(SPECS["rgb"], torch.randn(2, 3, 12, 12, generator=g)),
        "cap": full_condition(SPECS["cap"], ids, lengths),
    }


# ---------------------------------------------------------------------------------------------
# A tiny model with real tokenizers: pixels, a k-means semseg tokenizer and WordPiece text
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def text_tokenizer():
    from omnimask.tokenizers.text import train_text_tokenizer

    corpus = ["a red cube left of a blue sphere", "two green cones near a wall", "a small cube"] * 10
    return train_text_tokenizer(corpus, 4400, class_names=["cube", "sphere", "cone"])


@pytest.fixture(scope="session")
def bundle(text_tokenizer):
    """(model, tokenizers): rgb@16 pixels, tok_semseg@16 (3 classes, k-means), caption and det."""
    from omnimask.tokenizers.entries import MapTokenizer, SequenceTokenizer
    from omnimask.tokenizers.kmeans import KMeansPatchTokenizer

    feats = torch.zeros(3, 3, 8, 8)
    for c in range(3):
        feats[c, c] = 1
    semseg = MapTokenizer("semseg", KMeansPatchTokenizer.fit(feats, 8, 3, seed=0), num_classes=3)
    v = text_tokenizer.vocab_size
    specs = {
        "rgb@16": ModalitySpec(name="rgb@16", kind="pixels", num_tokens=4, grid=(2, 2), patch_size=8),
        "tok_semseg@16": ModalitySpec(name="tok_semseg@16", kind="image_tokens", vocab_size=3, num_tokens=4,
                                      grid=(2, 2), patch_size=8, tokenizer="semseg"),
        "caption": ModalitySpec(name="caption", kind="sequence", vocab_size=v, num_tokens=12, max_length=12),
        "det": ModalitySpec(name="det", kind="sequence", vocab_size=v, num_tokens=24, max_length=24),
    }
    model = FourM(config_for_specs(specs, **{**ARCH, "encoder_depth": 1, "decoder_depth": 1})).eval()
    tokenizers = {"tok_semseg@16": semseg, "caption": SequenceTokenizer("caption", text_tokenizer),
                  "det": SequenceTokenizer("det", text_tokenizer)}
    return model, tokenizers
