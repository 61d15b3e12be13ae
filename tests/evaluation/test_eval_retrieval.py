"""Retrieval accumulators: embedding pairs (ties at chance) and the caption→RGB CLIP-score analogue."""

import numpy as np
import pytest
import torch

from omnimask.evaluation.metrics import ClipScoreMetric, RetrievalMetric


def test_retrieval_metric_takes_pairs_or_single_embeddings():
    m = RetrievalMetric(ks=(1, 2), pool=100)
    m.update([(np.array([1.0, 0]), np.array([0, 1.0])), (np.array([0, 1.0]), np.array([0, 2.0]))])  # all tied
    out = m.compute()
    assert out["r@1"] == pytest.approx(0.5) and out["r@2"] == 1.0 and out["pool"] == 2
    constant = RetrievalMetric(ks=(1,))
    constant.update([np.ones(3)] * 10)
    assert constant.compute()["r@1"] == pytest.approx(0.1)


class _OneHot:
    """Image i is a constant image of grey level i; caption i is the text 'i': both embed as one-hot i."""

    def global_embedding(self, rgb):
        return torch.nn.functional.one_hot(torch.as_tensor(np.asarray(rgb)[:, 0, 0, 0]).long(), 4).float()

    def encode_text(self, captions):
        return torch.nn.functional.one_hot(torch.tensor([int(c) for c in captions]), 4).float()


def test_clip_score_metric():
    images = [np.full((2, 2, 3), i, np.uint8) for i in range(4)]
    m = ClipScoreMetric(_OneHot())
    m.update(images, ["0", "1", "2", "3"])
    out = m.compute()
    assert out["r@1"] == 1.0 and out["clip_score"] == pytest.approx(100.0)
    wrong = ClipScoreMetric(_OneHot())
    wrong.update(images, ["1", "0", "3", "2"])
    assert wrong.compute()["r@1"] == 0.0 and wrong.compute()["clip_score"] == pytest.approx(0.0)
