"""Box placement (caption + boxes → RGB): foreground share inside the boxes, on hand-made images."""

import math

import numpy as np
import pytest

from omnimask.evaluation.metrics import BoxPlacementMetric
from omnimask.evaluation.metrics.placement import foreground, inside_boxes


def _scene(square: tuple[int, int, int, int]) -> np.ndarray:
    """A 32×32 image: grey sky over a brown ground, one red square at rows/cols ``square`` (y0, y1, x0, x1)."""
    image = np.empty((32, 32, 3), np.uint8)
    image[:12] = (150, 150, 160)
    image[12:] = (120, 90, 60)
    y0, y1, x0, x1 = square
    image[y0:y1, x0:x1] = (230, 20, 20)
    return image


def test_foreground_is_the_object_and_not_the_sky_or_ground():
    mask = foreground(_scene((14, 20, 4, 10)))
    expected = np.zeros((32, 32), bool)
    expected[14:20, 4:10] = True
    assert (mask == expected).all()


def test_inside_boxes_covers_the_box_pixels():
    inside = inside_boxes([{"box": [0.25, 0.5, 0.5, 0.75]}], 32, 32)
    assert inside.sum() == 8 * 8 and inside[16:24, 8:16].all()


def test_share_is_one_inside_the_box_zero_outside_and_constant_images_are_not_judged():
    box = [{"class": "cube", "box": [4 / 32, 14 / 32, 10 / 32, 20 / 32]}]
    metric = BoxPlacementMetric()
    metric.update([_scene((14, 20, 4, 10)), _scene((14, 20, 20, 26))], [box, box])
    assert metric.compute()["in_boxes"] == pytest.approx(0.5)  # mean of 1 and 0
    metric.update([np.full((32, 32, 3), 128, np.uint8)], [box])
    result = metric.compute()
    assert result["judged"] == 2 and result["images"] == 3
    assert math.isnan(BoxPlacementMetric().compute()["in_boxes"])


def test_half_covered_object_scores_one_half():
    box = [{"class": "cube", "box": [4 / 32, 14 / 32, 7 / 32, 20 / 32]}]  # the left half of the square
    metric = BoxPlacementMetric()
    metric.update([_scene((14, 20, 4, 10))], [box])
    assert metric.compute()["in_boxes"] == pytest.approx(0.5)


def test_mismatched_lengths_and_bad_images_are_refused():
    with pytest.raises(ValueError, match="1 images for 2 box lists"):
        BoxPlacementMetric().update([_scene((0, 1, 0, 1))], [[], []])
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        foreground(np.zeros((8, 8), np.uint8))
