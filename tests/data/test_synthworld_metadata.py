"""SynthWorld's metadata and colour palette equal direct computations on the maps."""

import math

import numpy as np
import pytest
from PIL import Image

from omnimask.data.synthworld import SynthWorldConfig, render_sample
from omnimask.data.synthworld.config import FLOOR
from omnimask.data.synthworld.metadata import METADATA_KEYS

SAMPLES = [render_sample(11, i, SynthWorldConfig(resolution=32)) for i in range(4)]


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s["key"])
def test_metadata_matches_direct_computation(sample):
    meta, rgb = sample["metadata"], sample["rgb"]
    assert tuple(meta) == METADATA_KEYS
    pixels = [tuple(int(c) for c in p) for p in rgb.reshape(-1, 3)]
    n = len(pixels)
    lum = [0.299 * r + 0.587 * g + 0.114 * b for r, g, b in pixels]
    mean = sum(lum) / n
    assert meta["brightness"] == pytest.approx(mean, rel=1e-9)
    assert meta["contrast"] == pytest.approx(math.sqrt(sum((v - mean) ** 2 for v in lum) / n), rel=1e-9)
    sat = [0.0 if max(p) == 0 else 255.0 * (max(p) - min(p)) / max(p) for p in pixels]
    assert meta["saturation"] == pytest.approx(sum(sat) / n, rel=1e-9)
    rg = np.array([r - g for r, g, b in pixels], dtype=float)
    yb = np.array([(r + g) / 2 - b for r, g, b in pixels], dtype=float)
    expected = math.sqrt(rg.var() + yb.var()) + 0.3 * math.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    assert meta["colorfulness"] == pytest.approx(expected, rel=1e-9)
    # Pillow's own grey-level entropy (its L conversion rounds a little differently: allow a hair)
    assert meta["entropy"] == pytest.approx(Image.fromarray(rgb).convert("L").entropy(), abs=0.05)
    assert meta["walkability"] == np.count_nonzero(sample["semseg"] == FLOOR) / n
    assert meta["objectness"] == np.count_nonzero(sample["instance"]) / n
    assert meta["semantic_diversity"] == len(set(sample["semseg"].ravel().tolist()))
    assert meta["n_coco_instances"] == len(sample["det"])
    assert meta["coco_instance_diversity"] == len({d["class"] for d in sample["det"]})
    normals = sample["normal"][sample["depth"] > 0].astype(float)
    assert meta["geometric_complexity"] == pytest.approx(1 - np.linalg.norm(normals.mean(axis=0)), abs=1e-9)
    assert meta["occlusion_score"] == sample["edges"].mean()
    assert (meta["original_width"], meta["original_height"]) == (32, 32)
    assert meta["caption_n_words"] == len(sample["caption"].split())
    assert meta["caption_n_sentences"] == sample["caption"].count(".")


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s["key"])
def test_palette_has_up_to_seven_dominant_colours(sample):
    palette = sample["color_palette"]
    colors, fractions = palette["colors"], palette["fractions"]
    assert 1 <= len(colors) == len(fractions) <= 7
    assert fractions == sorted(fractions, reverse=True) and all(f >= 0.01 for f in fractions)
    assert sum(fractions) <= 1.0 + 1e-3
    pixels = sample["rgb"].reshape(-1, 3).astype(int)
    # the most common palette colour is close to a real share of the image's pixels
    near = np.abs(pixels - np.asarray(colors[0])).max(axis=1) <= 48
    assert near.mean() >= fractions[0] * 0.8
