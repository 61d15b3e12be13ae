"""Labels derived from SynthWorld's exact maps: occlusion edges and per-object detection records.

* ``edges`` marks occlusion boundaries: a pixel is an edge when one of its 4-neighbours belongs to a
  different surface (semantic class or instance) that lies farther away by more than
  ``edge_threshold`` (relative: ``|Δz| / min(z) > edge_threshold``), or is sky. Only the nearer
  pixel (the occluder's side) is marked, so edges are one pixel thick. Creases where depth is
  continuous (object on floor, floor meets wall) are not occlusion edges.
* ``det`` lists every *visible* object (at least ``cfg.min_visible_pixels()`` pixels): its class,
  colour, material, instance id, tight box ``[xmin, ymin, xmax, ymax]`` normalised to [0, 1] by
  the image size (pixel edges, so a one-pixel object at column c spans ``[c/W, (c+1)/W]``), pixel
  count and visible fraction = visible pixels / pixels of its unoccluded in-frame footprint.
"""

from __future__ import annotations

import numpy as np

from omnimask.data.synthworld.config import SynthWorldConfig
from omnimask.data.synthworld.scene import Scene


def occlusion_edges(depth: np.ndarray, semseg: np.ndarray, instance: np.ndarray, threshold: float) -> np.ndarray:
    """Boolean (H, W) occlusion-edge map from z-depth (0 = sky) and the id maps (see module docstring)."""
    edges = np.zeros(depth.shape, dtype=bool)
    label = semseg.astype(np.int32) * 256 + instance
    for axis in (0, 1):
        a = [slice(None)] * 2
        b = [slice(None)] * 2
        a[axis], b[axis] = slice(None, -1), slice(1, None)
        za, zb = depth[tuple(a)], depth[tuple(b)]
        differ = label[tuple(a)] != label[tuple(b)]
        near = np.minimum(za, zb)
        valid = near > 0
        jump = np.where(valid, np.abs(za - zb) / np.where(valid, near, 1.0) > threshold, za != zb)
        boundary = differ & jump
        # Mark the nearer side: a sky neighbour (z = 0) is infinitely far.
        a_near = boundary & (za > 0) & ((za < zb) | (zb == 0))
        b_near = boundary & (zb > 0) & ((zb < za) | (za == 0))
        edges[tuple(a)] |= a_near
        edges[tuple(b)] |= b_near
    return edges


def detections(scene: Scene, instance: np.ndarray, silhouette: np.ndarray, cfg: SynthWorldConfig) -> list[dict]:
    """JSON-ready records of the visible objects, in scene order (see module docstring).

    Args:
        scene: the rendered scene.
        instance: (H, W) instance ids (``k + 1`` for ``scene.objects[k]``).
        silhouette: (len(objects),) unoccluded in-frame pixel counts from the renderer.
        cfg: provides the visibility threshold.
    """
    h, w = instance.shape
    counts = np.bincount(instance.ravel(), minlength=len(scene.objects) + 1)
    records = []
    for k, obj in enumerate(scene.objects):
        pixels = int(counts[k + 1])
        if pixels < cfg.min_visible_pixels():
            continue
        rows = np.flatnonzero((instance == k + 1).any(axis=1))
        cols = np.flatnonzero((instance == k + 1).any(axis=0))
        records.append(
            {
                "class": obj.shape,
                "colour": obj.color,
                "material": obj.material,
                "instance": k + 1,
                "box": [cols[0] / w, rows[0] / h, (cols[-1] + 1) / w, (rows[-1] + 1) / h],
                "pixels": pixels,
                "visible_fraction": round(pixels / max(int(silhouette[k]), pixels), 4),
            }
        )
    return records
