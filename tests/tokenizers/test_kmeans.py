"""The k-means stand-in tokenizer: exact on data it can represent, deterministic, round-trips."""

import pytest
import torch

from omnimask.tokenizers.kmeans import KMeansPatchTokenizer, patchify, unpatchify


def test_patchify_inverts():
    maps = torch.randn(2, 3, 16, 24)
    assert torch.equal(unpatchify(patchify(maps, 8), 8, (2, 3)), maps)


def test_reconstructs_data_with_few_distinct_patches_exactly():
    g = torch.Generator().manual_seed(0)
    palette = torch.rand(4, 2, generator=g)  # four distinct constant 4x4 patches of 2 channels
    choice = torch.randint(0, 4, (6, 3, 3), generator=g)
    maps = palette[choice].permute(0, 3, 1, 2).repeat_interleave(4, 2).repeat_interleave(4, 3)
    tok = KMeansPatchTokenizer.fit(maps, patch=4, vocab_size=4, iters=10, seed=0)
    ids = tok.tokenize(maps)
    assert ids.shape == (6, 9) and ids.dtype == torch.long
    assert torch.allclose(tok.detokenize(ids, (3, 3)), maps, atol=1e-6)


def test_fit_is_deterministic_and_save_load_round_trips(tmp_path):
    maps = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    a = KMeansPatchTokenizer.fit(maps, 4, 16, seed=3)
    b = KMeansPatchTokenizer.fit(maps, 4, 16, seed=3)
    assert torch.equal(a.codebook, b.codebook)
    a.save(tmp_path)
    c = KMeansPatchTokenizer.load(tmp_path)
    assert torch.equal(c.tokenize(maps), a.tokenize(maps))


def test_wrong_shape_is_a_clear_error():
    tok = KMeansPatchTokenizer(torch.zeros(4, 48), patch=4, channels=3)
    with pytest.raises(ValueError, match=r"expected \(B, 3, H, W\)"):
        tok.tokenize(torch.zeros(1, 1, 8, 8))
