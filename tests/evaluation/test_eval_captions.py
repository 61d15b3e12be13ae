"""Caption accuracy: parsing SynthWorld captions and scoring their statements against visible objects."""

import pytest

from omnimask.data.synthworld import SynthWorldConfig, render_sample
from omnimask.evaluation.metrics import CaptionMetric, parse_caption, score_caption
from omnimask.evaluation.metrics.captions import Phrase


def _obj(colour: str, shape: str, material: str = "matte") -> dict:
    return {"class": shape, "colour": colour, "material": material, "box": [0, 0, 1, 1]}


SCENE = [_obj("red", "cube"), _obj("red", "cube", "shiny"), _obj("blue", "sphere")]


def test_parse_reads_counted_phrases_references_and_totals():
    claims = parse_caption("There are three objects on the tiled floor: two red cubes and a shiny blue sphere. "
                           "The red cube is left of the blue sphere.")
    assert claims.totals == (3,)
    assert claims.phrases == (Phrase("cube", "red", None, 2), Phrase("sphere", "blue", "shiny", 1),
                              Phrase("cube", "red", None, None), Phrase("sphere", "blue", None, None))
    assert claims.colours == ("red", "blue", "red", "blue")
    assert parse_caption("An empty chequered ground.").totals == (0,)
    assert parse_caption("Two tori.").phrases == (Phrase("torus", None, None, 2),)


def test_right_caption_scores_one():
    text = "There are three objects on the tiled floor: two red cubes and a blue sphere."
    scores = score_caption(text, SCENE)
    assert all(right == stated for right, stated in scores.values())
    assert scores["counts"] == (3, 3) and scores["coverage"] == (3, 3)


def test_wrong_statements_are_counted_wrong():
    scores = score_caption("Two objects: a green cube and three blue spheres.", SCENE)
    assert scores["colours"] == (1, 2)  # green is not in the scene, blue is
    assert scores["shapes"] == (2, 2)
    assert scores["objects"] == (1, 2)  # no green cube
    assert scores["counts"] == (0, 3)  # 2 ≠ 3 objects, no green cube, one blue sphere
    assert scores["coverage"] == (1, 3)  # only the blue sphere is mentioned
    assert score_caption("A shiny red cube.", SCENE)["counts"] == (1, 1)  # exactly one shiny red cube
    assert score_caption("A red cube.", SCENE)["counts"] == (0, 1)  # there are two red cubes
    assert score_caption("An empty floor.", [])["counts"] == (1, 1)
    assert score_caption("An empty floor.", SCENE)["counts"] == (0, 1)


def test_metric_pools_statements_and_ignores_silent_captions():
    m = CaptionMetric()
    m.update(["Two objects: a green cube and three blue spheres.", "the floor"], [SCENE, SCENE])
    out = m.compute()
    assert out["colours"] == pytest.approx(1 / 2) and out["counts"] == 0.0
    assert out["attributes"] == pytest.approx((1 + 2 + 0) / (2 + 2 + 3))
    assert out["coverage"] == pytest.approx(1 / 6)
    assert out["statements_per_caption"] == pytest.approx(7 / 2)


def test_synthworld_ground_truth_captions_are_all_right():
    cfg = SynthWorldConfig(resolution=32)
    m = CaptionMetric()
    for i in range(24):
        scene = render_sample(11, i, cfg)
        m.update([scene["caption"]], [scene["det"]])
    out = m.compute()
    assert all(out[k] == 1.0 for k in ("colours", "shapes", "objects", "counts", "coverage", "attributes"))
