"""The colourisers of ``omnimask.viz`` and SynthWorld's preview grid."""

import numpy as np
import pytest

from omnimask import viz
from omnimask.data.synthworld import SEMANTIC_CLASSES, SynthWorldConfig, preview_grid, render_sample
from omnimask.data.synthworld.preview import COLUMNS, SEMANTIC_PALETTE, sample_cells


def test_viridis_table_matches_matplotlib():
    colormaps = pytest.importorskip("matplotlib").colormaps
    x = np.linspace(0, 1, 101)
    ours = viz.colormap(x).astype(int)
    theirs = np.rint(colormaps["viridis"](x)[:, :3] * 255).astype(int)
    assert np.abs(ours - theirs).max() <= 4  # 17-point interpolation of a smooth map


def test_normals_and_depth_colourise_as_documented():
    normal = np.zeros((2, 2, 3), dtype=np.float32)
    normal[0, 0] = (0, 0, 1)
    normal[0, 1] = (1, 0, 0)
    rgb = viz.colorize_normals(normal)
    assert rgb[0, 0].tolist() == [128, 128, 255] and rgb[0, 1].tolist() == [255, 128, 128]
    assert rgb[1, 1].tolist() == [0, 0, 0]  # invalid stays black
    depth = np.array([[1.0, 2.0], [4.0, 0.0]], dtype=np.float32)
    colours = viz.colorize_depth(depth)
    assert colours[1, 1].tolist() == [0, 0, 0]
    assert colours[0, 0].tolist() == viz.colormap(np.array(1.0)).tolist()  # nearest is the bright end
    assert colours[1, 0].tolist() == viz.colormap(np.array(0.0)).tolist()


def test_labels_use_a_fixed_palette():
    assert len(SEMANTIC_PALETTE) == len(SEMANTIC_CLASSES) and len({tuple(c) for c in SEMANTIC_PALETTE}) == 9
    ids = np.array([[0, 1], [2, 8]])
    np.testing.assert_array_equal(viz.colorize_labels(ids, SEMANTIC_PALETTE), SEMANTIC_PALETTE[ids])
    assert viz.colorize_labels(ids)[0, 0].tolist() == [0, 0, 0]


def test_preview_grid_has_a_cell_per_modality_and_draws_boxes():
    samples = [render_sample(0, i, SynthWorldConfig(resolution=32)) for i in range(2)]
    cells = sample_cells(samples[0], 64)
    assert len(cells) == len(COLUMNS) and all(c.size == (64, 64) for c in cells)
    rgb_big = np.asarray(viz.to_image(samples[0]["rgb"], 64))
    assert (np.asarray(cells[1]) != rgb_big).any() == bool(samples[0]["det"])  # boxes drawn on the RGB
    img = preview_grid(samples, cell=64)
    assert img.width == len(COLUMNS) * 68 + 4 and img.height > 2 * 64 + 40
