"""MiniCLIP training (omnimask.training.miniclip): the held-out recall of embedding pairs and a tiny,
deterministic contrastive run."""

import numpy as np
import pytest
import torch

from omnimask.data.labelers import MiniClipConfig
from omnimask.training.miniclip import MiniClipTrainConfig, fit_miniclip, render_pairs, retrieval_recall

TINY = MiniClipConfig(width=32, image_depth=1, text_depth=1, num_heads=2, embed_dim=16, vocab_size=8)


def test_retrieval_recall_exact_values():
    images = torch.eye(4)
    texts = torch.eye(4)[[0, 1, 3, 2]]  # pairs 2 and 3 swapped: each is beaten by the other's text
    scores = retrieval_recall(images, texts, pool=4, ks=(1, 2))
    # pair 2's match ties at 0 with the two unrelated texts behind the one that beats it: second place
    # is one of three tied ranks, so it counts 1/3 at k=2 (the shared recall@k's expectation over ties)
    assert scores == {
        "image_to_text_r@1": 0.5,
        "image_to_text_r@2": pytest.approx(2 / 3),
        "text_to_image_r@1": 0.5,
        "text_to_image_r@2": pytest.approx(2 / 3),
    }
    assert retrieval_recall(images, texts, pool=2, ks=(1,))["image_to_text_r@1"] == 0.5  # pools [0,1] and [2,3]
    with pytest.raises(ValueError, match="multiple of pool"):
        retrieval_recall(images, texts, pool=3)


def test_tiny_training_lowers_the_loss_and_is_deterministic():
    rgb, captions = render_pairs(0, range(16), 2)
    cfg = MiniClipTrainConfig(
        num=16, batch_size=8, steps=16, captions_per_scene=2, lr=3e-3, warmup=2, eval_num=0, model=TINY
    )
    model, vocab, losses = fit_miniclip(rgb, captions, cfg, progress=False)
    assert len(losses) == 16 and np.mean(losses[-4:]) < np.mean(losses[:4]) - 0.1
    again, _, losses_again = fit_miniclip(rgb, captions, cfg, progress=False)
    assert losses_again == losses
    state, state_again = model.state_dict(), again.state_dict()
    assert all(torch.equal(state[k], state_again[k]) for k in state)
    assert model.config.vocab_size == len(vocab) and vocab.words[:2] == ["[PAD]", "[UNK]"]
