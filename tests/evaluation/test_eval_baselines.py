"""Trivial baselines: constant predictions fitted on the set's ground truth."""

import numpy as np
import pytest

from omnimask.evaluation import baselines
from omnimask.evaluation.metrics import CaptionMetric, RetrievalMetric


def test_mean_depth_ignores_sky_and_majority_class():
    truths = [np.array([[1.0, 0.0]], np.float32), np.array([[3.0, 2.0]], np.float32)]
    preds = baselines.mean_depth(truths)
    assert len(preds) == 2 and np.all(preds[0] == 2.0) and preds[0].shape == (1, 2)
    seg = baselines.majority_class([np.array([[1, 1, 2]]), np.array([[2, 2, 2]])])
    assert np.all(seg[1] == 2)


def test_mean_normal_is_unit_length():
    truths = [np.array([[[0, 0, 1.0], [0, 1.0, 0], [0, 0, 0]]], np.float32)]  # the zero (invalid) pixel is skipped
    pred = baselines.mean_normal(truths)[0]
    np.testing.assert_allclose(pred[0, 0], [0, 2**-0.5, 2**-0.5], atol=1e-6)


def test_majority_box_and_caption():
    cube = {"class": "cube", "colour": "red", "material": "matte", "box": [0.0, 0.0, 0.2, 0.2]}
    cube2 = {**cube, "box": [0.2, 0.2, 0.4, 0.4]}
    sphere = {"class": "sphere", "colour": "red", "material": "matte", "box": [0.5, 0.5, 0.6, 0.6]}
    truths = [[cube, sphere], [cube2, {**sphere, "colour": "blue"}], [cube]]
    boxes = baselines.majority_box(truths)
    assert boxes[0] == [{"class": "cube", "box": pytest.approx([0.24, 0.24, 0.4, 0.4]), "score": None}]
    captions = baselines.majority_caption(truths)
    assert captions[0] == "Two objects: a red cube."
    m = CaptionMetric()
    m.update(captions, truths)
    assert m.compute()["counts"] == pytest.approx(5 / 6)  # totals right twice; "a red cube" right in all three
    assert baselines.majority_caption([[], [], [cube]])[0] == "An empty floor."


def test_mean_image_and_embedding_rank_at_chance():
    img = baselines.mean_image([np.zeros((2, 2, 3), np.uint8), np.full((2, 2, 3), 255, np.uint8)])[0]
    assert img.dtype == np.uint8 and np.all(img == 128)
    emb = baselines.mean_embedding([np.eye(5)[i] for i in range(5)])
    m = RetrievalMetric(ks=(1,))
    m.update(emb)
    assert m.compute()["r@1"] == pytest.approx(0.2)
