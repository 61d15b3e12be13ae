"""The feature-labeler input check and the word vocabulary of MiniCLIP's text tower."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from omnimask.data.labelers import LabelerInputError, WordVocab, as_rgb_batch


def test_as_rgb_batch_accepts_numpy_and_torch():
    arr = np.arange(2 * 4 * 5 * 3, dtype=np.uint8).reshape(2, 4, 5, 3)
    out = as_rgb_batch(arr)
    assert out.dtype == torch.uint8 and out.shape == (2, 4, 5, 3)
    assert torch.equal(out, torch.from_numpy(arr))
    assert torch.equal(as_rgb_batch(torch.from_numpy(arr)), out)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.zeros((2, 8, 8, 3), np.float32), "uint8"),
        (torch.zeros(2, 8, 8, 3), "uint8"),
        (np.zeros((8, 8, 3), np.uint8), r"rgb\[None\]"),
        (np.zeros((2, 3, 8, 8), np.uint8), "permute"),
        (np.zeros((2, 8, 8, 4), np.uint8), r"\(B, H, W, 3\)"),
        (np.zeros((0, 8, 8, 3), np.uint8), "empty"),
        ([[1, 2, 3]], "numpy array or a torch tensor"),
    ],
)
def test_as_rgb_batch_rejects_with_a_hint(value, message):
    with pytest.raises(LabelerInputError, match=message):
        as_rgb_batch(value)


def test_word_vocab_build_is_sorted_and_encodes_with_padding():
    vocab = WordVocab.build(["The red cube.", "A blue cube, the sphere!"])
    assert vocab.words == ["[PAD]", "[UNK]", "a", "blue", "cube", "red", "sphere", "the"]
    ids, keep = vocab.encode(["red cube", "A torus is red.", ""], max_len=3)
    assert ids.tolist() == [[5, 4, 0], [2, 1, 1], [1, 0, 0]]  # unknown -> 1, cut to 3, empty -> [UNK]
    assert keep.tolist() == [[True, True, False], [True, True, True], [True, False, False]]
    with pytest.raises(TypeError, match="list"):
        vocab.encode("red cube", max_len=4)


def test_word_vocab_rejects_a_malformed_table():
    with pytest.raises(ValueError, match=r"\[PAD\]"):
        WordVocab(["red", "blue"])
    with pytest.raises(ValueError, match="duplicate"):
        WordVocab(["[PAD]", "[UNK]", "red", "red"])
