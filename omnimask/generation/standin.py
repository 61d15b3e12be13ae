"""A SynthWorld model as a stand-in labeler: depth, normals and semantic maps of photos, predicted.

4M pseudo-labels photos with DPT / Omnidata (depth, normals) and Mask2Former (semseg). Where a user
has none of those (:mod:`omnimask.data.labelers.local` runs them from exported files), the shipped
``synth_small`` can fill the folders: it predicts each map from the RGB (one fast decoding pass per
map), at its own resolution, resized to the dataset's. It was trained on SynthWorld's solids on a
floor, so on photos its maps are rough — a stand-in, recorded as such (``standin: true``) in the
dataset manifest, never a substitute for the real networks.

``register_labeler("synth_small", …)`` happens on import; ``omnimask label`` imports this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from omnimask.data.labelers.registry import available_labelers, register_labeler
from omnimask.generation.pipeline import Pipeline
from omnimask.images import Crop

#: Dataset modality → the model's role that predicts it.
PREDICTED: dict[str, str] = {"depth": "depth", "normal": "normal", "semseg": "semseg"}


def _resized(value: np.ndarray, size: int, nearest: bool) -> np.ndarray:
    if value.shape[0] == size:
        return value
    method = Image.Resampling.NEAREST if nearest else Image.Resampling.BILINEAR
    if value.ndim == 2:
        return np.asarray(Image.fromarray(value).resize((size, size), method))
    return np.stack([np.asarray(Image.fromarray(value[..., c]).resize((size, size), method))
                     for c in range(value.shape[-1])], axis=-1)


class StandinLabeler:
    """``depth`` / ``normal`` / ``semseg`` of photos predicted by a SynthWorld model (module docstring).

    Args:
        path: the model folder (default: the shipped ``synth_small``).
    """

    name, standin = "synth_small", True

    def __init__(self, path: Path | None = None) -> None:
        self.pipeline = Pipeline.load(path)
        roles = self.pipeline.roles
        self.targets = {m: roles[r] for m, r in PREDICTED.items() if r in roles and self.pipeline.can_write(roles[r])}
        self.writes = tuple(self.targets)
        self.rgb = roles["rgb"]
        self.size = self.pipeline.specs[self.rgb].image_size[0]  # type: ignore[index]

    def label(self, crops: Sequence[Crop]) -> list[dict[str, Any]]:
        pictures = [np.asarray(Image.fromarray(c.rgb).resize((self.size, self.size), Image.Resampling.LANCZOS))
                    for c in crops]
        state = self.pipeline.conditions({self.rgb: pictures})
        plan = self.pipeline.plan([self.rgb], list(self.targets.values()), preset="fast")
        made = self.pipeline.generate(state, plan, seed=0).state
        resolution = crops[0].rgb.shape[0]
        out: list[dict[str, Any]] = [{} for _ in crops]
        for modality, name in self.targets.items():
            for row, value in zip(out, self.pipeline.values(name, made[name])):
                value = np.asarray(value)
                value = value.astype(np.uint8) if modality == "semseg" else value.astype(np.float32)
                row[modality] = _resized(value, resolution, nearest=modality == "semseg")
        if "normal" in self.targets:
            for row in out:
                n = row["normal"]
                row["normal"] = (n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-6)).astype(np.float32)
        return out


if "synth_small" not in available_labelers():
    register_labeler("synth_small", StandinLabeler)
