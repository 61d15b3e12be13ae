"""Raw maps ↔ tokenizer features: exact inverses where the map is discrete, bounded where continuous."""

import numpy as np
import pytest

from omnimask.tokenizers.map_features import DEPTH_MAX, map_features


def test_rgb_semseg_edges_round_trip_exactly():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    seg = rng.integers(0, 9, (8, 8)).astype(np.uint8)
    edges = (rng.random((8, 8)) > 0.5).astype(np.uint8)
    for kind, raw, n in (("rgb", rgb, 0), ("semseg", seg, 9), ("edges", edges, 0)):
        t = map_features(kind)
        feats = t.to_features(raw, n)
        assert feats.dtype == np.float32 and feats.shape[0] == t.channels(n)
        np.testing.assert_array_equal(t.from_features(feats, n), raw)


def test_depth_round_trip_and_sky():
    depth = np.array([[0.0, 1.0], [3.5, 20.0]], dtype=np.float32)
    t = map_features("depth")
    feats = t.to_features(depth, 0)
    assert feats.min() >= 0 and feats.max() <= 1 and feats[0, 0, 0] == pytest.approx(1.0)
    back = t.from_features(feats, 0)
    np.testing.assert_allclose(back[depth > 0], depth[depth > 0], rtol=1e-5)
    assert back[0, 0] == pytest.approx(DEPTH_MAX)


def test_normals_are_renormalised():
    n = np.zeros((2, 2, 3), np.float32)
    n[..., 2] = 2.0
    back = map_features("normal").from_features(map_features("normal").to_features(n, 0), 0)
    np.testing.assert_allclose(np.linalg.norm(back, axis=-1), 1.0, rtol=1e-6)


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="uint8"):
        map_features("rgb").to_features(np.zeros((4, 4, 3), np.float32), 0)
    with pytest.raises(ValueError, match="only 3 classes"):
        map_features("semseg").to_features(np.full((2, 2), 5, np.uint8), 3)
    with pytest.raises(KeyError, match="known"):
        map_features("sound")
